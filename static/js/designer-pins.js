// Comment pins on the canvas: <script id="designer-pins" type="application/json">
// holds {"<component id>": {"count": N, "url": "<thread url>"}}; each listed
// component gets a badge with N at its top right corner, a link to the thread. The
// badges are HTML over the canvas, moved with the nodes on pan, zoom and drag.

function readPins() {
  const script = document.getElementById("designer-pins");
  if (!script) return {};
  let raw;
  try { raw = JSON.parse(script.textContent); } catch (e) { return {}; }
  const pins = {};
  if (!raw || typeof raw !== "object") return pins;
  for (const [id, pin] of Object.entries(raw)) {
    if (!pin || typeof pin !== "object" || typeof pin.url !== "string") continue;
    const count = Number(pin.count);
    if (!Number.isInteger(count) || count < 1) continue;
    let url;
    try { url = new URL(pin.url, window.location.href); } catch (e) { continue; }
    if (url.protocol !== "http:" && url.protocol !== "https:") continue;  // never javascript:
    pins[id] = { count, url: url.href };
  }
  return pins;
}

export function installPins(d) {
  const cy = d.cy;
  const pins = readPins();
  const layer = document.getElementById("pin-layer");
  const badges = {};
  d.drawPins = () => {};
  if (!layer || !Object.keys(pins).length) return;

  function place() {
    const w = layer.clientWidth, h = layer.clientHeight;
    for (const [id, badge] of Object.entries(badges)) {
      const node = cy.getElementById(id);
      if (node.empty()) { badge.hidden = true; continue; }
      const bb = node.renderedBoundingBox({ includeLabels: false, includeOverlays: false, includeUnderlays: false, includeOutlines: false });
      const x = bb.x2 - 4, y = bb.y1 + 4;
      badge.hidden = x < 0 || y < 0 || x > w || y > h;
      badge.style.transform = "translate(" + Math.round(x) + "px, " + Math.round(y) + "px) translate(-50%, -50%)";
    }
  }

  d.drawPins = () => {
    for (const [id, pin] of Object.entries(pins)) {
      if (badges[id] || cy.getElementById(id).empty()) continue;
      const a = document.createElement("a");
      a.className = "pin-badge";
      a.href = pin.url;
      a.dataset.component = id;
      a.textContent = pin.count > 99 ? "99+" : String(pin.count);
      const what = pin.count + " comment" + (pin.count === 1 ? "" : "s") + " on " + (id === d.CLIENTS ? "the clients" : id);
      a.title = what;
      a.setAttribute("aria-label", what);
      layer.append(a);
      badges[id] = a;
    }
    place();
  };
  cy.on("viewport resize position", place);
}
