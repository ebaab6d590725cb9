// The designer's estimate panel: the instant estimate of the document as the
// server computed it (simengine.analytic), drawn into #estimate-body.

export function fmt(x, digits) {
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

export function el(tag, attrs, ...children) {
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

export function installEstimate(d) {
  const estimateEl = document.getElementById("estimate-body");
  const TYPE_NAMES = d.TYPE_NAMES;

  function renderEstimate() {
    const est = d.state.estimate;
    if (!est) {
      estimateEl.replaceChildren(el("p", { class: "muted" },
        d.state.valid ? "No estimate." : "The estimate appears when the document is valid."));
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

  d.renderEstimate = estimateEl ? renderEstimate : () => {};
}
