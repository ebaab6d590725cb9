// What the run page draws, derived from the snapshots it holds (by seq).
//
// The snapshot contract is simengine/snapshot.py: rates are per second over the
// window's own length (`*_rps`), `window_s` is that length, latencies are ms (null
// for an empty window), `utilization` is null for a component with no capacity of
// its own, and events ride on the snapshot of their window (`event_log`).

// Snapshots stored before the contract carry only the counts: divide them by
// `window_s` if present, else by the time since the previous snapshot of the same
// replication (the first of a replication starts at 0). Never by a guess.
function windowOf(s, prev) {
  if (typeof s.window_s === "number" && s.window_s > 0) return s.window_s;
  if (prev && prev.seq === s.seq - 1 && prev.replication === s.replication) {
    const dt = s.t_s - prev.t_s;
    return dt > 0 ? dt : null;
  }
  const first = s.seq === 0 || (prev && prev.seq === s.seq - 1);  // a new replication
  return first && s.t_s > 0 ? s.t_s : null;
}

function rate(s, prev, rpsKey, countKey) {
  if (typeof s[rpsKey] === "number") return s[rpsKey];
  if (typeof s[countKey] !== "number") return null;
  const span = windowOf(s, prev);
  return span === null ? null : s[countKey] / span;
}

function num(v) { return typeof v === "number" && Number.isFinite(v) ? v : null; }

// Events that take an instance or node of a component down, and those that bring
// it back: the canvas marks a component "down" while any of its own is down.
export const DOWN_KINDS = { instance_down: true, primary_down: true, replica_down: true, cache_node_lost: true };
export const UP_KINDS = { instance_up: true, primary_up: true, replica_up: true, cache_node_restored: true };

const SCALAR_KEYS = [
  "utilization", "throughput_rps", "queue_mean", "instances", "hit_ratio", "errors_rps",
  "depth", "lag_ms",  // a queue: messages waiting, the oldest one's age (ms)
];

// The series of every chart, the events (each with its x), and the latest state
// of every component, from snapshots in seq order.
export function derive(snapshots, componentIds) {
  const x = [], rps = [], offered = [], errors = [], timeouts = [], rejected = [];
  const failed = [], p50 = [], p95 = [], p99 = [], events = [];
  const limited = [], retries = [], attempts = [];  // only when the run has them
  const comps = {};
  for (const id of componentIds) {
    comps[id] = {
      utilization: [], throughput_rps: [], queue_mean: [], instances: [], hit_ratio: [], errors_rps: [],
      lag_mean_ms: [], lag_max_ms: [], shard_share: [], depth: [], lag_ms: [],
    };
  }
  let offset = 0, prevT = 0, prev = null;
  for (const s of snapshots) {
    // Replications restart simulated time: lay them end to end.
    if (prev !== null && s.replication !== prev.replication) offset = prevT;
    const t = offset + s.t_s;
    prevT = t;
    x.push(t);
    rps.push(num(s.rps));
    offered.push(num(s.offered_rps));
    const e = rate(s, prev, "errors_rps", "errors");
    const to = rate(s, prev, "timeouts_rps", "timeouts");
    const rj = rate(s, prev, "rejected_rps", "rejected");
    errors.push(e); timeouts.push(to); rejected.push(rj);
    failed.push(e === null ? null : e + (to || 0) + (rj || 0));
    limited.push(num(s.rate_limited_rps));
    retries.push(num(s.retries_rps));
    attempts.push(num(s.attempts_rps));
    const lat = s.latency_ms || {};
    p50.push(num(lat.p50)); p95.push(num(lat.p95)); p99.push(num(lat.p99));
    for (const ev of s.event_log || []) events.push({ ...ev, x: offset + ev.t_s });
    const cs = s.components || {};
    for (const id of componentIds) {
      const c = cs[id] || {};
      const into = comps[id];
      for (const key of SCALAR_KEYS) into[key].push(num(c[key]));
      const lag = c.replication_lag_ms || {};
      into.lag_mean_ms.push(num(lag.mean));
      into.lag_max_ms.push(num(lag.max));
      // one series per shard; a shard added mid-run has nulls before it was born
      const shards = Array.isArray(c.shards) ? c.shards : [];
      const share = into.shard_share;
      for (let k = share.length; k < shards.length; k++) share.push(new Array(x.length - 1).fill(null));
      for (let k = 0; k < share.length; k++) share[k].push(k < shards.length ? num(shards[k].share) : null);
    }
    prev = s;
  }
  return {
    x, rps, offered, errors, timeouts, rejected, failed, limited, retries, attempts,
    p50, p95, p99, events, comps, last: prev,
  };
}

// Which instances or nodes of each component are down at the end of what is held,
// in the replication the latest snapshot belongs to (each one starts afresh).
export function downState(events, replication) {
  const down = {};
  for (const e of events) {
    if (e.replication !== replication || !e.component) continue;
    const what = e.instance !== undefined ? String(e.instance) : (e.kind.startsWith("primary") ? "primary" : e.kind);
    const set = down[e.component] || (down[e.component] = new Set());
    if (DOWN_KINDS[e.kind]) set.add(what);
    else if (UP_KINDS[e.kind]) set.delete(what);
  }
  return down;
}

// The utilization level of the canvas: green < 60%, amber < 85%, red from 85%.
export function level(utilization) {
  if (utilization === null || utilization === undefined) return "none";
  if (utilization < 0.6) return "ok";
  if (utilization < 0.85) return "warm";
  return "hot";
}
