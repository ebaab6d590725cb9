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
    const x = [], rps = [], err = [], p50 = [], p99 = [], events = [];
    let offset = 0, prevT = 0, prev = null;
    for (const q of seqs) {
      const s = bySeq.get(q);
      if (s.event_log) events.push(...s.event_log);
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
    drawEvents(events);
  }

  // The event log (simengine/snapshot.py `Event`): every event rides on the snapshot
  // of its window, so the stored and live snapshots held by seq are the whole log.
  const eventsEl = document.getElementById("event-log");
  const eventsEmptyEl = document.getElementById("event-log-empty");
  let eventsShown = -1;
  function drawEvents(events) {
    if (!eventsEl || events.length === eventsShown) return;
    eventsShown = events.length;
    const several = events.some((e) => e.replication > 0);
    eventsEl.replaceChildren(...events.map((e) => {
      const li = document.createElement("li");
      li.dataset.kind = e.kind;
      const when = document.createElement("span");
      when.className = "muted";
      when.textContent = (several ? `rep ${e.replication} · ` : "") + `t=${Number(e.t_s.toFixed(2))} s`;
      const what = document.createElement("span");
      what.textContent = (e.component ? e.component + ": " : "") + e.text;
      li.append(when, " ", what);
      return li;
    }));
    if (eventsEmptyEl) eventsEmptyEl.hidden = events.length > 0;
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

  // Reconnects back off exponentially with jitter, and the backoff is forgotten only
  // once a connection has stayed open and delivered data for STABLE_MS: a socket that
  // opens and is closed at once (a server refusing or failing) keeps it growing.
  const BACKOFF_BASE_MS = 500, BACKOFF_CAP_MS = 30000, STABLE_MS = 5000;
  const CLOSE_UNAUTHORIZED = 4401;  // the login session ended: reconnecting cannot help
  const stream = { attempts: 0, failures: 0, delays: [], closes: [] };
  let catchingUp = false;   // a catch-up (pages of stored snapshots) is under way
  let pendingAfter = null;  // the `after` of the page asked for last
  let resyncFrom = null;    // lastContiguous when the current catch-up was asked for

  function backoffDelay() {
    const base = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** stream.failures);
    return base / 2 + Math.random() * base / 2;  // in [base/2, base]: never shrinks
  }

  function send(message) {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
  }

  // Ask for the stored snapshots after the last contiguous one. They come in pages
  // (each asked for in turn); live ones keep coming in between and are kept by seq,
  // so nothing is lost, and no other resync is asked for until this one is done.
  function resync() {
    catchingUp = true;
    pendingAfter = resyncFrom = lastContiguous;
    send({ type: "resync", after: lastContiguous });
  }

  function complete() { return bySeq.size === lastContiguous + 1; }

  // Every snapshot is stored once the run ends: before closing, fill any gap left by
  // live messages that were dropped or sent before this page joined.
  function finish(lastSeq) {
    if (!socket || catchingUp) return;  // the catch-up's own closing status comes back here
    const behind = typeof lastSeq === "number" && lastContiguous < lastSeq;
    if ((!complete() || behind) && !finalResyncSent) {
      finalResyncSent = true;
      resync();
      return;  // close when the catch-up's closing status arrives
    }
    socket.close(1000);
  }

  function onSnapshots(msg) {
    const gap = add(msg.items);
    if (msg.backlog) {
      if (msg.more && msg.after === pendingAfter) {
        pendingAfter = msg.through;
        send({ type: "page", after: msg.through });
      }
    } else if (gap && !catchingUp) {
      resync();
    }
  }

  function onStatus(msg) {
    if (msg.restarted) {
      bySeq.clear(); lastContiguous = -1; scheduleDraw();
      resyncFrom = -2;  // a catch-up under way ends with a fresh one from the start
    }
    if (msg.backlog && catchingUp) {
      catchingUp = false;
      pendingAfter = null;
      // Live snapshots held past a hole (a live message lost during the catch-up):
      // once more, but only if this catch-up moved (stored seqs have no holes).
      if (!complete() && lastContiguous > resyncFrom) resync();
    }
    if (setStatus(msg.status, msg.error)) finish(msg.last_seq);
  }

  function connect() {
    const proto = location.protocol === "https:" ? "wss://" : "ws://";
    stream.attempts += 1;
    let openedAt = null, delivered = false;
    catchingUp = true;  // the server starts with the stored snapshots after `after`
    pendingAfter = resyncFrom = lastContiguous;
    socket = new WebSocket(proto + location.host + meta.ws_path + "?after=" + lastContiguous);
    socket.onopen = () => { openedAt = Date.now(); };
    socket.onmessage = (ev) => {
      let msg;
      try { msg = JSON.parse(ev.data); } catch (e) { return; }
      delivered = true;
      if (msg.type === "snapshots") onSnapshots(msg);
      else if (msg.type === "status") onStatus(msg);
    };
    socket.onclose = (ev) => {
      socket = null;
      catchingUp = false;
      stream.closes.push(ev.code);
      if (ev.code === CLOSE_UNAUTHORIZED) {
        errorEl.textContent = "You were signed out: reload the page to sign in again.";
        errorEl.className = "error";
        errorEl.hidden = false;
        return;
      }
      if (isFinal(status)) return;
      const stable = openedAt !== null && delivered && Date.now() - openedAt >= STABLE_MS;
      if (stable) stream.failures = 0;
      const delay = backoffDelay();
      stream.failures = Math.min(stream.failures + 1, 16);
      stream.delays.push(Math.round(delay));
      setTimeout(connect, delay);
    };
  }

  // For tests: what the charts draw, and the stream's reconnect and catch-up state.
  window.scaleboardRun = {
    chart: () => chartData,
    stream: () => ({ ...stream, lastContiguous, held: bySeq.size, catchingUp, status }),
  };

  add(stored);
  redraw();
  if (!meta.final) connect();

  window.addEventListener("resize", () => {
    rpsChart.setSize({ width: width(rpsEl), height: 220 });
    latChart.setSize({ width: width(latEl), height: 220 });
  });
})();
