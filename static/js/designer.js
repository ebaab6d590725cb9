// The topology designer: a Cytoscape canvas over the YAML document.
//
// The document text in <textarea id="document"> is the single source of truth.
// Every canvas edit changes a copy of the parsed tree, sends it to the server
// (POST designer/apply), and gets back the new YAML text, the graph to draw, the
// errors and the instant estimate; the text goes into the textarea. Typing in the
// textarea sends the text the same way and the canvas follows. Undo and redo are
// stacks of document texts. Node positions live in the hidden "layout" field that
// "Save version" stores with the version.
(function () {
  "use strict";

  const root = document.getElementById("designer");
  const textarea = document.getElementById("document");
  if (!root || !textarea || typeof cytoscape !== "function") return;

  const applyUrl = root.dataset.applyUrl;
  const inspectUrl = root.dataset.inspectUrl;
  const layoutInput = document.getElementById("layout-input");
  const statusEl = document.getElementById("designer-status");
  const estimateEl = document.getElementById("estimate-body");
  const selectNode = document.getElementById("select-node");
  const connectTarget = document.getElementById("connect-target");
  const connectModeBtn = document.getElementById("connect-mode");
  const undoBtn = document.getElementById("undo-btn");
  const redoBtn = document.getElementById("redo-btn");
  const CLIENTS = "__clients__";

  // The document's vocabularies (component types and their labels, algorithms,
  // distributions...) come from the server, defined once in simengine.
  const VOCAB = JSON.parse(document.getElementById("designer-vocabulary").textContent);
  const TYPE_NAMES = { clients: "Clients", ...VOCAB.type_labels, unknown: "Unknown type" };
  const BASE_IDS = { load_balancer: "lb", service: "web", cache: "cache", database: "db" };
  const NEW_COMPONENTS = {
    load_balancer: () => ({ type: "load_balancer", algorithm: VOCAB.lb_algorithms[0], targets: [] }),
    service: () => ({ type: "service", instances: 1, cores: 4, work_ms: { dist: "exponential", mean: 8 } }),
    cache: () => ({ type: "cache", capacity_keys: 100000, hit_ms: 0.3 }),
    database: () => ({
      type: "database",
      primary: { cores: 8, read_ms: { dist: "exponential", mean: 4 }, write_ms: { dist: "exponential", mean: 12 } },
    }),
  };

  let state = { text: textarea.value, tree: null, graph: null, estimate: null, valid: false, errors: [], mermaid: "" };
  let positions = {};
  try {
    const saved = JSON.parse(document.getElementById("designer-layout").textContent || "{}");
    positions = (saved && saved.positions) || {};
  } catch (e) { positions = {}; }
  const undoStack = [];
  const redoStack = [];
  let connectMode = false;
  let connectSource = null;
  let selectedId = null;
  let requestSeq = 0;
  let programmatic = false;

  function csrfToken() {
    const input = document.querySelector("#doc-form [name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function setStatus(text, isError) {
    statusEl.textContent = text || "";
    statusEl.classList.toggle("error", !!isError);
  }

  // --- the canvas --------------------------------------------------------------

  const cy = cytoscape({
    container: document.getElementById("canvas"),
    minZoom: 0.3,
    maxZoom: 2.5,
    boxSelectionEnabled: false,
    style: [
      { selector: "node", style: {
          shape: "round-rectangle", width: 170, height: 70,
          "background-color": "#ffffff", "border-width": 2, "border-color": "#94a3b8",
          label: "data(display)", "text-wrap": "wrap", "text-valign": "center",
          "text-halign": "center", "font-size": 13, "line-height": 1.2, color: "#1f2933",
          "text-max-width": 156,
          "font-family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif",
      } },
      { selector: "node[type = 'clients']", style: {
          shape: "ellipse", width: 110, height: 46, "background-color": "#e0f2fe",
          "border-color": "#0284c7",
      } },
      { selector: "node[type = 'load_balancer']", style: { shape: "round-hexagon", width: 176, "border-color": "#7c3aed" } },
      { selector: "node[type = 'service']", style: { "border-color": "#2563eb" } },
      { selector: "node[type = 'cache']", style: { shape: "round-octagon", "border-color": "#c2410c" } },
      { selector: "node[type = 'database']", style: { shape: "barrel", height: 84, "border-color": "#0f766e" } },
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
      { selector: "edge[kind = 'backing']", style: {
          "line-style": "dashed", "line-color": "#c2410c", "target-arrow-color": "#c2410c",
      } },
      { selector: "edge:selected", style: { width: 4, "line-color": "#1d4ed8", "target-arrow-color": "#1d4ed8", label: "data(label)" } },
    ],
  });

  const EDGE_LABELS = { workload: "requests", targets: "distributes", calls: "calls", backing: "miss" };

  function nodeDisplay(n, est) {
    const lines = [TYPE_NAMES[n.type] ? TYPE_NAMES[n.type].toUpperCase() : "", n.label];
    if (n.sub) lines.push(n.sub);
    if (n.type === "clients") {
      const rps = state.tree && state.tree.workload && state.tree.workload.rps;
      return "Clients" + (rps !== undefined ? "\n" + fmt(rps) + " req/s" : "");
    }
    if (est) {
      const parts = [];
      if (est.peak_utilization !== null && est.peak_utilization !== undefined) {
        parts.push(Math.round(est.peak_utilization * 100) + "% busy");
      }
      if (est.hit_ratio !== undefined && est.hit_ratio !== null) parts.push(Math.round(est.hit_ratio * 100) + "% hits");
      if (est.refused_ratio) parts.push("refuses " + Math.round(est.refused_ratio * 100) + "%");
      if (parts.length) lines.push(parts.join(" · "));
    }
    return lines.join("\n");
  }

  function render() {
    const graph = state.graph;
    if (!graph) { renderEstimate(); return; }
    const est = state.estimate;
    const errorIds = new Set();
    for (const e of state.errors) {
      const m = /^components\.([a-z][a-z0-9_-]*)/.exec(e.path);
      if (m) errorIds.add(m[1]);
    }
    const bottleneck = est && est.bottleneck ? est.bottleneck.component : null;
    const keep = new Set();
    cy.batch(() => {
      for (const n of graph.nodes) {
        keep.add(n.id);
        const ce = est && est.components ? est.components[n.id] : null;
        const data = { id: n.id, type: n.type, display: nodeDisplay(n, ce) };
        let node = cy.getElementById(n.id);
        if (node.empty()) {
          node = cy.add({ group: "nodes", data, position: positions[n.id] || null });
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
    const unplaced = cy.nodes().filter((n) => !positions[n.id()]);
    if (unplaced.length === cy.nodes().length) {
      tidy();
    } else if (unplaced.length) {
      unplaced.forEach((n) => {
        const p = freeSpot();
        n.position(p);
        positions[n.id()] = p;
      });
      saveLayout();
    }
    refreshSelects();
    if (selectedId && cy.getElementById(selectedId).empty()) selectedId = null;
    renderEstimate();
    // The page around the canvas may have moved: Cytoscape caches where its
    // container is, and clicks would land beside the nodes.
    cy.resize();
  }

  // Left to right in layers: each component one column right of its deepest caller.
  function tidy() {
    const depth = {};
    const ids = cy.nodes().map((n) => n.id());
    for (const id of ids) depth[id] = 0;
    for (let pass = 0; pass < ids.length; pass++) {
      let changed = false;
      cy.edges().forEach((e) => {
        const d = depth[e.source().id()] + 1;
        if (d > depth[e.target().id()] && d <= ids.length) { depth[e.target().id()] = d; changed = true; }
      });
      if (!changed) break;
    }
    const columns = {};
    for (const id of ids) (columns[depth[id]] = columns[depth[id]] || []).push(id);
    for (const [d, col] of Object.entries(columns)) {
      col.forEach((id, i) => {
        cy.getElementById(id).position({ x: Number(d) * 210, y: (i - (col.length - 1) / 2) * 115 });
      });
    }
    cy.nodes().forEach((n) => { positions[n.id()] = roundPos(n.position()); });
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
      return Math.abs(p.x - x) < 190 && Math.abs(p.y - y) < 95;
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
    positions = clean;
    layoutInput.value = JSON.stringify({ positions: clean });
  }

  cy.on("dragfree", "node", saveLayout);

  // --- server round trip ---------------------------------------------------------

  async function send(body) {
    const seq = ++requestSeq;
    const response = await fetch(applyUrl, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
      body: JSON.stringify(body),
      credentials: "same-origin",
    });
    const data = await response.json().catch(() => ({ error: "unreadable answer" }));
    if (!response.ok) throw new Error(data.error || ("HTTP " + response.status));
    return { seq, data };
  }

  function adopt(data) {
    state.text = data.text;
    state.valid = data.valid;
    state.errors = data.errors || [];
    if (data.tree) {
      state.tree = data.tree;
      state.graph = data.graph;
      state.mermaid = data.mermaid || "";
    }
    state.estimate = data.estimate;
    if (!data.tree) {
      setStatus("The document cannot be read, so the canvas shows its last readable state: " +
        state.errors.map((e) => e.path + ": " + e.message).join("; "), true);
    } else if (!data.valid) {
      setStatus(state.errors.length + " problem" + (state.errors.length === 1 ? "" : "s") +
        " in the document (listed under the YAML): " + state.errors[0].path + ": " + state.errors[0].message, true);
    } else {
      setStatus("");
    }
    render();
  }

  // Text typed in the YAML view.
  let typingTimer = null;
  textarea.addEventListener("input", () => {
    if (programmatic) return;
    clearTimeout(typingTimer);
    typingTimer = setTimeout(async () => {
      const text = textarea.value;
      if (text === state.text) return;
      const previous = state.text;
      try {
        const { seq, data } = await send({ text });
        if (seq !== requestSeq || textarea.value !== text) return;
        pushUndo(previous);
        adopt(data);
      } catch (e) {
        setStatus("Could not update the canvas: " + e.message, true);
      }
    }, 350);
  });

  function setText(text) {
    programmatic = true;
    textarea.value = text;
    // Let htmx re-validate into #validation, as if typed.
    textarea.dispatchEvent(new Event("input", { bubbles: true }));
    programmatic = false;
  }

  // Changes to the document run one after another, in the order they were made:
  // a later answer never overtakes an earlier one.
  let queue = Promise.resolve();
  function serially(fn) {
    const next = queue.then(fn, fn);
    queue = next.catch(() => {});
    return next;
  }

  // A canvas edit: mutate a copy of the tree, round trip, take the new text.
  function edit(mutate, describe) {
    return serially(() => editNow(mutate, describe));
  }

  async function editNow(mutate, describe) {
    if (!state.tree) {
      setStatus("Fix the document's syntax in the YAML view first: the canvas cannot edit it.", true);
      return false;
    }
    const tree = JSON.parse(JSON.stringify(state.tree));
    if (!tree.components || typeof tree.components !== "object") tree.components = {};
    const outcome = mutate(tree);
    if (outcome === false) return false;
    const previous = state.text;
    try {
      const { data } = await send({ tree, format: textFormat() });
      pushUndo(previous);
      setText(data.text);
      adopt(data);
      if (describe && data.valid) setStatus(describe);
      return true;
    } catch (e) {
      setStatus("Could not apply the change: " + e.message, true);
      return false;
    }
  }

  function loadText(text) {
    return serially(() => loadTextNow(text));
  }

  // Resolves to null when loaded, or the server's reason when it refused the text.
  async function loadTextNow(text) {
    try {
      const { data } = await send({ text });
      setText(data.text);
      adopt(data);
      return null;
    } catch (e) {
      setStatus("Could not load the document: " + e.message, true);
      return e.message;
    }
  }

  // Canvas edits keep the text in the notation it is in: JSON stays JSON.
  function textFormat() {
    return /^\s*\{/.test(textarea.value) ? "json" : "yaml";
  }

  // "View as": the same document in the other notation (an undoable change).
  function viewAs(fmt) {
    if (!state.tree) { setStatus("The document cannot be read: fix it first.", true); return; }
    if (textFormat() === fmt) return;
    serially(async () => {
      const previous = state.text;
      try {
        const { data } = await send({ tree: state.tree, format: fmt });
        pushUndo(previous);
        setText(data.text);
        adopt(data);
        setStatus("Showing the document as " + fmt.toUpperCase() + ".");
      } catch (e) {
        setStatus("Could not convert: " + e.message, true);
      }
    });
  }

  function pushUndo(text) {
    if (undoStack.length && undoStack[undoStack.length - 1] === text) return;
    undoStack.push(text);
    if (undoStack.length > 200) undoStack.shift();
    redoStack.length = 0;
    updateUndoButtons();
  }

  function updateUndoButtons() {
    undoBtn.disabled = undoStack.length === 0;
    redoBtn.disabled = redoStack.length === 0;
  }

  async function undo() {
    if (!undoStack.length) return;
    redoStack.push(state.text);
    const text = undoStack.pop();
    await loadText(text);
    updateUndoButtons();
    setStatus("Undone.");
  }

  async function redo() {
    if (!redoStack.length) return;
    undoStack.push(state.text);
    const text = redoStack.pop();
    await loadText(text);
    updateUndoButtons();
    setStatus("Redone.");
  }

  // --- editing operations ----------------------------------------------------------

  function freshId(tree, base) {
    const comps = tree.components || {};
    if (!(base in comps)) return base;
    for (let i = 2; ; i++) if (!((base + i) in comps)) return base + i;
  }

  function addComponent(kind) {
    let newId = null;
    const spot = freeSpot(selectedId ? cy.getElementById(selectedId).position() : null);
    return edit((tree) => {
      newId = freshId(tree, BASE_IDS[kind]);
      tree.components[newId] = NEW_COMPONENTS[kind]();
      positions[newId] = spot;
    }, null).then((ok) => {
      if (ok && newId) {
        saveLayout();
        ensureVisible(newId);
        select(newId);
        setStatus("Added " + TYPE_NAMES[kind].toLowerCase() + " " + newId +
          ". Connect it: press Connect, click a source, then a target.");
      }
    });
  }

  function connect(source, target) {
    if (!source || !target || source === target) return Promise.resolve(false);
    const srcType = nodeType(source);
    const tgtType = nodeType(target);
    if (target === CLIENTS) { setStatus("The clients send requests; nothing connects to them.", true); return Promise.resolve(false); }
    return edit((tree) => {
      if (source === CLIENTS) {
        tree.workload = tree.workload || {};
        tree.workload.target = target;
        return;
      }
      const comp = tree.components[source];
      if (!comp) return false;
      if (srcType === "load_balancer") {
        if (tgtType !== "service") { setStatus("A load balancer distributes to services only.", true); return false; }
        comp.targets = Array.isArray(comp.targets) ? comp.targets : [];
        if (comp.targets.includes(target)) return false;
        comp.targets.push(target);
      } else if (srcType === "service") {
        comp.calls = Array.isArray(comp.calls) ? comp.calls : [];
        if (comp.calls.includes(target)) return false;
        comp.calls.push(target);
      } else if (srcType === "cache") {
        if (tgtType === "cache") { setStatus("A cache is backed by a database, service or balancer, not another cache.", true); return false; }
        comp.backing = target;
      } else {
        setStatus("A " + TYPE_NAMES[srcType].toLowerCase() + " does not call anything: connect from its callers.", true);
        return false;
      }
    }, "Connected " + source + " → " + target + ".");
  }

  function nodeType(id) {
    const n = cy.getElementById(id);
    return n.nonempty() ? n.data("type") : null;
  }

  function deleteSelection() {
    const sel = cy.$(":selected");
    if (sel.empty()) { setStatus("Select a component or a connection first.", true); return; }
    const el = sel[0];
    if (el.isEdge()) return deleteEdge(el);
    const id = el.id();
    if (id === CLIENTS) { setStatus("The clients are the workload: edit them in the Workload panel.", true); return; }
    edit((tree) => {
      delete tree.components[id];
      for (const comp of Object.values(tree.components)) {
        if (!comp || typeof comp !== "object") continue;
        for (const key of ["targets", "calls"]) {
          if (Array.isArray(comp[key])) comp[key] = comp[key].filter((x) => x !== id);
        }
        if (comp.backing === id) delete comp.backing;
        if (comp.weights && typeof comp.weights === "object") delete comp.weights[id];
      }
      delete positions[id];
    }, "Deleted " + id + ".").then((ok) => { if (ok) { saveLayout(); select(null); } });
  }

  function deleteEdge(edge) {
    const { source, target, kind } = edge.data();
    if (kind === "workload") { setStatus("The clients always call one component: connect Clients to another to move them.", true); return; }
    edit((tree) => {
      const comp = tree.components[source];
      if (!comp) return false;
      if (kind === "backing") delete comp.backing;
      else if (Array.isArray(comp[kind])) comp[kind] = comp[kind].filter((x) => x !== target);
    }, "Removed " + source + " → " + target + ".");
  }

  function renameSelection() {
    if (!selectedId || selectedId === CLIENTS) { setStatus("Select a component to rename.", true); return; }
    const old = selectedId;
    const name = (window.prompt("New id for " + old + " (lowercase letters, digits, - and _):", old) || "").trim();
    if (!name || name === old) return;
    if (!/^[a-z][a-z0-9_-]{0,63}$/.test(name)) { setStatus("An id starts with a letter and has only a-z, 0-9, - and _.", true); return; }
    edit((tree) => {
      if (name in tree.components) { setStatus("There is already a component named " + name + ".", true); return false; }
      const renamed = {};
      for (const [id, comp] of Object.entries(tree.components)) renamed[id === old ? name : id] = comp;
      tree.components = renamed;
      const swap = (x) => (x === old ? name : x);
      for (const comp of Object.values(renamed)) {
        if (!comp || typeof comp !== "object") continue;
        for (const key of ["targets", "calls"]) if (Array.isArray(comp[key])) comp[key] = comp[key].map(swap);
        if (comp.backing === old) comp.backing = name;
        if (comp.weights && typeof comp.weights === "object" && old in comp.weights) {
          comp.weights[name] = comp.weights[old];
          delete comp.weights[old];
        }
      }
      if (tree.workload && tree.workload.target === old) tree.workload.target = name;
      if (Array.isArray(tree.faults)) for (const f of tree.faults) if (f && f.component === old) f.component = name;
      if (positions[old]) { positions[name] = positions[old]; delete positions[old]; }
    }, "Renamed " + old + " to " + name + ".").then((ok) => { if (ok) { saveLayout(); select(name); } });
  }

  function duplicateSelection() {
    if (!selectedId || selectedId === CLIENTS) { setStatus("Select a component to duplicate.", true); return; }
    const src = selectedId;
    let newId = null;
    const spot = freeSpot(cy.getElementById(src).position());
    edit((tree) => {
      const comp = tree.components[src];
      if (!comp) return false;
      newId = freshId(tree, src.replace(/\d+$/, "") || src);
      tree.components[newId] = JSON.parse(JSON.stringify(comp));
      positions[newId] = spot;
    }, null).then((ok) => {
      if (ok && newId) { saveLayout(); ensureVisible(newId); select(newId); setStatus("Duplicated " + src + " as " + newId + "."); }
    });
  }

  // --- selection, inspector, keyboard path ------------------------------------------------

  function select(id) {
    selectedId = id;
    cy.$(":selected").unselect();
    if (id) {
      const n = cy.getElementById(id);
      if (n.nonempty()) n.select();
    }
    selectNode.value = id || "";
    refreshConnectTargets();
    if (id === CLIENTS) openInspector("workload");
    else if (id) openInspector(id);
  }

  // The inspector shows the last thing asked for: a slower answer for an earlier
  // selection never stays on screen.
  let inspectorWanted = null;
  function openInspector(target, attempt) {
    if (typeof htmx === "undefined") return;
    inspectorWanted = target;
    htmx.ajax("POST", inspectUrl, {
      source: "#inspector", target: "#inspector", swap: "outerHTML",
      values: { subject: target, document: textarea.value },
    }).then(() => {
      const shown = document.querySelector("#inspector [name=subject]");
      if (inspectorWanted === target || !shown) return;
      if (shown.value !== inspectorWanted && (attempt || 0) < 2) openInspector(inspectorWanted, (attempt || 0) + 1);
    }).catch(() => {});
  }

  function refreshSelects() {
    const ids = cy.nodes().map((n) => n.id());
    const current = selectNode.value;
    selectNode.replaceChildren(new Option("(none)", ""));
    for (const id of ids) {
      const label = id === CLIENTS ? "Clients (workload)" : id + " — " + (TYPE_NAMES[nodeType(id)] || "").toLowerCase();
      selectNode.add(new Option(label, id));
    }
    selectNode.value = ids.includes(current) ? current : "";
    refreshConnectTargets();
  }

  function refreshConnectTargets() {
    connectTarget.replaceChildren(new Option("(choose)", ""));
    const src = selectNode.value;
    cy.nodes().forEach((n) => {
      if (n.id() !== src && n.id() !== CLIENTS) connectTarget.add(new Option(n.id(), n.id()));
    });
  }

  cy.on("tap", "node", (evt) => {
    const id = evt.target.id();
    if (connectMode) {
      if (!connectSource) {
        connectSource = id;
        evt.target.addClass("connect-source");
        setStatus("Now click the component " + id + " should connect to (Esc to stop).");
      } else {
        const src = connectSource;
        cy.nodes().removeClass("connect-source");
        connectSource = null;
        connect(src, id);
      }
      return;
    }
    select(id);
  });
  cy.on("tap", "edge", (evt) => {
    selectedId = null;
    setStatus("Connection " + evt.target.data("path") + " selected: press Delete to remove it.");
  });
  cy.on("tap", (evt) => {
    if (evt.target === cy) {
      selectedId = null;
      selectNode.value = "";
      if (connectSource) { cy.nodes().removeClass("connect-source"); connectSource = null; }
    }
  });

  function setConnectMode(on) {
    connectMode = on;
    connectSource = null;
    cy.nodes().removeClass("connect-source");
    connectModeBtn.setAttribute("aria-pressed", on ? "true" : "false");
    document.getElementById("canvas").classList.toggle("connecting", on);
    setStatus(on ? "Connect: click the source component, then the target." : "");
  }

  // --- toolbar -------------------------------------------------------------------------

  root.querySelectorAll("[data-add]").forEach((b) => b.addEventListener("click", () => addComponent(b.dataset.add)));
  root.querySelectorAll("[data-section]").forEach((b) => b.addEventListener("click", () => openInspector(b.dataset.section)));
  connectModeBtn.addEventListener("click", () => setConnectMode(!connectMode));
  document.getElementById("duplicate-btn").addEventListener("click", duplicateSelection);
  document.getElementById("rename-btn").addEventListener("click", renameSelection);
  document.getElementById("delete-btn").addEventListener("click", deleteSelection);
  undoBtn.addEventListener("click", undo);
  redoBtn.addEventListener("click", redo);
  document.getElementById("fit-btn").addEventListener("click", fitView);
  document.getElementById("tidy-btn").addEventListener("click", tidy);
  selectNode.addEventListener("change", () => select(selectNode.value || null));
  document.getElementById("connect-btn").addEventListener("click", () => {
    const src = selectNode.value;
    const tgt = connectTarget.value;
    if (!src || !tgt) { setStatus("Choose the selected component and what to connect it to.", true); return; }
    connect(src, tgt);
  });

  document.addEventListener("keydown", (e) => {
    const t = e.target;
    const typing = t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable);
    if (typing) return;  // the text fields keep their own undo and delete
    const mod = e.ctrlKey || e.metaKey;
    if (mod && (e.key === "z" || e.key === "Z")) {
      e.preventDefault();
      if (e.shiftKey) redo(); else undo();
    } else if (mod && (e.key === "y" || e.key === "Y")) {
      e.preventDefault(); redo();
    } else if (mod && (e.key === "d" || e.key === "D")) {
      e.preventDefault(); duplicateSelection();
    } else if (e.key === "Delete" || e.key === "Backspace") {
      if (!cy.$(":selected").empty()) { e.preventDefault(); deleteSelection(); }
    } else if (e.key === "F2") {
      e.preventDefault(); renameSelection();
    } else if (e.key === "Escape" && connectMode) {
      setConnectMode(false);
    }
  });

  // htmx binds a freshly swapped inspector's form only when the swap settles (20 ms
  // after it shows, longer on a busy page): a field changed before that would never
  // be sent. Remember it, and send the form once it is bound.
  let inspectorChangedEarly = false;
  document.body.addEventListener("change", (e) => {
    const inspector = document.getElementById("inspector");
    if (inspector && inspector.classList.contains("htmx-added") && inspector.contains(e.target)) {
      inspectorChangedEarly = true;
    }
  });

  // The inspector applied a change: take the new text it sends back.
  document.body.addEventListener("htmx:afterSettle", () => {
    const early = inspectorChangedEarly;
    inspectorChangedEarly = false;
    const resend = () => {
      const form = document.getElementById("inspector-form");
      if (early && form) htmx.trigger(form, "change");
    };
    const el = document.getElementById("inspector-result");
    if (!el || el.dataset.done) { resend(); return; }
    el.dataset.done = "1";
    const text = JSON.parse(el.textContent);
    if (text === state.text) { resend(); return; }
    pushUndo(state.text);
    loadText(text).then(resend);
  });

  // --- the estimate panel ---------------------------------------------------------

  function fmt(x, digits) {
    if (x === null || x === undefined) return "—";
    const d = digits === undefined ? (Math.abs(x) >= 100 ? 0 : Math.abs(x) >= 10 ? 1 : 2) : digits;
    return Number(x).toLocaleString("en-US", { maximumFractionDigits: d });
  }

  function fmtObjective(objective, x) {
    if (objective === "error_rate" || objective === "utilization") {
      return Number((x * 100).toPrecision(3)) + "%";
    }
    return fmt(x) + (objective === "throughput_rps" ? " req/s" : " ms");
  }

  function money(x) {
    return "$" + Number(x).toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") node.className = v; else node.setAttribute(k, v);
    }
    for (const c of children) if (c !== null && c !== undefined) node.append(c);
    return node;
  }

  // Why a component has no utilization: the estimate's reason, else its kind's.
  function utilizationNote(c) {
    if (c.utilization_note) return c.utilization_note;
    if (c.type === "load_balancer" || c.type === "cache") return "no capacity of its own in this model";
    return c.reached === false ? "not reached" : "not measured";
  }

  function renderEstimate() {
    const est = state.estimate;
    if (!est) {
      estimateEl.replaceChildren(el("p", { class: "muted" },
        state.valid ? "No estimate." : "The estimate appears when the document is valid."));
      return;
    }
    const parts = [];
    const lat = est.latency_ms;
    const b = est.bottleneck;
    parts.push(el("div", { class: "summary" },
      el("div", {}, el("b", {}, fmt(est.rps) + " req/s"), el("span", {}, "offered load")),
      el("div", {}, el("b", {}, lat ? fmt(lat.mean) + " ms" : "unbounded"), el("span", {}, "mean latency, end to end")),
      el("div", {}, el("b", {}, b && b.capacity_rps ? "≈ " + fmt(b.capacity_rps, 0) + " req/s" : "—"), el("span", {}, "where the bottleneck saturates")),
      el("div", {}, el("b", {}, money(est.cost_per_hour) + "/h"), el("span", {}, "cost"))));
    if (b) {
      const calm = b.utilization < 0.7;
      parts.push(el("div", { class: "bottleneck-box" + (calm ? " calm" : ""), id: "bottleneck", role: "status" },
        el("p", {}, el("strong", {}, (calm ? "Busiest: " : "Bottleneck: ") + b.component +
          (b.node ? " (" + b.node + ")" : "") + " at " + Math.round(b.utilization * 100) + "%")),
        el("p", {}, b.why),
        el("p", {}, el("strong", {}, "Advice: "), b.advice)));
    }
    if (est.objectives && est.objectives.length) {
      parts.push(el("div", { class: "objectives-estimate", "data-testid": "estimate-objectives" },
        el("h3", {}, "Objectives ", el("span", { class: "muted" }, "(estimated; a run judges them)")),
        el("ul", {}, ...est.objectives.map((o) => {
          const verdict = o.met === null ? "unknown" : o.met ? "met" : "missed";
          const value = o.met === null ? "a run measures it"
            : o.estimate === null ? "unbounded" : fmtObjective(o.objective, o.estimate);
          return el("li", { class: "obj-" + verdict },
            el("span", { class: "obj-mark", "aria-hidden": "true" }, o.met === null ? "○" : o.met ? "✓" : "✗"),
            el("code", {}, o.objective), (o.bound === "max" ? " ≤ " : " ≥ ") + fmtObjective(o.objective, o.limit) + ": ",
            el("b", {}, value), el("span", { class: "sr-only" }, " (" + verdict + ")"));
        }))));
    }
    const rows = Object.entries(est.components).map(([id, c]) => el("tr", { class: b && b.component === id ? "is-bottleneck" : "" },
      el("td", {}, id),
      el("td", {}, TYPE_NAMES[c.type] || c.type),
      el("td", { class: "num" }, c.reached ? fmt(c.offered_rps) : "not reached"),
      el("td", { class: "num" }, c.peak_utilization === null || c.peak_utilization === undefined
        ? el("span", { class: "not-measured", title: "not measured: " + utilizationNote(c) },
          "— ", el("small", { class: "muted" }, utilizationNote(c))) :
        el("span", {}, el("span", { class: "ubar lvl-" + c.level }, el("i", { style: "width:" + Math.min(100, Math.round(c.peak_utilization * 100)) + "%" })),
          Math.round(c.peak_utilization * 100) + "%")),
      el("td", { class: "num" }, c.latency_ms ? (c.latency_ms.mean === null ? "∞" : fmt(c.latency_ms.mean)) : "—"),
      el("td", { class: "num" }, c.hit_ratio !== undefined ? Math.round(c.hit_ratio * 100) + "% hits"
        : c.refused_ratio ? Math.round(c.refused_ratio * 100) + "% refused" : ""),
      el("td", { class: "num" }, money(c.cost_per_hour))));
    parts.push(el("table", { class: "estimate-table" },
      el("thead", {}, el("tr", {}, el("th", {}, "Component"), el("th", {}, "Type"),
        el("th", { class: "num" }, "Load (req/s)"), el("th", { class: "num" }, "Busy"),
        el("th", { class: "num", title: "mean time from this component on, including what it calls" }, "Latency from here (ms)"), el("th", { class: "num" }, "Hits / refused"),
        el("th", { class: "num" }, "Cost"))),
      el("tbody", {}, ...rows)));
    if (est.notes && est.notes.length) parts.push(el("ul", { class: "notes" }, ...est.notes.map((n) => el("li", {}, n))));
    parts.push(el("details", {}, el("summary", {}, "How this is estimated"),
      el("ul", {}, ...est.assumptions.map((a) => el("li", {}, a)))));
    estimateEl.replaceChildren(...parts);
  }

  // --- exports ----------------------------------------------------------------------

  function slug() {
    return (root.dataset.name || "scenario").toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "") || "scenario";
  }

  function download(name, href) {
    const a = document.createElement("a");
    a.href = href;
    a.download = name;
    document.body.append(a);
    a.click();
    a.remove();
  }

  function downloadText(name, text, type) {
    const url = URL.createObjectURL(new Blob([text], { type }));
    download(name, url);
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  }

  document.querySelectorAll("[data-export]").forEach((b) => b.addEventListener("click", () => {
    const kind = b.dataset.export;
    if (kind === "yaml") downloadText(slug() + ".yaml", textarea.value, "application/yaml");
    else if (kind === "json") {
      if (!state.tree) { setStatus("The document cannot be read: nothing to export as JSON.", true); return; }
      downloadText(slug() + ".json", JSON.stringify(state.tree, null, 2) + "\n", "application/json");
    } else if (kind === "mermaid") downloadText(slug() + ".mmd", state.mermaid, "text/plain");
    else if (kind === "png") download(slug() + ".png", cy.png({ full: true, scale: 2, bg: "#ffffff" }));
  }));

  document.querySelectorAll("[data-view-as]").forEach((b) => b.addEventListener("click", () => viewAs(b.dataset.viewAs)));

  // --- import ----------------------------------------------------------------------

  const importFile = document.getElementById("import-file");
  document.getElementById("import-btn").addEventListener("click", () => importFile.click());
  importFile.addEventListener("change", async () => {
    const file = importFile.files && importFile.files[0];
    importFile.value = "";
    if (!file) return;
    if (file.size > 1000000) { setStatus("That file is over 1 MB: documents are limited to 1 MB.", true); return; }
    const text = await file.text();
    const previous = state.text;
    const refused = await loadText(text);
    if (refused !== null) { setStatus("Import of " + file.name + " refused: " + refused, true); return; }
    pushUndo(previous);
    positions = {};
    tidy();
    setStatus("Imported " + file.name + (state.valid ? "." : ": it has problems, listed under the YAML."), !state.valid);
  });

  // --- start -----------------------------------------------------------------------

  updateUndoButtons();
  if (Object.keys(positions).length) layoutInput.value = JSON.stringify({ positions });
  window.scaleboardDesigner = { cy, state: () => state, positions: () => positions };
  // A refused Save or Run of text that cannot be read: the page carries the latest
  // saved version, so the canvas shows that instead of nothing.
  const fallbackEl = document.getElementById("designer-fallback");
  async function readableFallback(data) {
    if (data.tree || !fallbackEl) return;
    try {
      const { data: saved } = await send({ text: JSON.parse(fallbackEl.textContent) });
      if (saved.tree) {
        state.tree = saved.tree;
        state.graph = saved.graph;
        state.mermaid = saved.mermaid || "";
      }
    } catch (e) { /* the status line reports the unreadable text itself */ }
  }

  send({ text: textarea.value }).then(async ({ data }) => {
    await readableFallback(data);
    adopt(data);
    if (Object.keys(positions).length) fitView();
    root.dataset.ready = "1";
  }).catch((e) => setStatus("Could not read the document: " + e.message, true));
})();
