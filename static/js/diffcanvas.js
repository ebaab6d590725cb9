// The read-only canvas of a diff (templates/scenarios/diff.html): the union of two
// versions' components, drawn from the json_script "diff-graph" that the server builds
// (dashboard.scenarios.diff.diff_graph, on the designer's document_graph). Added
// components are green, removed ones red and dashed, changed ones amber. Nothing can
// be moved, connected or edited here.
(function () {
  "use strict";
  const container = document.getElementById("diff-canvas");
  const data = document.getElementById("diff-graph");
  if (!container || !data || typeof cytoscape === "undefined") return;
  let graph;
  try { graph = JSON.parse(data.textContent); } catch (e) { return; }
  const positions = graph.positions || {};
  const TYPE_NAMES = { load_balancer: "Load balancer", service: "Service", cache: "Cache", database: "Database", clients: "", unknown: "Unknown" };
  const STATUS_NAMES = { added: "added", removed: "removed", changed: "changed", same: "" };

  function display(n) {
    if (n.type === "clients") return "Clients";
    const lines = [(TYPE_NAMES[n.type] || "").toUpperCase(), n.label];
    if (n.sub) lines.push(n.sub);
    if (STATUS_NAMES[n.status]) lines.push("(" + STATUS_NAMES[n.status] + ")");
    return lines.filter(Boolean).join("\n");
  }

  const elements = [];
  for (const n of graph.nodes || []) {
    elements.push({
      group: "nodes",
      data: { id: n.id, type: n.type, display: display(n), status: n.status },
      classes: "st-" + n.status,
      position: positions[n.id] ? { x: positions[n.id].x, y: positions[n.id].y } : undefined,
    });
  }
  for (const e of graph.edges || []) {
    elements.push({
      group: "edges",
      data: { id: e.id, source: e.source, target: e.target, kind: e.kind, status: e.status },
      classes: "st-" + e.status,
    });
  }

  const cy = cytoscape({
    container: container,
    elements: elements,
    minZoom: 0.3,
    maxZoom: 2.5,
    autoungrabify: true,
    autounselectify: true,
    boxSelectionEnabled: false,
    style: [
      { selector: "node", style: {
          shape: "round-rectangle", width: 170, height: 74,
          "background-color": "#ffffff", "border-width": 2, "border-color": "#94a3b8",
          label: "data(display)", "text-wrap": "wrap", "text-valign": "center",
          "text-halign": "center", "font-size": 12, "line-height": 1.2, color: "#1f2933",
          "text-max-width": 156, "text-overflow-wrap": "anywhere",
          "font-family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif",
      } },
      { selector: "node[type = 'clients']", style: { shape: "ellipse", width: 110, height: 46, "background-color": "#e0f2fe", "border-color": "#0284c7" } },
      { selector: "node[type = 'load_balancer']", style: { shape: "round-hexagon", width: 176 } },
      { selector: "node[type = 'cache']", style: { shape: "round-octagon" } },
      { selector: "node[type = 'database']", style: { shape: "barrel", height: 84 } },
      { selector: "node.st-added", style: { "background-color": "#dcfce7", "border-color": "#16a34a", "border-width": 4 } },
      { selector: "node.st-removed", style: { "background-color": "#fee2e2", "border-color": "#dc2626", "border-width": 3, "border-style": "dashed", opacity: 0.8 } },
      { selector: "node.st-changed", style: { "background-color": "#fef3c7", "border-color": "#d97706", "border-width": 4 } },
      { selector: "edge", style: {
          width: 2, "curve-style": "bezier", "target-arrow-shape": "triangle",
          "line-color": "#94a3b8", "target-arrow-color": "#94a3b8",
      } },
      { selector: "edge[kind = 'backing']", style: { "line-style": "dotted" } },
      { selector: "edge.st-added", style: { "line-color": "#16a34a", "target-arrow-color": "#16a34a", width: 3 } },
      { selector: "edge.st-removed", style: { "line-color": "#dc2626", "target-arrow-color": "#dc2626", "line-style": "dashed", width: 3 } },
    ],
  });

  // Nodes without a stored position: columns by depth from the clients, as the
  // designer's "Tidy" lays them out.
  const unplaced = cy.nodes().filter((n) => !positions[n.id()]);
  if (unplaced.length) {
    const ids = cy.nodes().map((n) => n.id());
    const depth = {};
    for (const id of ids) depth[id] = 0;
    for (let pass = 0; pass < ids.length; pass++) {
      let changed = false;
      cy.edges().forEach((e) => {
        const d = depth[e.source().id()] + 1;
        if (d > depth[e.target().id()] && d <= ids.length) { depth[e.target().id()] = d; changed = true; }
      });
      if (!changed) break;
    }
    const placed = cy.nodes().filter((n) => !!positions[n.id()]);
    if (placed.length) {
      // Beside the stored layout, one column to its right.
      const box = placed.boundingBox();
      unplaced.forEach((n, i) => n.position({ x: box.x2 + 140, y: box.y1 + 40 + i * 120 }));
    } else {
      const columns = {};
      unplaced.forEach((n) => { (columns[depth[n.id()]] = columns[depth[n.id()]] || []).push(n); });
      for (const [d, col] of Object.entries(columns)) {
        col.forEach((n, i) => n.position({ x: Number(d) * 220, y: (i - (col.length - 1) / 2) * 120 }));
      }
    }
  }
  cy.fit(undefined, 28);
  window.addEventListener("resize", () => cy.fit(undefined, 28));
  // What was drawn, for tests and assistive checks: id -> status.
  const marks = {};
  cy.nodes().forEach((n) => { marks[n.id()] = n.data("status"); });
  container.dataset.marks = JSON.stringify(marks);
  window.scaleboardDiff = { cy: cy };
})();
