// The run's progress: a bar, simulated time of the replication shown over the
// horizon, wall time since it started, an ETA (elapsed x (1 - p) / p), the
// replication in progress; the replications panel of a fanned-out run (the
// `parts` message); and a queued run's place in line.

function ordinal(n) {
  if (n % 100 >= 10 && n % 100 <= 20) return n + "th";
  return n + ({ 1: "st", 2: "nd", 3: "rd" }[n % 10] || "th");
}

// "Queued · 2nd in line · 2 workers up" (the server renders the same first:
// runs_extras.queue_text); empty without the keys.
export function queueText(msg) {
  const parts = ["Queued"];
  if (Number.isInteger(msg.position) && msg.position > 0) parts.push(ordinal(msg.position) + " in line");
  if (Number.isInteger(msg.workers) && msg.workers >= 0) {
    parts.push(msg.workers === 0 ? "no worker up" : msg.workers + " worker" + (msg.workers === 1 ? "" : "s") + " up");
  }
  return parts.length > 1 ? parts.join(" · ") : "";
}

export function duration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return s + " s";
  const m = Math.floor(s / 60), r = s % 60;
  if (m < 60) return m + " min" + (r ? " " + r + " s" : "");
  const h = Math.floor(m / 60);
  return h + " h" + (m % 60 ? " " + (m % 60) + " min" : "");
}

function simSeconds(v) { return Number(v.toFixed(v < 10 ? 1 : 0)) + " s"; }

function fig(v, digits) { return v === null || v === undefined ? "-" : Number(v).toFixed(digits); }

export function createProgress(meta, live) {
  const byId = (id) => document.getElementById(id);
  const bar = byId("progress-bar");
  const simEl = byId("progress-sim"), wallEl = byId("progress-wall");
  const etaEl = byId("progress-eta"), repEl = byId("progress-replication");
  const queueEl = byId("run-queue");
  const partsPanel = byId("parts-panel"), partsRows = byId("parts-rows"), partsSummary = byId("parts-summary");
  const sim = live.simulation || null;
  const planned = sim ? sim.replications : 1;
  let startedAt = meta.started_at ? Date.parse(meta.started_at) : null;
  let finishedAt = meta.finished_at ? Date.parse(meta.finished_at) : null;
  let status = meta.status;
  let last = null;
  let parts = null;
  let p = 0;

  function fraction() {
    if (parts && parts.parts.length) {
      const total = parts.planned || parts.parts.length;
      const done = parts.parts.reduce((a, q) => a + (q.status === "succeeded" ? 1 : Math.min(1, Math.max(0, q.progress || 0))), 0);
      return done / total;
    }
    return last && typeof last.progress === "number" ? last.progress : 0;
  }

  function draw() {
    p = status === "succeeded" ? 1 : fraction();
    if (bar) bar.style.width = Math.round(100 * p) + "%";
    if (simEl) {
      simEl.textContent = last && sim
        ? `simulated ${simSeconds(last.t_s)} of ${simSeconds(sim.horizon_s)}` + (last.warmup ? " (warm-up)" : "")
        : "";
    }
    const now = finishedAt && status !== "running" && status !== "queued" ? finishedAt : Date.now();
    const elapsed = startedAt ? (now - startedAt) / 1000 : null;
    if (wallEl) wallEl.textContent = elapsed !== null && status !== "queued" ? " · " + duration(elapsed) + " of wall time" : "";
    if (etaEl) {
      // A projection at the pace so far: said once there is a pace to go by.
      etaEl.textContent = status === "running" && elapsed !== null && elapsed >= 2 && p > 0.01 && p < 1
        ? " · about " + duration(elapsed * (1 - p) / p) + " left" : "";
    }
    if (repEl) {
      if (parts && parts.parts.length) {
        const done = parts.parts.filter((q) => q.status === "succeeded").length;
        const running = parts.parts.filter((q) => q.status === "running").length;
        repEl.textContent = ` · replications: ${done} of ${parts.planned} done` + (running ? `, ${running} running` : "");
      } else if (planned > 1 && last) {
        repEl.textContent = status === "running" ? ` · replication ${last.replication + 1} of ${planned}` : ` · ${planned} replications`;
      } else repEl.textContent = "";
    }
  }

  function drawParts() {
    if (!partsPanel || !parts || !parts.parts.length) return;
    partsPanel.hidden = false;
    const done = parts.parts.filter((q) => q.status === "succeeded").length;
    partsSummary.textContent = `(${done} of ${parts.planned} done)`;
    partsRows.replaceChildren(...parts.parts.map((q) => {
      const tr = document.createElement("tr");
      tr.dataset.replication = String(q.replication);
      tr.dataset.status = q.status;
      const cells = [
        String(q.replication + 1), q.status, q.worker || "-", String(q.attempts || 0),
        Math.round(100 * (q.status === "succeeded" ? 1 : q.progress || 0)) + "%",
        q.throughput_rps === null || q.throughput_rps === undefined ? "-" : fig(q.throughput_rps, 1) + " rps",
        q.p99_ms === null || q.p99_ms === undefined ? "-" : fig(q.p99_ms, 1) + " ms",
        q.error_rate === null || q.error_rate === undefined ? "-" : fig(100 * q.error_rate, 2) + "%",
      ];
      for (const text of cells) {
        const td = document.createElement("td");
        td.textContent = text;
        tr.append(td);
      }
      tr.children[1].className = "status status-" + q.status;
      return tr;
    }));
  }

  const timer = setInterval(() => {
    draw();
    if (status !== "running" && status !== "queued") clearInterval(timer);
  }, 1000);

  return {
    snapshot(s) { last = s; draw(); },
    status(msg) {
      status = msg.status;
      if (status === "running" && !startedAt) startedAt = Date.now();
      if (["succeeded", "failed", "cancelled"].includes(status) && !finishedAt) finishedAt = Date.now();
      if (queueEl) {
        const text = status === "queued" ? queueText(msg) : "";
        // Keep the first render's text until a status message says otherwise.
        if (status !== "queued" || text) { queueEl.textContent = text; queueEl.hidden = !text; }
      }
      draw();
    },
    parts(msg) {
      if (!msg || !Array.isArray(msg.parts)) return;
      parts = { planned: msg.planned || msg.parts.length, parts: msg.parts.slice().sort((a, b) => a.replication - b.replication) };
      drawParts();
      draw();
    },
    fraction: () => p,
  };
}
