// The topology designer: a Cytoscape canvas over the YAML document.
//
// The document text in <textarea id="document"> is the single source of truth.
// Every canvas edit changes a copy of the parsed tree, sends it to the server
// (POST designer/apply), and gets back the new YAML text, the graph to draw, the
// errors and the instant estimate; the text goes into the textarea. Typing in the
// textarea sends the text the same way and the canvas follows. Undo and redo are
// stacks of document texts. Node positions live in the hidden "layout" field that
// "Save version" stores with the version.
//
// This module wires the parts together (ES modules, no build step):
//   designer-graph.js      the canvas: styles, labels, drawing, layout
//   designer-doc.js        the server round trip, edits, undo and redo
//   designer-edit.js       add, connect, delete, rename, duplicate
//   designer-inspector.js  selection and the inspector
//   designer-estimate.js   the estimate panel
//   designer-io.js         import and export (PNG too)
//   designer-pins.js       comment badges on components
// `data-readonly="true"` on <section id="designer"> makes it view-only: selection,
// fit, zoom, the inspector's values and the exports work; nothing changes the
// document or the layout.
import { installDoc } from "./designer-doc.js";
import { installEdit } from "./designer-edit.js";
import { installEstimate } from "./designer-estimate.js";
import { installGraph } from "./designer-graph.js";
import { installInspector } from "./designer-inspector.js";
import { installIo } from "./designer-io.js";
import { installPins } from "./designer-pins.js";

const root = document.getElementById("designer");
const textarea = document.getElementById("document");

function readPositions() {
  try {
    const saved = JSON.parse(document.getElementById("designer-layout").textContent || "{}");
    return (saved && saved.positions) || {};
  } catch (e) { return {}; }
}

function start() {
  const byId = (id) => document.getElementById(id);
  // The document's vocabularies (component types and their labels, algorithms,
  // distributions...) come from the server, defined once in simengine.
  const VOCAB = JSON.parse(byId("designer-vocabulary").textContent);
  const statusEl = byId("designer-status");
  const d = {
    root,
    textarea,
    readonly: root.dataset.readonly === "true",
    applyUrl: root.dataset.applyUrl,
    inspectUrl: root.dataset.inspectUrl,
    layoutInput: byId("layout-input"),
    selectNode: byId("select-node"),
    connectTarget: byId("connect-target"),
    connectModeBtn: byId("connect-mode"),
    undoBtn: byId("undo-btn"),
    redoBtn: byId("redo-btn"),
    CLIENTS: "__clients__",
    VOCAB,
    TYPE_NAMES: { clients: "Clients", ...VOCAB.type_labels, unknown: "Unknown type" },
    state: { text: textarea.value, tree: null, graph: null, estimate: null, valid: false, errors: [], mermaid: "" },
    positions: readPositions(),
    selectedId: null,
    setStatus(text, isError) {
      if (!statusEl) return;
      statusEl.textContent = text || "";
      statusEl.classList.toggle("error", !!isError);
    },
  };

  installEstimate(d);
  installGraph(d);
  installPins(d);
  installDoc(d);
  installEdit(d);
  installInspector(d);
  installIo(d);
  wireToolbar(d);
  if (d.readonly) makeReadonly(d);

  d.updateUndoButtons();
  if (Object.keys(d.positions).length && d.layoutInput) d.layoutInput.value = JSON.stringify({ positions: d.positions });
  window.scaleboardDesigner = { cy: d.cy, state: () => d.state, positions: () => d.positions, readonly: d.readonly };
  // A refused Save or Run of text that cannot be read: the page carries the latest
  // saved version, so the canvas shows that instead of nothing.
  const fallbackEl = byId("designer-fallback");
  async function readableFallback(data) {
    if (data.tree || !fallbackEl) return;
    try {
      const { data: saved } = await d.send({ text: JSON.parse(fallbackEl.textContent) });
      if (saved.tree) {
        d.state.tree = saved.tree;
        d.state.graph = saved.graph;
        d.state.mermaid = saved.mermaid || "";
      }
    } catch (e) { /* the status line reports the unreadable text itself */ }
  }

  d.send({ text: textarea.value }).then(async ({ data }) => {
    await readableFallback(data);
    d.adopt(data);
    if (Object.keys(d.positions).length) d.fitView();
    if (d.readonly) d.setStatus("Read-only: you can select, zoom, fit and export, but not change this design.");
    root.dataset.ready = "1";
  }).catch((e) => d.setStatus("Could not read the document: " + e.message, true));
}

function wireToolbar(d) {
  const on = (id, fn) => { const b = document.getElementById(id); if (b) b.addEventListener("click", fn); };
  root.querySelectorAll("[data-add]").forEach((b) => b.addEventListener("click", () => d.addComponent(b.dataset.add)));
  root.querySelectorAll("[data-section]").forEach((b) => b.addEventListener("click", () => d.openInspector(b.dataset.section)));
  on("connect-mode", () => d.setConnectMode(!d.connectModeOn()));
  on("duplicate-btn", d.duplicateSelection);
  on("rename-btn", d.renameSelection);
  on("delete-btn", d.deleteSelection);
  on("undo-btn", d.undo);
  on("redo-btn", d.redo);
  on("fit-btn", d.fitView);
  on("tidy-btn", () => { if (!d.readonly) d.tidy(); });
  if (d.selectNode) d.selectNode.addEventListener("change", () => d.select(d.selectNode.value || null));
  on("connect-btn", () => {
    const src = d.selectNode.value;
    const tgt = d.connectTarget.value;
    if (!src || !tgt) { d.setStatus("Choose the selected component and what to connect it to.", true); return; }
    d.connect(src, tgt);
  });

  document.addEventListener("keydown", (e) => {
    const t = e.target;
    const typing = t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable);
    if (typing || d.readonly) return;  // the text fields keep their own undo and delete
    const mod = e.ctrlKey || e.metaKey;
    if (mod && (e.key === "z" || e.key === "Z")) {
      e.preventDefault();
      if (e.shiftKey) d.redo(); else d.undo();
    } else if (mod && (e.key === "y" || e.key === "Y")) {
      e.preventDefault(); d.redo();
    } else if (mod && (e.key === "d" || e.key === "D")) {
      e.preventDefault(); d.duplicateSelection();
    } else if (e.key === "Delete" || e.key === "Backspace") {
      if (!d.cy.$(":selected").empty()) { e.preventDefault(); d.deleteSelection(); }
    } else if (e.key === "F2") {
      e.preventDefault(); d.renameSelection();
    } else if (e.key === "Escape" && d.connectModeOn()) {
      d.setConnectMode(false);
    }
  });
}

// View-only: nodes cannot be dragged, the edit controls ([data-edit], here and in
// the editor's head) are hidden and disabled, and the YAML view cannot be typed
// into. designer.css hides them too, before this script runs.
function makeReadonly(d) {
  d.cy.autoungrabify(true);
  document.querySelectorAll("[data-edit]").forEach((el) => {
    el.hidden = true;
    if ("disabled" in el) el.disabled = true;
  });
  d.textarea.readOnly = true;
}

if (root && textarea && typeof cytoscape === "function") start();
