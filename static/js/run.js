// The live run page (templates/runs/detail.html). No snapshot comes with the page:
// the WebSocket serves the stored ones first (paged; an outline first when far
// behind), then live ones. Snapshots carry sequence numbers and are kept by seq, so
// a gap asks the server to resync from storage and nothing is held twice.
//
//   run-model.js     series, events and down state derived from the snapshots
//   run-charts.js    the uPlot charts and their event marks
//   run-canvas.js    the live topology (the designer's canvas) and a node's charts
//   run-progress.js  the progress bar, ETA, replications panel, place in line
//   run-presence.js  who is watching
import { derive, downState } from "./run-model.js";
import { headlineCharts, drawEventLegend } from "./run-charts.js";
import { createCanvas } from "./run-canvas.js";
import { createProgress } from "./run-progress.js";
import { createPresence } from "./run-presence.js";

const readJson = (id) => {
  const el = document.getElementById(id);
  try { return el ? JSON.parse(el.textContent) : null; } catch (e) { return null; }
};
const meta = readJson("run-meta");
const live = readJson("run-live") || {};
const componentIds = Object.keys(live.components || {});

const bySeq = new Map();
let lastContiguous = -1;
let status = meta.status;
let socket = null;
let drawPending = false;
let reportFetched = false;
let reportFetchedWithSeq = false;
let reportWait = null;  // closing the socket later: a partial report may follow
// A page opened a moment after a cancel (the Cancel form reloads it): the worker may
// not have stored its partial report yet; its final status, said again, says so.
let awaitingReport = !!meta.report_pending;
const REPORT_WAIT_MS = 20000;
let finalResyncSent = false;
let model = null;
let chartData = { x: [], rps: [], errors_per_s: [] };  // what the charts draw

const statusEl = document.getElementById("run-status");
const errorEl = document.getElementById("run-error");
const infoEl = document.getElementById("live-info");
const cancelForm = document.getElementById("cancel-form");
const eventsEl = document.getElementById("event-log");
const eventsEmptyEl = document.getElementById("event-log-empty");
const legendEl = document.getElementById("event-legend");

const getEvents = () => (model ? model.events : []);
const charts = headlineCharts(live, getEvents);
const progress = createProgress(meta, live);
const presence = createPresence();
let canvas = null;
try {
  canvas = createCanvas(live, { getModel: () => model, getEvents });
} catch (e) {
  console.warn("The topology could not be drawn", e);
}
const initialParts = readJson("run-parts");
if (initialParts) progress.parts(initialParts);

function redraw() {
  drawPending = false;
  const seqs = Array.from(bySeq.keys()).sort((a, b) => a - b);
  model = derive(seqs.map((q) => bySeq.get(q)), componentIds);
  chartData = { x: model.x, rps: model.rps, errors_per_s: model.failed };
  charts.update(model);
  const last = model.last;
  if (last) progress.snapshot(last);
  if (canvas) canvas.update(model, downState(model.events, last ? last.replication : 0));
  infoEl.textContent = seqs.length + " snapshots" + (last ? " · last seq " + last.seq : "");
  infoEl.dataset.count = String(seqs.length);
  drawEvents(model.events);
  drawEventLegend(legendEl, model.events, live.event_kinds);
}

// The event log (simengine/snapshot.py `Event`): every event rides on the snapshot
// of its window, so the stored and live snapshots held by seq are the whole log.
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

function setStatus(next, error, lastSeq) {
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
  // The report region, with the header's verdict swapped in out of band. A final
  // status without `last_seq` is the web's (a cancel, a failure): a worker may store
  // a partial report after it and say the status again, with `last_seq`; the
  // region is fetched again then.
  const withSeq = typeof lastSeq === "number";
  if (final && (!reportFetched || (withSeq && !reportFetchedWithSeq))) {
    reportFetched = true;
    reportFetchedWithSeq = withSeq;
    if (cancelForm) cancelForm.remove();
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
const CLOSE_SHARE_ENDED = 4410;  // the share link was revoked or expired: likewise
const stream = { attempts: 0, failures: 0, delays: [], closes: [], pages: [], live: 0 };
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
  if (typeof lastSeq !== "number" || awaitingReport) {
    // The web's own final status: the worker's (with a partial report and the last
    // seq) may follow once it stops; close if it does not come.
    if (reportWait === null) reportWait = setTimeout(() => { if (socket) socket.close(1000); }, REPORT_WAIT_MS);
    return;
  }
  if (reportWait !== null) { clearTimeout(reportWait); reportWait = null; }
  const behind = lastContiguous < lastSeq;
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
    stream.pages.push({ after: msg.after, through: msg.through, items: msg.items.length, downsampled: !!msg.downsampled });
  } else {
    stream.live += 1;
  }
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
  progress.status(msg);
  if (awaitingReport && isFinal(msg.status)) {
    // The worker's own final status: its report is stored. Or the status that ends
    // the catch-up: the report may have been stored between the page and this socket
    // (the worker's status then came before the socket joined), so fetch once more;
    // a report stored later comes with the worker's status, which this socket hears.
    if (!msg.backlog) awaitingReport = false;
    reportFetched = reportFetchedWithSeq = false;
  }
  if (setStatus(msg.status, msg.error, msg.last_seq)) finish(msg.last_seq);
}

function connect() {
  const proto = location.protocol === "https:" ? "wss://" : "ws://";
  stream.attempts += 1;
  let openedAt = null, delivered = false;
  catchingUp = true;  // the server starts with the stored snapshots after `after`
  pendingAfter = resyncFrom = lastContiguous;
  socket = new WebSocket(proto + location.host + meta.ws_path +
    (meta.ws_path.includes("?") ? "&" : "?") + "after=" + lastContiguous);
  socket.onopen = () => { openedAt = Date.now(); };
  socket.onmessage = (ev) => {
    let msg;
    try { msg = JSON.parse(ev.data); } catch (e) { return; }
    if (!msg || typeof msg !== "object") return;
    delivered = true;
    if (msg.type === "snapshots" && Array.isArray(msg.items)) onSnapshots(msg);
    else if (msg.type === "status") onStatus(msg);
    else if (msg.type === "presence") presence.update(msg);
    else if (msg.type === "parts") progress.parts(msg);
  };
  socket.onclose = (ev) => {
    socket = null;
    presence.update({ viewers: [] });  // not counted any more: say nothing stale
    catchingUp = false;
    stream.closes.push(ev.code);
    if (ev.code === CLOSE_SHARE_ENDED) {
      errorEl.textContent = "This share link was revoked or has expired.";
      errorEl.className = "error";
      errorEl.hidden = false;
      return;
    }
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

// Presence: say every `ping_s` that this page is still watching.
setInterval(() => send({ type: "ping" }), (meta.ping_s || 30) * 1000);

// For tests: what the charts draw, the stream's reconnect and catch-up state (and
// the catch-up pages it was sent), and what the canvas shows.
window.scaleboardRun = {
  chart: () => chartData,
  // A component's series as the charts draw them (run-model.js `comps`).
  component: (id) => (model && model.comps[id]) || null,
  stream: () => ({ ...stream, lastContiguous, held: bySeq.size, catchingUp, status }),
  seqs: () => Array.from(bySeq.keys()).sort((a, b) => a - b),
  canvas: () => (canvas ? canvas.state() : null),
  cy: () => (canvas ? canvas.cy : null),
  openNode: (id) => canvas && canvas.open(id),
  // Where a node is drawn, in page pixels (a test clicks it there).
  nodePoint: (id) => {
    if (!canvas) return null;
    const p = canvas.cy.getElementById(id).renderedPosition();
    const box = canvas.cy.container().getBoundingClientRect();
    return { x: box.left + p.x, y: box.top + p.y };
  },
};

// A finished run's page has its report already.
reportFetched = reportFetchedWithSeq = meta.final;
connect();  // a finished run's too: the stored snapshots come over the socket

window.addEventListener("resize", () => charts.resize());
