// Who is watching the run, from the socket's `presence` messages
// (dashboard/runs/presence.py): "Watching now: alice, carol (you), 1 visitor via
// share link".
const VISITOR = "Visitor via share link";

export function presenceText(viewers, you) {
  const names = [];
  let visitors = 0;
  for (const v of viewers) {
    if (!v || typeof v.label !== "string") continue;
    const count = Number.isInteger(v.count) && v.count > 0 ? v.count : 1;
    if (v.label === VISITOR) { visitors += count; continue; }
    let name = v.label;
    const mine = v.label === you;
    if (mine && count > 1) name += ` (you, ${count} tabs)`;
    else if (mine) name += " (you)";
    else if (count > 1) name += ` (${count} tabs)`;
    names.push(name);
  }
  if (visitors) {
    const mine = you === VISITOR ? " (you" + (visitors > 1 ? " among them" : "") + ")" : "";
    names.push(`${visitors} visitor${visitors === 1 ? "" : "s"} via share link${mine}`);
  }
  return names.length ? "Watching now: " + names.join(", ") : "";
}

export function createPresence() {
  const el = document.getElementById("presence");
  return {
    update(msg) {
      if (!el || !Array.isArray(msg.viewers)) return;
      const text = presenceText(msg.viewers, msg.you);
      el.textContent = text;
      el.hidden = !text;
      el.dataset.viewers = JSON.stringify(msg.viewers);
    },
  };
}
