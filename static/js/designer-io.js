// Import and export: the document as YAML, JSON or Mermaid, the canvas as a PNG
// (with a white margin), and replacing the document with a file.

export function installIo(d) {
  const cy = d.cy;

  function slug() {
    return (d.root.dataset.name || "scenario").toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "") || "scenario";
  }

  function download(name, href) {
    const a = document.createElement("a");
    a.href = href;
    a.download = name;
    document.body.append(a);
    a.click();
    a.remove();
  }

  function downloadText(name, text, type) {
    const url = URL.createObjectURL(new Blob([text], { type }));
    download(name, url);
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  }

  // The whole diagram at twice the screen's scale on an opaque white background,
  // with a margin around it: Cytoscape's own PNG is cropped to the nodes' edges.
  async function pngWithMargin() {
    const scale = 2;
    const margin = 32 * scale;
    const bare = cy.png({ full: true, scale, bg: "#ffffff" });
    const img = new Image();
    img.src = bare;
    await img.decode();
    const canvas = document.createElement("canvas");
    canvas.width = img.naturalWidth + 2 * margin;
    canvas.height = img.naturalHeight + 2 * margin;
    const g = canvas.getContext("2d");
    g.fillStyle = "#ffffff";
    g.fillRect(0, 0, canvas.width, canvas.height);
    g.drawImage(img, margin, margin);
    return canvas.toDataURL("image/png");
  }

  async function exportAs(kind) {
    const state = d.state;
    if (kind === "yaml") downloadText(slug() + ".yaml", d.textarea.value, "application/yaml");
    else if (kind === "json") {
      if (!state.tree) { d.setStatus("The document cannot be read: nothing to export as JSON.", true); return; }
      downloadText(slug() + ".json", JSON.stringify(state.tree, null, 2) + "\n", "application/json");
    } else if (kind === "mermaid") downloadText(slug() + ".mmd", state.mermaid, "text/plain");
    else if (kind === "png") {
      try {
        download(slug() + ".png", await pngWithMargin());
      } catch (e) {
        d.setStatus("Could not draw the PNG: " + e.message, true);
      }
    }
  }

  document.querySelectorAll("[data-export]").forEach((b) => b.addEventListener("click", () => exportAs(b.dataset.export)));
  document.querySelectorAll("[data-view-as]").forEach((b) => b.addEventListener("click", () => d.viewAs(b.dataset.viewAs)));

  const importFile = document.getElementById("import-file");
  const importBtn = document.getElementById("import-btn");
  if (!importFile || !importBtn) return;
  importBtn.addEventListener("click", () => { if (!d.readonly) importFile.click(); });
  importFile.addEventListener("change", async () => {
    const file = importFile.files && importFile.files[0];
    importFile.value = "";
    if (!file || d.readonly) return;
    if (file.size > 1000000) { d.setStatus("That file is over 1 MB: documents are limited to 1 MB.", true); return; }
    const text = await file.text();
    const previous = d.state.text;
    const refused = await d.loadText(text);
    if (refused !== null) { d.setStatus("Import of " + file.name + " refused: " + refused, true); return; }
    d.pushUndo(previous);
    d.positions = {};
    d.tidy();
    d.setStatus("Imported " + file.name + (d.state.valid ? "." : ": it has problems, listed under the YAML."), !d.state.valid);
  });
}
