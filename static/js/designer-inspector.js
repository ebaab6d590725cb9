// Selection and the inspector: the selected component's form (htmx, from
// designer/inspect), the keyboard path's "Selected" and "Connect it to" lists, and
// taking the text an applied inspector form sends back.

export function installInspector(d) {
  const cy = d.cy;
  const CLIENTS = d.CLIENTS;

  function select(id) {
    d.selectedId = id;
    cy.$(":selected").unselect();
    if (id) {
      const n = cy.getElementById(id);
      if (n.nonempty()) n.select();
    }
    if (d.selectNode) d.selectNode.value = id || "";
    refreshConnectTargets();
    if (id === CLIENTS) openInspector("workload");
    else if (id) openInspector(id);
  }

  // The inspector shows the last thing asked for: a slower answer for an earlier
  // selection never stays on screen.
  let inspectorWanted = null;
  function openInspector(target, attempt) {
    if (typeof htmx === "undefined" || !document.getElementById("inspector")) return;
    inspectorWanted = target;
    const values = { subject: target, document: d.textarea.value };
    if (d.readonly) values.readonly = "1";
    htmx.ajax("POST", d.inspectUrl, {
      source: "#inspector", target: "#inspector", swap: "outerHTML", values,
    }).then(() => {
      const shown = document.querySelector("#inspector [name=subject]");
      if (inspectorWanted === target || !shown) return;
      if (shown.value !== inspectorWanted && (attempt || 0) < 2) openInspector(inspectorWanted, (attempt || 0) + 1);
    }).catch(() => {});
  }

  function refreshSelects() {
    if (!d.selectNode) return;
    const ids = cy.nodes().map((n) => n.id());
    const current = d.selectNode.value;
    d.selectNode.replaceChildren(new Option("(none)", ""));
    for (const id of ids) {
      const label = id === CLIENTS ? "Clients (workload)" : id + " — " + (d.TYPE_NAMES[d.nodeType(id)] || "").toLowerCase();
      d.selectNode.add(new Option(label, id));
    }
    d.selectNode.value = ids.includes(current) ? current : "";
    refreshConnectTargets();
  }

  function refreshConnectTargets() {
    const list = d.connectTarget;
    if (!list) return;
    list.replaceChildren(new Option("(choose)", ""));
    const src = d.selectNode ? d.selectNode.value : "";
    cy.nodes().forEach((n) => {
      if (n.id() !== src && n.id() !== CLIENTS) list.add(new Option(n.id(), n.id()));
    });
  }

  // htmx binds a freshly swapped inspector's form only when the swap settles (20 ms
  // after it shows, longer on a busy page): a field changed before that would never
  // be sent. Remember it, and send the form once it is bound.
  let inspectorChangedEarly = false;
  document.body.addEventListener("change", (e) => {
    const inspector = document.getElementById("inspector");
    if (inspector && inspector.classList.contains("htmx-added") && inspector.contains(e.target)) {
      inspectorChangedEarly = true;
    }
  });

  // The inspector applied a change: take the new text it sends back.
  document.body.addEventListener("htmx:afterSettle", () => {
    const early = inspectorChangedEarly;
    inspectorChangedEarly = false;
    const resend = () => {
      const form = document.getElementById("inspector-form");
      if (early && form && !d.readonly) htmx.trigger(form, "change");
    };
    const el = document.getElementById("inspector-result");
    if (!el || el.dataset.done) { resend(); return; }
    el.dataset.done = "1";
    if (d.readonly) return;
    const text = JSON.parse(el.textContent);
    if (text === d.state.text) { resend(); return; }
    d.pushUndo(d.state.text);
    d.loadText(text).then(resend);
  });

  Object.assign(d, { select, openInspector, refreshSelects, refreshConnectTargets });
}

// An empirical distribution's samples from a CSV file, read in the browser (nothing is
// uploaded): the first number of each line goes into the samples box, which then
// changes like a typed edit (the inspector form applies it). The file input's own
// change is stopped first, so the form does not apply before the samples are in.
document.addEventListener("change", (event) => {
  const input = event.target;
  if (!(input instanceof HTMLInputElement) || !input.dataset.samplesFile) return;
  event.stopPropagation();
  const box = document.getElementById(input.dataset.samplesFile);
  const file = input.files && input.files[0];
  if (!box || !file) return;
  file.text().then((text) => {
    const numbers = [];
    for (const line of text.split(/\r?\n/)) {
      const match = line.match(/-?\d+(\.\d+)?([eE][-+]?\d+)?/);
      if (match) numbers.push(match[0]);
    }
    box.value = numbers.join(", ");
    input.value = "";
    box.dispatchEvent(new Event("change", { bubbles: true }));
  });
}, true);
