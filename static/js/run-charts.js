// The run page's uPlot charts: the headline ones, a component's own ones, and the
// event marks every chart carries (a vertical line at each event's time, coloured
// by kind, with a legend of the kinds present).

export const EVENT_COLOURS = {
  instance_down: "#dc2626", primary_down: "#dc2626", replica_down: "#dc2626",
  cache_node_lost: "#dc2626", failover_started: "#dc2626",
  instance_up: "#16a34a", primary_up: "#16a34a", replica_up: "#16a34a",
  cache_node_restored: "#16a34a", failover_done: "#16a34a",
  health_removed: "#ea580c", health_restored: "#0d9488",
  autoscaled: "#7c3aed", shard_added: "#0891b2",
  phase_changed: "#64748b", spike_ended: "#64748b",
  injected: "#db2777",
  objective_breached: "#b45309", objective_recovered: "#4d7c0f",
  breaker_opened: "#f97316", breaker_closed: "#22c55e",
};
const DEFAULT_COLOUR = "#475569";

export function eventColour(kind) { return EVENT_COLOURS[kind] || DEFAULT_COLOUR; }

// A uPlot plugin drawing `getEvents()` (each with `x`) as dashed vertical lines.
// The chart's element says how many it drew (data-marks), for tests and for
// assistive checks.
function eventMarks(getEvents) {
  return {
    hooks: {
      draw: [(u) => {
        const events = getEvents();
        const { ctx, bbox } = u;
        const [x0, x1] = [u.scales.x.min, u.scales.x.max];
        let drawn = 0;
        ctx.save();
        ctx.lineWidth = Math.max(1, devicePixelRatio);
        ctx.setLineDash([4 * devicePixelRatio, 3 * devicePixelRatio]);
        for (const e of events) {
          if (x0 === null || e.x < x0 || e.x > x1) continue;
          const cx = Math.round(u.valToPos(e.x, "x", true)) + 0.5;
          ctx.strokeStyle = eventColour(e.kind);
          ctx.beginPath();
          ctx.moveTo(cx, bbox.top);
          ctx.lineTo(cx, bbox.top + bbox.height);
          ctx.stroke();
          drawn += 1;
        }
        ctx.restore();
        u.root.dataset.marks = String(drawn);
      }],
    },
  };
}

function width(el) { return Math.max(280, el.clientWidth - 8); }

// A chart of `series` ([{label, stroke, dash?, key}]) over simulated time in `el`.
export function makeChart(el, series, { height = 220, percent = false, getEvents, yLabel = "" } = {}) {
  const axisY = { label: yLabel, size: 56 };
  if (percent) axisY.values = (u, ticks) => ticks.map((v) => Math.round(v * 100) + "%");
  const opts = {
    width: width(el), height,
    legend: { live: false },
    scales: { x: { time: false }, ...(percent ? { y: { range: [0, 1] } } : {}) },
    axes: [{ label: "simulated s" }, axisY],
    series: [{ label: "simulated s" }, ...series.map((s) => ({
      label: s.label, stroke: s.stroke, width: s.width || 2, ...(s.dash ? { dash: s.dash } : {}),
    }))],
    plugins: getEvents ? [eventMarks(getEvents)] : [],
  };
  const plot = new uPlot(opts, [[], ...series.map(() => [])], el);
  return {
    el, series, plot,
    set(x, ys) { plot.setData([x, ...ys]); },
    resize() { plot.setSize({ width: width(el), height }); },
    destroy() { plot.destroy(); },
  };
}

const PALETTE = ["#2563eb", "#16a34a", "#ea580c", "#7c3aed", "#0891b2", "#db2777", "#ca8a04"];

// The headline charts present on the page (templates/runs/detail.html decides which,
// from the document), each fed from the derived model (run-model.js).
export function headlineCharts(live, getEvents) {
  const charts = [];
  const byId = (id) => document.getElementById(id);
  const add = (id, series, feed, options = {}) => {
    const el = byId(id);
    if (el) charts.push({ chart: makeChart(el, series, { getEvents, ...options }), feed });
  };
  add("chart-rps", [
    { label: "throughput rps", stroke: "#2563eb" },
    { label: "offered rps", stroke: "#64748b", width: 1, dash: [6, 4] },
  ], (m) => [m.rps, m.offered]);
  add("chart-latency", [
    { label: "p50 ms", stroke: "#16a34a" },
    { label: "p95 ms", stroke: "#ca8a04" },
    { label: "p99 ms", stroke: "#ea580c" },
  ], (m) => [m.p50, m.p95, m.p99]);
  const limits = Boolean(live.charts && live.charts.rate_limited);
  add("chart-failures", [
    { label: "errors/s", stroke: "#dc2626" },
    { label: "timeouts/s", stroke: "#9333ea" },
    { label: "rejected/s", stroke: "#f59e0b" },
    // 429s are part of rejected: drawn dashed beside it
    ...(limits ? [{ label: "rate limited (429)/s", stroke: "#b45309", width: 1, dash: [6, 4] }] : []),
  ], (m) => [m.errors, m.timeouts, m.rejected, ...(limits ? [m.limited] : [])]);
  if (live.charts && live.charts.retries) {
    add("chart-retries", [
      { label: "attempts/s (at the servers)", stroke: "#db2777" },
      { label: "offered/s (first sends)", stroke: "#64748b", width: 1, dash: [6, 4] },
      { label: "re-sends/s", stroke: "#ea580c" },
    ], (m) => [m.attempts, m.offered, m.retries]);
  }
  const queues = (live.charts && live.charts.queues) || [];
  add("chart-queue-depth", queues.map((id, i) => ({ label: id + " depth", stroke: PALETTE[i % PALETTE.length] })),
    (m) => queues.map((id) => m.comps[id].depth));
  add("chart-queue-lag", queues.map((id, i) => ({ label: id + " oldest message ms", stroke: PALETTE[i % PALETTE.length] })),
    (m) => queues.map((id) => m.comps[id].lag_ms));
  const scaled = (live.charts && live.charts.instances) || [];
  add("chart-instances", scaled.map((id, i) => ({ label: id + " instances", stroke: PALETTE[i % PALETTE.length] })),
    (m) => scaled.map((id) => m.comps[id].instances));
  const caches = (live.charts && live.charts.hit_ratio) || [];
  add("chart-hit-ratio", caches.map((id, i) => ({ label: id + " hit ratio", stroke: PALETTE[i % PALETTE.length] })),
    (m) => caches.map((id) => m.comps[id].hit_ratio), { percent: true });
  const lagged = (live.charts && live.charts.replication_lag) || [];
  add("chart-lag", lagged.flatMap((id, i) => [
    { label: id + " lag mean ms", stroke: PALETTE[i % PALETTE.length] },
    { label: id + " lag max ms", stroke: PALETTE[i % PALETTE.length], width: 1, dash: [6, 4] },
  ]), (m) => lagged.flatMap((id) => [m.comps[id].lag_mean_ms, m.comps[id].lag_max_ms]));
  // every shard a database may have by the end (facts.shards_max) has its line
  const sharded = (live.charts && live.charts.shards) || [];
  const shardLines = sharded.flatMap((id) => {
    const n = ((live.components || {})[id] || {}).shards_max || 1;
    return Array.from({ length: n }, (_, k) => [id, k]);
  });
  add("chart-shards", shardLines.map(([id, k], i) => ({
    label: id + " shard-" + k, stroke: PALETTE[i % PALETTE.length],
  })), (m) => shardLines.map(([id, k]) => shardSeries(m, id, k)), { percent: true });
  return {
    update(m) { for (const c of charts) c.chart.set(m.x, c.feed(m)); },
    resize() { for (const c of charts) c.chart.resize(); },
  };
}

// Shard k's share of a database's requests, window by window (nulls until it exists).
export function shardSeries(m, id, k) {
  const s = m.comps[id].shard_share[k];
  return s || m.x.map(() => null);
}

// The legend of the event kinds present, each with its colour and meaning.
export function drawEventLegend(el, events, kinds) {
  if (!el) return;
  const present = [...new Set(events.map((e) => e.kind))];
  const key = present.join(",");
  if (el.dataset.kinds === key) return;
  el.dataset.kinds = key;
  el.hidden = present.length === 0;
  const label = document.createElement("span");
  label.className = "legend-title";
  label.textContent = "Marks on the charts:";
  el.replaceChildren(label, ...present.map((kind) => {
    const item = document.createElement("span");
    item.dataset.kind = kind;
    item.title = (kinds && kinds[kind]) || kind;
    const sw = document.createElement("span");
    sw.className = "mark-sw";
    sw.style.borderColor = eventColour(kind);
    item.append(sw, kind.replace(/_/g, " "));
    return item;
  }));
}
