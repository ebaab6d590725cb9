// The "Copy" button beside a new share link: the clipboard when the browser
// allows it, else the URL selected for the user to copy themselves.
(function () {
  "use strict";
  document.querySelectorAll("[data-copy-target]").forEach((button) => {
    const input = document.getElementById(button.dataset.copyTarget);
    const status = document.getElementById("copy-status");
    if (!input) return;
    function selectIt(message) {
      input.focus();
      input.select();
      if (status) status.textContent = message;
    }
    button.addEventListener("click", async () => {
      if (navigator.clipboard && window.isSecureContext) {
        try {
          await navigator.clipboard.writeText(input.value);
          if (status) status.textContent = "Copied.";
          return;
        } catch (e) { /* refused: fall back to selecting it */ }
      }
      selectIt("Selected: press Ctrl+C (or ⌘C) to copy.");
    });
    input.addEventListener("focus", () => input.select());
  });
})();
