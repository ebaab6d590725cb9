// The report page (templates/runs/summary.html): three uPlot charts of the run's
// timeline, downsampled by the server (dashboard/runs/timeline.py `chart_data`),
// with the compared run's series dashed on the same axis; the Print button; charts
// resized to the page when printing.
(function () {
  "use strict";
  const printButton = document.getElementById("print-report");
  if (printButton) printButton.addEventListener("click", () => window.print());

  const dataEl = document.getElementById("summary-chart");
  if (!dataEl || typeof uPlot === "undefined") return;
  const data = JSON.parse(dataEl.textContent);
  if (!data) return;
  const compare = data.compare;
  const theirs = data.compare_label || "compared run";

  // key, label, colour of each series of a chart.
  const CHARTS = [
    ["chart-throughput", [
      ["rps", "completed rps", "#2563eb"],
      ["offered_rps", "offered rps", "#64748b"],
    ]],
    ["chart-latency", [
      ["p50", "p50 ms", "#16a34a"],
      ["p95", "p95 ms", "#ca8a04"],
      ["p99", "p99 ms", "#ea580c"],
    ]],
    ["chart-failures", [
      ["errors_rps", "errors/s", "#dc2626"],
      ["timeouts_rps", "timeouts/s", "#7c3aed"],
      ["rejected_rps", "rejected/s", "#92400e"],
    ]],
  ];

  // The compared run: the same colour, lighter, dashed.
  function faded(hex) {
    const n = parseInt(hex.slice(1), 16);
    return `rgba(${n >> 16}, ${(n >> 8) & 255}, ${n & 255}, 0.55)`;
  }

  function width(el) {
    return Math.max(280, (el.clientWidth || el.parentElement.clientWidth) - 8);
  }

  const charts = [];
  for (const [id, lines] of CHARTS) {
    const el = document.getElementById(id);
    if (!el) continue;
    const series = [{ label: "simulated s" }];
    const columns = [data.x];
    for (const [key, label, colour] of lines) {
      series.push({ label, stroke: colour, width: 2, spanGaps: true });
      columns.push(data.series[key]);
    }
    if (compare) {
      for (const [key, label, colour] of lines) {
        series.push({
          label: `${label} (${theirs})`, stroke: faded(colour), width: 1.5,
          dash: [6, 4], spanGaps: true,
        });
        columns.push(compare[key]);
      }
    }
    const chart = new uPlot({
      width: width(el), height: 220, legend: { live: false },
      scales: { x: { time: false } },
      axes: [{ label: "simulated s" }, {}],
      series,
    }, columns, el);
    el.dataset.points = String(data.x.length);
    charts.push([el, chart]);
  }

  function resize() {
    for (const [el, chart] of charts) chart.setSize({ width: width(el), height: 220 });
  }
  window.addEventListener("resize", resize);
  // Printing lays the charts out one a row at the page's width (report.css): redraw
  // them at that width, and back when the print is over.
  const print = window.matchMedia("print");
  const onPrint = () => requestAnimationFrame(resize);
  if (print.addEventListener) print.addEventListener("change", onPrint);
  window.addEventListener("beforeprint", resize);
  window.addEventListener("afterprint", resize);
})();
