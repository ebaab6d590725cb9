// The run's topology, read-only and live: the designer's canvas (designer-graph.js,
// the same shapes, labels and layout) drawn from the run's document, each node
// coloured by its latest measured utilization (green < 60%, amber < 85%, red from
// 85%, grey when not measured) and red with a "down" mark while any of its
// instances or nodes is down. A badge under each node says what the component has
// (utilization, queue, instances, hit ratio, errors); a click opens its own charts.
import { installGraph } from "./designer-graph.js";
import { level } from "./run-model.js";
import { makeChart } from "./run-charts.js";

const CLIENTS = "__clients__";
const LIVE_STYLE = [
  ["node.lvl-none", { "background-color": "#e5e7eb", "border-color": "#64748b" }],
  ["node.is-down", {
    "background-color": "#fecaca", "border-color": "#b91c1c", "border-width": 4,
    "border-style": "dashed", "underlay-color": "#f87171", "underlay-opacity": 0.45, "underlay-padding": 6,
  }],
  ["node:selected", { "outline-width": 3, "outline-color": "#2563eb", "outline-offset": 4, "outline-opacity": 1 }],
];

function pct(v) { return Math.round(v * 100) + "%"; }
function short(v) {
  if (v === null || v === undefined) return "-";
  if (Math.abs(v) >= 100) return String(Math.round(v));
  if (Math.abs(v) >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

function lastOf(series) {
  for (let i = series.length - 1; i >= 0; i--) if (series[i] !== null) return series[i];
  return null;
}

// What the badge of a component says, from its latest window.
function badgeParts(facts, c, gone) {
  const parts = [];
  const u = lastOf(c.utilization), q = lastOf(c.queue_mean), n = lastOf(c.instances);
  const hit = lastOf(c.hit_ratio), err = lastOf(c.errors_rps), thr = lastOf(c.throughput_rps);
  const lag = lastOf(c.lag_mean_ms), depth = lastOf(c.depth), oldest = lastOf(c.lag_ms);
  if (u !== null) parts.push(pct(u) + " busy");
  if (hit !== null) parts.push(pct(hit) + " hits");
  if (lag !== null) parts.push("lag " + short(lag) + " ms");
  if (depth !== null) parts.push("depth " + short(depth) + (oldest !== null ? " · oldest " + short(oldest) + " ms" : ""));
  if (q !== null) parts.push("queue " + short(q));
  if (n !== null && facts.type === "service") {
    // While some are down, how many of them still serve.
    parts.push(gone.length ? Math.max(0, n - gone.length) + " of " + n + " up" : n + " inst");
  }
  if (u === null && hit === null && thr !== null) parts.push(short(thr) + " rps");
  if (err) parts.push(short(err) + " err/s");
  return parts;
}

export function createCanvas(live, { getModel, getEvents }) {
  const container = document.getElementById("canvas");
  if (!container || !live.graph || typeof cytoscape === "undefined") return null;
  const facts = live.components || {};
  // The designer's canvas, given what it reads of the designer: the graph to draw,
  // the stored positions, and no estimate, inspector or pins.
  const d = {
    readonly: true,
    CLIENTS,
    TYPE_NAMES: { clients: "Clients", ...(live.type_labels || {}), unknown: "Unknown type" },
    state: { graph: live.graph, tree: { workload: { rps: live.workload_rps, users: live.workload_users } }, estimate: null, errors: [] },
    positions: { ...(live.positions || {}) },
    selectedId: null,
    layoutInput: null,
    renderEstimate() {}, refreshSelects() {}, drawPins() {},
  };
  installGraph(d);
  const cy = d.cy;
  cy.autoungrabify(true);
  for (const [selector, style] of LIVE_STYLE) cy.style().selector(selector).style(style);
  cy.style().update();
  d.render();
  d.fitView();

  const layer = document.getElementById("badge-layer");
  const badges = {};
  for (const id of Object.keys(facts)) {
    const b = document.createElement("span");
    b.className = "node-badge";
    b.dataset.component = id;
    b.setAttribute("data-testid", "badge-" + id);
    b.hidden = true;
    if (layer) layer.append(b);
    badges[id] = b;
  }

  function place() {
    if (!layer) return;
    const w = layer.clientWidth, h = layer.clientHeight;
    for (const [id, badge] of Object.entries(badges)) {
      const node = cy.getElementById(id);
      if (node.empty() || !badge.textContent) { badge.hidden = true; continue; }
      const bb = node.renderedBoundingBox({ includeLabels: false, includeOverlays: false, includeUnderlays: false, includeOutlines: false });
      const x = (bb.x1 + bb.x2) / 2, y = bb.y2 + 2;
      // No wider than the node and a little: neighbours' badges never overlap.
      badge.style.maxWidth = Math.max(120, Math.round(bb.x2 - bb.x1 + 40)) + "px";
      badge.hidden = x < 0 || y < 0 || x > w || y > h;
      badge.style.transform = "translate(" + Math.round(x) + "px, " + Math.round(y) + "px) translate(-50%, 0)";
    }
  }
  cy.on("viewport resize position", place);

  const state = {};  // id -> {level, down: [...]}, also on the container for tests
  function update(model, down) {
    cy.batch(() => {
      for (const id of Object.keys(facts)) {
        const node = cy.getElementById(id);
        if (node.empty()) continue;
        const c = model.comps[id];
        const lvl = level(lastOf(c.utilization));
        const gone = down[id] ? [...down[id]].sort() : [];
        const n = lastOf(c.instances);
        const isDown = gone.length > 0 || n === 0;
        node.removeClass("lvl-ok lvl-warm lvl-hot lvl-none is-down");
        node.addClass("lvl-" + lvl);
        if (isDown) node.addClass("is-down");
        state[id] = { level: lvl, down: isDown, instances_down: gone };
        const parts = badgeParts(facts[id], c, gone);
        const badge = badges[id];
        badge.classList.toggle("down", isDown);
        badge.replaceChildren();
        if (isDown) {
          const mark = document.createElement("strong");
          mark.className = "down-mark";
          mark.textContent = "DOWN" + (gone.length ? " " + gone.join(", ") : "");
          badge.append(mark, parts.length ? " · " : "");
        }
        badge.append(parts.join(" · "));
      }
    });
    container.dataset.state = JSON.stringify(state);
    place();
    if (panel.id) panel.update(model);
  }

  // The side panel: the clicked component's own charts.
  const panelEl = document.getElementById("node-panel");
  const panel = {
    id: null, charts: [],
    open(id) {
      if (!facts[id] || !panelEl) return;
      this.close();
      this.id = id;
      const f = facts[id];
      document.getElementById("node-panel-title").textContent = id + " · " + (d.TYPE_NAMES[f.type] || f.type);
      document.getElementById("node-panel-facts").textContent = factsText(f);
      panelEl.hidden = false;
      panelEl.dataset.component = id;
      const sel = document.getElementById("node-select");
      if (sel) sel.value = id;
      const host = document.getElementById("node-charts");
      const specs = [
        ["utilization", "Utilization", "#2563eb", { percent: true }],
        ["throughput_rps", "Throughput (rps)", "#16a34a", {}],
        ["queue_mean", "Mean queue", "#ea580c", {}],
        ...(f.type === "service" ? [["instances", "Active instances", "#7c3aed", {}]] : []),
        ...(f.type === "cache" ? [["hit_ratio", "Hit ratio", "#0891b2", { percent: true }]] : []),
        ...(f.type === "load_balancer" ? [["errors_rps", "Requests it failed (per s)", "#dc2626", {}]] : []),
        ...(f.replicas ? [["lag_mean_ms", "Replication lag, mean (ms)", "#0d9488", {}]] : []),
        ...(f.type === "queue" ? [["depth", "Messages waiting", "#7c3aed", {}], ["lag_ms", "Oldest message (ms)", "#0d9488", {}]] : []),
      ];
      const model = getModel();
      for (const [key, title, stroke, options] of specs) {
        const values = model ? model.comps[id][key] : [];
        // A series the component never has (a balancer's utilization) is not drawn.
        if (model && values.every((v) => v === null)) continue;
        const box = document.createElement("div");
        box.className = "node-chart";
        box.dataset.series = key;
        const h = document.createElement("h3");
        h.textContent = title;
        const el = document.createElement("div");
        box.append(h, el);
        host.append(box);
        this.charts.push({ key, chart: makeChart(el, [{ label: id + " " + key, stroke }], { height: 150, getEvents, ...options }) });
      }
      if (model) this.update(model);
      panelEl.scrollIntoView({ block: "nearest" });
      cy.$(":selected").unselect();
      cy.getElementById(id).select();
    },
    update(model) {
      for (const c of this.charts) c.chart.set(model.x, [model.comps[this.id][c.key]]);
    },
    close() {
      for (const c of this.charts) c.chart.destroy();
      this.charts = [];
      this.id = null;
      if (panelEl) { panelEl.hidden = true; delete panelEl.dataset.component; }
      const sel = document.getElementById("node-select");
      if (sel) sel.value = "";
      document.getElementById("node-charts")?.replaceChildren();
      cy.$(":selected").unselect();
    },
  };
  cy.on("tap", "node", (evt) => { if (evt.target.id() !== CLIENTS) panel.open(evt.target.id()); });
  // The same from the keyboard: a select of the components.
  const select = document.getElementById("node-select");
  if (select) {
    select.addEventListener("change", () => { if (select.value) panel.open(select.value); else panel.close(); });
  }
  document.getElementById("node-panel-close")?.addEventListener("click", () => panel.close());
  window.addEventListener("resize", () => { cy.resize(); d.fitView(); for (const c of panel.charts) c.chart.resize(); });

  return { cy, update, open: (id) => panel.open(id), state: () => ({ ...state }) };
}

function factsText(f) {
  if (f.type === "service") {
    return f.autoscale ? `autoscaling ${f.autoscale_min}..${f.autoscale_max} instances`
      : `${f.instances} instance${f.instances === 1 ? "" : "s"}`;
  }
  if (f.type === "database") {
    const parts = [`${f.shards} shard${f.shards === 1 ? "" : "s"}`];
    if (f.replicas) parts.push(`${f.replicas} replica${f.replicas === 1 ? "" : "s"} each`);
    if (f.primaries > 1) parts.push(`${f.primaries} primaries`);
    return parts.join(" · ");
  }
  if (f.type === "cache") return `${f.nodes} node${f.nodes === 1 ? "" : "s"}`;
  return "";
}
