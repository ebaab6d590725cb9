// The live run page: stored snapshots first, then live ones over a WebSocket.
// Snapshots carry sequence numbers; a gap asks the server to resync from storage.
(function () {
  "use strict";
  const meta = JSON.parse(document.getElementById("run-meta").textContent);
  const stored = JSON.parse(document.getElementById("snapshots-data").textContent);

  const bySeq = new Map();
  let lastContiguous = -1;
  let status = meta.status;
  let socket = null;
  let retryMs = 500;
  let drawPending = false;
  let reportFetched = false;
  let finalResyncSent = false;
  let chartData = { x: [], rps: [], errors_per_s: [] };  // what the charts draw

  const statusEl = document.getElementById("run-status");
  const errorEl = document.getElementById("run-error");
  const progressEl = document.getElementById("progress-bar");
  const infoEl = document.getElementById("live-info");
  const cancelForm = document.getElementById("cancel-form");

  function width(el) { return Math.max(320, el.clientWidth - 8); }

  const rpsEl = document.getElementById("chart-rps");
  const latEl = document.getElementById("chart-latency");
  const axes = [{ label: "simulated s" }, { label: "" }];
  const rpsChart = new uPlot({
    width: width(rpsEl), height: 220, axes, legend: { live: false },
    scales: { x: { time: false } },
    series: [{ label: "simulated s" }, { label: "throughput rps", stroke: "#2563eb", width: 2 },
                 { label: "failed/s (errors, timeouts, rejected)", stroke: "#dc2626", width: 1 }],
  }, [[], [], []], rpsEl);
  const latChart = new uPlot({
    width: width(latEl), height: 220, axes, legend: { live: false },
    scales: { x: { time: false } },
    series: [{ label: "simulated s" }, { label: "p50 ms", stroke: "#16a34a", width: 2 },
                 { label: "p99 ms", stroke: "#ea580c", width: 2 }],
  }, [[], [], []], latEl);

  // The snapshot contract (simengine/snapshot.py): rates are per second over the
  // snapshot's own window (`*_rps`), and `window_s` is that window's length.
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

  function failedPerSecond(s, prev) {
    if (typeof s.errors_rps === "number") {
      return s.errors_rps + (s.timeouts_rps || 0) + (s.rejected_rps || 0);
    }
    const span = windowOf(s, prev);
    if (span === null) return null;
    return ((s.errors || 0) + (s.timeouts || 0) + (s.rejected || 0)) / span;
  }

  function redraw() {
    drawPending = false;
    const seqs = Array.from(bySeq.keys()).sort((a, b) => a - b);
    const x = [], rps = [], err = [], p50 = [], p99 = [];
    let offset = 0, prevT = 0, prev = null;
    for (const q of seqs) {
      const s = bySeq.get(q);
      // Replications restart simulated time: lay them end to end.
      if (prev !== null && s.replication !== prev.replication) offset = prevT;
      const t = offset + s.t_s;
      prevT = t;
      x.push(t); rps.push(s.rps);
      err.push(failedPerSecond(s, prev));
      p50.push(s.latency_ms ? s.latency_ms.p50 : null);
      p99.push(s.latency_ms ? s.latency_ms.p99 : null);
      prev = s;
    }
    chartData = { x, rps, errors_per_s: err };
    rpsChart.setData([x, rps, err]);
    latChart.setData([x, p50, p99]);
    const last = seqs.length ? bySeq.get(seqs[seqs.length - 1]) : null;
    if (last && progressEl) progressEl.style.width = Math.round(100 * (last.progress || 0)) + "%";
    infoEl.textContent = seqs.length + " snapshots" + (last ? " · last seq " + last.seq : "");
    infoEl.dataset.count = String(seqs.length);
  }

  function scheduleDraw() {
    if (!drawPending) { drawPending = true; requestAnimationFrame(redraw); }
  }

  function add(items) {
    let gap = false;
    for (const s of items) {
      if (s.seq > lastContiguous + 1 && !bySeq.has(lastContiguous + 1)) gap = true;
      bySeq.set(s.seq, s);
    }
    while (bySeq.has(lastContiguous + 1)) lastContiguous += 1;
    scheduleDraw();
    return gap;
  }

  function setStatus(next, error) {
    status = next;
    statusEl.textContent = next;
    statusEl.className = "status status-" + next;
    if (error) {
      errorEl.textContent = error;
      errorEl.hidden = false;
      errorEl.className = next === "cancelled" ? "muted" : "error";
    }
    else if (next === "running" || next === "succeeded") { errorEl.hidden = true; }
    const final = isFinal(next);
    if (final && !reportFetched) {
      reportFetched = true;
      if (cancelForm) cancelForm.remove();
      if (progressEl && next === "succeeded") progressEl.style.width = "100%";
      htmx.ajax("GET", meta.report_url, { target: "#report", swap: "outerHTML" });
    }
    return final;
  }

  function isFinal(s) { return ["succeeded", "failed", "cancelled"].includes(s); }

  // Every snapshot is stored once the run ends: before closing, fill any gap left by
  // live messages that were dropped or sent before this page joined.
  function finish(lastSeq) {
    if (!socket) return;
    const behind = typeof lastSeq === "number" && lastContiguous < lastSeq;
    if (bySeq.size !== lastContiguous + 1 || behind) {
      if (!finalResyncSent) {
        finalResyncSent = true;
        socket.send(JSON.stringify({ type: "resync", after: lastContiguous }));
        return;  // close when the reply's closing status arrives
      }
    }
    socket.close(1000);
  }

  function connect() {
    const proto = location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(proto + location.host + meta.ws_path + "?after=" + lastContiguous);
    socket.onopen = () => { retryMs = 500; };
    socket.onmessage = (ev) => {
      const msg = JSON.parse(ev.data);
      if (msg.type === "snapshots") {
        if (add(msg.items) && !msg.backlog) {
          socket.send(JSON.stringify({ type: "resync", after: lastContiguous }));
        }
      } else if (msg.type === "status") {
        if (msg.restarted) { bySeq.clear(); lastContiguous = -1; scheduleDraw(); }
        if (setStatus(msg.status, msg.error)) finish(msg.last_seq);
      }
    };
    socket.onclose = () => {
      socket = null;
      if (!isFinal(status)) {
        setTimeout(connect, retryMs);
        retryMs = Math.min(retryMs * 2, 8000);
      }
    };
  }

  window.scaleboardRun = { chart: () => chartData };

  add(stored);
  redraw();
  if (!meta.final) connect();

  window.addEventListener("resize", () => {
    rpsChart.setSize({ width: width(rpsEl), height: 220 });
    latChart.setSize({ width: width(latEl), height: 220 });
  });
})();
