// The document round trip: the text in <textarea id="document"> is the single
// source of truth. A canvas edit changes a copy of the parsed tree and POSTs it to
// designer/apply; the answer (text, graph, errors, estimate) replaces the text and
// is drawn. Typing sends the text the same way. Undo and redo are stacks of texts.

export function installDoc(d) {
  const textarea = d.textarea;
  const undoStack = [];
  const redoStack = [];
  let requestSeq = 0;
  let programmatic = false;

  function csrfToken() {
    const input = document.querySelector("#doc-form [name=csrfmiddlewaretoken]");
    if (input) return input.value;
    // A page without the editor's form (read-only): the token htmx sends.
    try {
      return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || "";
    } catch (e) { return ""; }
  }

  async function send(body) {
    const seq = ++requestSeq;
    const response = await fetch(d.applyUrl, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
      body: JSON.stringify(body),
      credentials: "same-origin",
    });
    const data = await response.json().catch(() => ({ error: "unreadable answer" }));
    if (!response.ok) throw new Error(data.error || ("HTTP " + response.status));
    return { seq, data };
  }

  function adopt(data) {
    const state = d.state;
    state.text = data.text;
    state.valid = data.valid;
    state.errors = data.errors || [];
    if (data.tree) {
      state.tree = data.tree;
      state.graph = data.graph;
      state.mermaid = data.mermaid || "";
    }
    state.estimate = data.estimate;
    if (!data.tree) {
      d.setStatus("The document cannot be read, so the canvas shows its last readable state: " +
        state.errors.map((e) => e.path + ": " + e.message).join("; "), true);
    } else if (!data.valid) {
      d.setStatus(state.errors.length + " problem" + (state.errors.length === 1 ? "" : "s") +
        " in the document (listed under the YAML): " + state.errors[0].path + ": " + state.errors[0].message, true);
    } else {
      d.setStatus("");
    }
    d.render();
  }

  // Text typed in the YAML view.
  let typingTimer = null;
  textarea.addEventListener("input", () => {
    if (programmatic || d.readonly) return;
    clearTimeout(typingTimer);
    typingTimer = setTimeout(async () => {
      const text = textarea.value;
      if (text === d.state.text) return;
      const previous = d.state.text;
      try {
        const { seq, data } = await send({ text });
        if (seq !== requestSeq || textarea.value !== text) return;
        pushUndo(previous);
        adopt(data);
      } catch (e) {
        d.setStatus("Could not update the canvas: " + e.message, true);
      }
    }, 350);
  });

  function setText(text) {
    programmatic = true;
    textarea.value = text;
    // Let htmx re-validate into #validation, as if typed.
    textarea.dispatchEvent(new Event("input", { bubbles: true }));
    programmatic = false;
  }

  // Changes to the document run one after another, in the order they were made:
  // a later answer never overtakes an earlier one.
  let queue = Promise.resolve();
  function serially(fn) {
    const next = queue.then(fn, fn);
    queue = next.catch(() => {});
    return next;
  }

  // A canvas edit: mutate a copy of the tree, round trip, take the new text.
  // `describe` is the status line after it, a string or a function of the answer.
  function edit(mutate, describe) {
    return serially(() => editNow(mutate, describe));
  }

  async function editNow(mutate, describe) {
    if (d.readonly) return false;
    if (!d.state.tree) {
      d.setStatus("Fix the document's syntax in the YAML view first: the canvas cannot edit it.", true);
      return false;
    }
    const tree = JSON.parse(JSON.stringify(d.state.tree));
    if (!tree.components || typeof tree.components !== "object") tree.components = {};
    const outcome = mutate(tree);
    if (outcome === false) return false;
    const previous = d.state.text;
    try {
      const { data } = await send({ tree, format: textFormat() });
      pushUndo(previous);
      setText(data.text);
      adopt(data);
      const said = typeof describe === "function" ? describe(data) : describe;
      if (said && data.valid) d.setStatus(said);
      return true;
    } catch (e) {
      d.setStatus("Could not apply the change: " + e.message, true);
      return false;
    }
  }

  function loadText(text) {
    return serially(() => loadTextNow(text));
  }

  // Resolves to null when loaded, or the server's reason when it refused the text.
  async function loadTextNow(text) {
    try {
      const { data } = await send({ text });
      setText(data.text);
      adopt(data);
      return null;
    } catch (e) {
      d.setStatus("Could not load the document: " + e.message, true);
      return e.message;
    }
  }

  // Canvas edits keep the text in the notation it is in: JSON stays JSON.
  function textFormat() {
    return /^\s*\{/.test(textarea.value) ? "json" : "yaml";
  }

  // "View as": the same document in the other notation (an undoable change).
  function viewAs(format) {
    if (d.readonly) return;
    if (!d.state.tree) { d.setStatus("The document cannot be read: fix it first.", true); return; }
    if (textFormat() === format) return;
    serially(async () => {
      const previous = d.state.text;
      try {
        const { data } = await send({ tree: d.state.tree, format });
        pushUndo(previous);
        setText(data.text);
        adopt(data);
        d.setStatus("Showing the document as " + format.toUpperCase() + ".");
      } catch (e) {
        d.setStatus("Could not convert: " + e.message, true);
      }
    });
  }

  function pushUndo(text) {
    if (undoStack.length && undoStack[undoStack.length - 1] === text) return;
    undoStack.push(text);
    if (undoStack.length > 200) undoStack.shift();
    redoStack.length = 0;
    updateUndoButtons();
  }

  function updateUndoButtons() {
    if (d.undoBtn) d.undoBtn.disabled = d.readonly || undoStack.length === 0;
    if (d.redoBtn) d.redoBtn.disabled = d.readonly || redoStack.length === 0;
  }

  async function undo() {
    if (d.readonly || !undoStack.length) return;
    redoStack.push(d.state.text);
    const text = undoStack.pop();
    await loadText(text);
    updateUndoButtons();
    d.setStatus("Undone.");
  }

  async function redo() {
    if (d.readonly || !redoStack.length) return;
    undoStack.push(d.state.text);
    const text = redoStack.pop();
    await loadText(text);
    updateUndoButtons();
    d.setStatus("Redone.");
  }

  Object.assign(d, {
    send, adopt, edit, loadText, viewAs, pushUndo, updateUndoButtons, undo, redo,
  });
}
