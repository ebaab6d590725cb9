// The designer's canvas: Cytoscape, its styles, node labels that fit their boxes,
// drawing the server's graph, and the layout (tidy, free spots, fit, positions).
import { fmt } from "./designer-estimate.js";

const FONT_FAMILY = "system-ui, -apple-system, Segoe UI, Roboto, sans-serif";
const FONT_PX = 13;
const LINE_PX = Math.round(FONT_PX * 1.2);
// A node is as wide as its longest label line needs, between its shape's usual
// width and a maximum; a line longer than that keeps its start and end around an
// ellipsis. The side margins leave room for the hexagon's and octagon's corners
// and for text drawn a few percent wider at other zooms than measured here.
const WIDTH = {
  clients: { min: 110, max: 110, sides: 14 },
  load_balancer: { min: 176, max: 280, sides: 48 },
  cache: { min: 170, max: 270, sides: 36 },
  default: { min: 170, max: 260, sides: 26 },
};
const BASE_HEIGHT = { clients: 46, database: 84, default: 70 };
const EDGE_LABELS = { workload: "requests", targets: "distributes", calls: "calls", backing: "miss", consumers: "consumes", origin: "miss" };

const STYLE = [
  { selector: "node", style: {
      shape: "round-rectangle", width: "data(w)", height: "data(h)",
      "background-color": "#ffffff", "border-width": 2, "border-color": "#94a3b8",
      label: "data(display)", "text-wrap": "wrap", "text-valign": "center",
      "text-halign": "center", "font-size": FONT_PX, "line-height": 1.2, color: "#1f2933",
      // Wider than any fitted line: Cytoscape never wraps one again.
      "text-max-width": 400,
      "font-family": FONT_FAMILY,
  } },
  { selector: "node[type = 'clients']", style: {
      shape: "ellipse", "background-color": "#e0f2fe",
      "border-color": "#0284c7",
  } },
  { selector: "node[type = 'load_balancer']", style: { shape: "round-hexagon", "border-color": "#7c3aed" } },
  { selector: "node[type = 'service']", style: { "border-color": "#2563eb" } },
  { selector: "node[type = 'cache']", style: { shape: "round-octagon", "border-color": "#c2410c" } },
  { selector: "node[type = 'database']", style: { shape: "barrel", "border-color": "#0f766e" } },
  { selector: "node[type = 'cdn']", style: { shape: "round-pentagon", "border-color": "#0891b2" } },
  { selector: "node[type = 'queue']", style: { shape: "cut-rectangle", "border-color": "#be185d" } },
  { selector: "node[type = 'unknown']", style: { "border-style": "dashed", "border-color": "#b91c1c" } },
  { selector: "node.lvl-ok", style: { "background-color": "#dcfce7" } },
  { selector: "node.lvl-warm", style: { "background-color": "#fef3c7" } },
  { selector: "node.lvl-hot", style: { "background-color": "#fee2e2" } },
  { selector: "node.bottleneck", style: {
      "border-width": 4, "border-color": "#dc2626", "underlay-color": "#fca5a5",
      "underlay-opacity": 0.5, "underlay-padding": 6,
  } },
  { selector: "node.has-error", style: { "border-style": "dashed" } },
  { selector: "node:selected", style: {
      "outline-width": 3, "outline-color": "#2563eb", "outline-offset": 4, "outline-opacity": 1,
  } },
  { selector: "node.connect-source", style: { "outline-width": 4, "outline-color": "#16a34a", "outline-offset": 4 } },
  { selector: "node:active", style: { "overlay-opacity": 0 } },
  { selector: "edge", style: {
      width: 2, "curve-style": "bezier", "target-arrow-shape": "triangle",
      "line-color": "#475569", "target-arrow-color": "#475569",
      label: "", "font-size": 10, color: "#334155",
      "text-background-color": "#fff", "text-background-opacity": 0.85,
      "text-background-padding": 2, "text-rotation": "autorotate",
  } },
  { selector: "edge[kind = 'workload']", style: { "line-color": "#0284c7", "target-arrow-color": "#0284c7", width: 3 } },
  { selector: "edge[kind = 'targets']", style: { "line-color": "#2563eb", "target-arrow-color": "#2563eb" } },
  { selector: "edge[kind = 'origin']", style: {
      "line-style": "dashed", "line-color": "#0891b2", "target-arrow-color": "#0891b2",
  } },
  { selector: "edge[kind = 'consumers']", style: {
      "line-style": "dashed", "line-color": "#be185d", "target-arrow-color": "#be185d",
  } },
  { selector: "edge[kind = 'backing']", style: {
      "line-style": "dashed", "line-color": "#c2410c", "target-arrow-color": "#c2410c",
  } },
  { selector: "edge:selected", style: { width: 4, "line-color": "#1d4ed8", "target-arrow-color": "#1d4ed8", label: "data(label)" } },
];

const measure = document.createElement("canvas").getContext("2d");

function textWidth(text) {
  measure.font = FONT_PX + "px " + FONT_FAMILY;
  return measure.measureText(text).width;
}

// The line as it fits in `max` pixels: whole, or its start and end around an
// ellipsis (a long id keeps what tells it apart: "checkout-…-primary").
export function fitLine(text, max) {
  if (!text || textWidth(text) <= max) return text;
  for (let keep = text.length - 1; keep > 1; keep--) {
    const head = Math.ceil(keep / 2);
    const cut = text.slice(0, head) + "…" + text.slice(text.length - (keep - head));
    if (textWidth(cut) <= max) return cut;
  }
  return "…";
}

export function installGraph(d) {
  const cy = cytoscape({
    container: document.getElementById("canvas"),
    minZoom: 0.3,
    maxZoom: 2.5,
    boxSelectionEnabled: false,
    style: STYLE,
  });
  d.cy = cy;

  function nodeLines(n, est) {
    if (n.type === "clients") {
      const wl = (d.state.tree && d.state.tree.workload) || {};
      // an open workload's rate, or a closed one's users
      const users = wl.users && typeof wl.users === "object" ? wl.users.count : undefined;
      if (typeof users === "number") return ["Clients", fmt(users) + " users"];
      const rps = wl.rps;
      return ["Clients", ...(typeof rps === "number" ? [fmt(rps) + " req/s"] : [])];
    }
    const lines = [d.TYPE_NAMES[n.type] ? d.TYPE_NAMES[n.type].toUpperCase() : "", n.label];
    if (n.sub) lines.push(n.sub);
    if (est) {
      const parts = [];
      if (est.peak_utilization !== null && est.peak_utilization !== undefined) {
        parts.push(Math.round(est.peak_utilization * 100) + "% busy");
      }
      if (est.hit_ratio !== undefined && est.hit_ratio !== null) parts.push(Math.round(est.hit_ratio * 100) + "% hits");
      if (est.refused_ratio) parts.push("refuses " + Math.round(est.refused_ratio * 100) + "%");
      if (parts.length) lines.push(parts.join(" · "));
    }
    return lines;
  }

  // The node's label, each line fitted to its shape, and a size that holds them.
  function nodeLabel(n, est) {
    const size = WIDTH[n.type] || WIDTH.default;
    const raw = nodeLines(n, est);
    const widest = Math.max(0, ...raw.map(textWidth));
    const w = Math.round(Math.min(size.max, Math.max(size.min, widest + size.sides)));
    const lines = raw.map((line) => fitLine(line, w - size.sides));
    const base = BASE_HEIGHT[n.type] || BASE_HEIGHT.default;
    const pad = n.type === "database" ? 34 : 20;
    return { display: lines.join("\n"), w, h: Math.max(base, lines.length * LINE_PX + pad) };
  }

  function render() {
    const graph = d.state.graph;
    if (!graph) { d.renderEstimate(); return; }
    const est = d.state.estimate;
    const errorIds = new Set();
    for (const e of d.state.errors) {
      const m = /^components\.([a-z][a-z0-9_-]*)/.exec(e.path);
      if (m) errorIds.add(m[1]);
    }
    const bottleneck = est && est.bottleneck ? est.bottleneck.component : null;
    const keep = new Set();
    cy.batch(() => {
      for (const n of graph.nodes) {
        keep.add(n.id);
        const ce = est && est.components ? est.components[n.id] : null;
        const data = { id: n.id, type: n.type, ...nodeLabel(n, ce) };
        let node = cy.getElementById(n.id);
        if (node.empty()) {
          node = cy.add({ group: "nodes", data, position: d.positions[n.id] || null });
        } else {
          node.data(data);
        }
        node.removeClass("lvl-ok lvl-warm lvl-hot bottleneck has-error");
        if (ce && ce.level && ce.level !== "none") node.addClass("lvl-" + ce.level);
        if (n.id === bottleneck && est.bottleneck.utilization >= 0.7) node.addClass("bottleneck");
        if (errorIds.has(n.id)) node.addClass("has-error");
      }
      for (const e of graph.edges) keep.add(e.id);
      cy.elements().forEach((el) => { if (!keep.has(el.id())) el.remove(); });
      for (const e of graph.edges) {
        if (cy.getElementById(e.id).empty()) {
          cy.add({ group: "edges", data: { id: e.id, source: e.source, target: e.target, kind: e.kind, path: e.path, label: EDGE_LABELS[e.kind] || e.kind } });
        }
      }
    });
    const unplaced = cy.nodes().filter((n) => !d.positions[n.id()]);
    if (unplaced.length === cy.nodes().length) {
      tidy();
    } else if (unplaced.length) {
      unplaced.forEach((n) => {
        const p = freeSpot();
        n.position(p);
        d.positions[n.id()] = p;
      });
      saveLayout();
    }
    d.refreshSelects();
    if (d.selectedId && cy.getElementById(d.selectedId).empty()) d.selectedId = null;
    d.renderEstimate();
    // The page around the canvas may have moved: Cytoscape caches where its
    // container is, and clicks would land beside the nodes.
    cy.resize();
    d.drawPins();
  }

  // Left to right in layers: each component one column right of its deepest caller.
  function tidy() {
    const depth = {};
    const ids = cy.nodes().map((n) => n.id());
    for (const id of ids) depth[id] = 0;
    for (let pass = 0; pass < ids.length; pass++) {
      let changed = false;
      cy.edges().forEach((e) => {
        const dd = depth[e.source().id()] + 1;
        if (dd > depth[e.target().id()] && dd <= ids.length) { depth[e.target().id()] = dd; changed = true; }
      });
      if (!changed) break;
    }
    const columns = {};
    for (const id of ids) (columns[depth[id]] = columns[depth[id]] || []).push(id);
    // Columns 210 px apart, or more where wide nodes need it (60 px between boxes).
    let x = 0;
    let previousHalf = null;
    for (const col of Object.keys(columns).map(Number).sort((a, b) => a - b)) {
      const members = columns[col];
      const half = Math.max(...members.map((id) => cy.getElementById(id).width())) / 2;
      x += previousHalf === null ? 0 : Math.max(210, previousHalf + 60 + half);
      previousHalf = half;
      members.forEach((id, i) => {
        cy.getElementById(id).position({ x, y: (i - (members.length - 1) / 2) * 115 });
      });
    }
    cy.nodes().forEach((n) => { d.positions[n.id()] = roundPos(n.position()); });
    saveLayout();
    fitView();
  }

  function fitView() {
    cy.fit(undefined, 24);
    if (cy.zoom() > 1.1) { cy.zoom(1.1); cy.center(); }
  }

  function roundPos(p) { return { x: Math.round(p.x), y: Math.round(p.y) }; }

  // A free place for a new node: right of `near` (or the middle of the view), on a
  // grid inside the visible part of the canvas; else right of everything.
  function freeSpot(near) {
    const ext = cy.extent();
    const taken = (x, y) => cy.nodes().some((n) => {
      const p = n.position();
      return Math.abs(p.x - x) < n.width() / 2 + 105 && Math.abs(p.y - y) < 95;
    });
    const x0 = near ? near.x + 230 : (ext.x1 + ext.x2) / 2;
    const y0 = near ? near.y : (ext.y1 + ext.y2) / 2;
    const inside = (x, y) => x - 80 > ext.x1 && x + 80 < ext.x2 && y - 40 > ext.y1 && y + 40 < ext.y2;
    for (let ring = 0; ring < 8; ring++) {
      for (const [dx, dy] of [[0, 0], [0, 1], [0, -1], [1, 0], [1, 1], [1, -1], [-1, 1], [-1, -1], [-1, 0]]) {
        const x = x0 + dx * 230 * ring, y = y0 + dy * 110 * ring;
        if (inside(x, y) && !taken(x, y)) return { x: Math.round(x), y: Math.round(y) };
      }
    }
    const right = cy.nodes().length ? Math.max(...cy.nodes().map((n) => n.position().x)) : 0;
    return { x: Math.round(right + 230), y: Math.round(y0) };
  }

  function ensureVisible(id) {
    const n = cy.getElementById(id);
    if (n.empty()) return;
    const bb = n.boundingBox();
    const ext = cy.extent();
    if (bb.x1 < ext.x1 || bb.x2 > ext.x2 || bb.y1 < ext.y1 || bb.y2 > ext.y2) fitView();
  }

  function saveLayout() {
    const clean = {};
    cy.nodes().forEach((n) => { clean[n.id()] = roundPos(n.position()); });
    d.positions = clean;
    if (d.layoutInput) d.layoutInput.value = JSON.stringify({ positions: clean });
  }

  cy.on("dragfree", "node", saveLayout);
  // A fitted label may hide part of a long id: the full id shows on hover.
  const container = cy.container();
  cy.on("mouseover", "node", (evt) => { container.title = evt.target.id() === d.CLIENTS ? "Clients" : evt.target.id(); });
  cy.on("mouseout", "node", () => { container.title = ""; });

  Object.assign(d, { render, tidy, fitView, freeSpot, ensureVisible, saveLayout });
}
