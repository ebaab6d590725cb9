// The sweep form (templates/sweeps/new.html): show the fields of the chosen mode
// (sweep values, or the capacity search's range). Without JavaScript both show.
(function () {
  "use strict";
  const form = document.getElementById("sweep-form");
  if (!form) return;
  function update() {
    const checked = form.querySelector("input[name=kind]:checked");
    const kind = checked ? checked.value : "sweep";
    for (const fs of form.querySelectorAll(".sweep-mode")) {
      fs.hidden = fs.dataset.mode !== kind;
    }
  }
  for (const radio of form.querySelectorAll("input[name=kind]")) {
    radio.addEventListener("change", update);
  }
  update();
})();
