// The run page's what-if panel (templates/runs/_whatif.html): show the fields the
// chosen action takes and the targets of the chosen component; hide the panel once
// the run is over (the run status badge says so).
(function () {
  "use strict";
  const panel = document.getElementById("whatif");
  if (!panel) return;
  const form = document.getElementById("whatif-form");
  const component = document.getElementById("whatif-component");
  const target = document.getElementById("whatif-target");

  function action() {
    const checked = form.querySelector("input[name=action]:checked");
    return checked ? checked.value : "fault";
  }

  function sync() {
    const a = action();
    for (const row of form.querySelectorAll(".whatif-row")) {
      const on = row.dataset.for.split(" ").includes(a);
      row.hidden = !on;
      for (const field of row.querySelectorAll("input, select")) field.disabled = !on;
    }
    const id = component.value;
    let firstShown = null;
    for (const opt of target.options) {
      const mine = opt.dataset.component === id;
      opt.hidden = !mine;
      opt.disabled = !mine;
      if (mine && firstShown === null) firstShown = opt;
    }
    if (target.selectedOptions.length === 0 || target.selectedOptions[0].disabled) {
      if (firstShown) firstShown.selected = true;
    }
  }

  form.addEventListener("change", sync);
  sync();

  const FINAL = ["succeeded", "failed", "cancelled"];
  const statusEl = document.getElementById("run-status");
  if (statusEl) {
    const check = () => {
      if (FINAL.includes(statusEl.textContent.trim())) panel.hidden = true;
    };
    new MutationObserver(check).observe(statusEl, { childList: true, characterData: true, subtree: true });
    check();
  }
})();
