// The sweep page (templates/sweeps/detail.html): four uPlot charts against the
// varied value (throughput; p50 and p99 with their 95% intervals; the failed
// share; the busiest component's utilization), both series of an A/B sweep, the
// knee marked; the answer in words; the points' table. Polls the sweep's data URL
// (dashboard/sweeps/selectors.py sweep_data) every second until the sweep is final.
(function () {
  "use strict";
  const meta = document.getElementById("sweep-meta");
  const initialEl = document.getElementById("sweep-initial");
  if (!meta || !initialEl) return;
  const url = meta.dataset.url;
  const COLOURS = { a: "#2563eb", b: "#ea580c" };
  const LATENCY = { a: ["#16a34a", "#2563eb"], b: ["#ca8a04", "#ea580c"] };
  let lastText = "";
  let charts = [];

  function num(v, digits) {
    if (v === null || v === undefined) return "";
    return Number(v).toLocaleString(undefined, { maximumFractionDigits: digits });
  }
  function pct(v) {
    return v === null || v === undefined ? "" : (100 * v).toFixed(1) + "%";
  }

  function xs(data) {
    const set = new Set();
    for (const s of Object.keys(data.series)) {
      for (const p of data.series[s]) if (p.recorded && p.status === "succeeded") set.add(p.value);
    }
    return Array.from(set).sort((a, b) => a - b);
  }

  function column(data, s, x, pick) {
    const byValue = new Map();
    for (const p of data.series[s] || []) {
      if (p.recorded && p.status === "succeeded") byValue.set(p.value, pick(p));
    }
    return x.map((v) => (byValue.has(v) ? byValue.get(v) : null));
  }

  function kneePlugin(data) {
    return {
      hooks: {
        draw: [
          (u) => {
            const ctx = u.ctx;
            for (const s of Object.keys(data.knee || {})) {
              const k = data.knee[s];
              if (k === null || k === undefined) continue;
              const x = u.valToPos(k, "x", true);
              if (!isFinite(x)) continue;
              ctx.save();
              ctx.strokeStyle = COLOURS[s] || "#111";
              ctx.setLineDash([6, 4]);
              ctx.lineWidth = 2;
              ctx.beginPath();
              ctx.moveTo(x, u.bbox.top);
              ctx.lineTo(x, u.bbox.top + u.bbox.height);
              ctx.stroke();
              ctx.restore();
            }
          },
        ],
      },
    };
  }

  function width(el) {
    return Math.max(280, (el.clientWidth || el.parentElement.clientWidth) - 8);
  }

  function label(data, s) {
    return data.labels && Object.keys(data.series).length > 1 ? " (" + data.labels[s] + ")" : "";
  }

  function draw(data) {
    for (const c of charts) c.destroy();
    charts = [];
    const x = xs(data);
    const names = Object.keys(data.series);
    const specs = [
      ["sweep-chart-throughput", (s) => [[data.vary + " throughput" + label(data, s), (p) => p.throughput_rps, COLOURS[s], []]]],
      ["sweep-chart-latency", (s) => {
        const lines = [
          ["p50 ms" + label(data, s), (p) => p.p50_ms, LATENCY[s][0], []],
          ["p99 ms" + label(data, s), (p) => p.p99_ms, LATENCY[s][1], []],
        ];
        const hasCi = (data.series[s] || []).some((p) => p.p99_ci);
        if (hasCi) {
          for (const [key, name, colour] of [["p50_ci", "p50", LATENCY[s][0]], ["p99_ci", "p99", LATENCY[s][1]]]) {
            lines.push([name + " 95% low" + label(data, s), (p) => (p[key] ? p[key][0] : null), colour, [3, 3]]);
            lines.push([name + " 95% high" + label(data, s), (p) => (p[key] ? p[key][1] : null), colour, [3, 3]]);
          }
        }
        return lines;
      }],
      ["sweep-chart-errors", (s) => [["failed share" + label(data, s), (p) => p.error_rate, COLOURS[s], []]]],
      ["sweep-chart-utilization", (s) => [["busiest utilization" + label(data, s), (p) => p.utilization, COLOURS[s], []]]],
    ];
    for (const [id, linesOf] of specs) {
      const el = document.getElementById(id);
      if (!el) continue;
      const series = [{ label: data.vary }];
      const columns = [x];
      for (const s of names) {
        for (const [name, pick, colour, dash] of linesOf(s)) {
          series.push({ label: name, stroke: colour, width: dash.length ? 1 : 2, dash: dash, points: { show: true, size: dash.length ? 3 : 6 }, spanGaps: true });
          columns.push(column(data, s, x, pick));
        }
      }
      const opts = {
        width: width(el),
        height: 220,
        series: series,
        scales: { x: { time: false } },
        axes: [{ label: data.vary }, {}],
        plugins: [kneePlugin(data)],
      };
      charts.push(new uPlot(opts, columns, el));
    }
  }

  function cell(tr, text, cls) {
    const td = document.createElement("td");
    td.textContent = text;
    if (cls) td.className = cls;
    tr.appendChild(td);
    return td;
  }

  function table(data) {
    const body = document.getElementById("sweep-points-body");
    if (!body) return;
    body.replaceChildren();
    const ab = Object.keys(data.series).length > 1;
    for (const s of Object.keys(data.series)) {
      for (const p of data.series[s]) {
        const tr = document.createElement("tr");
        tr.dataset.testid = "sweep-point";
        if (data.knee && data.knee[s] === p.value) tr.className = "knee";
        cell(tr, num(p.value, 4));
        if (ab) cell(tr, data.labels[s]);
        const status = cell(tr, p.status || "queued");
        status.className = "status status-" + (p.status || "queued");
        cell(tr, num(p.throughput_rps, 1));
        cell(tr, num(p.p50_ms, 1));
        cell(tr, num(p.p99_ms, 1));
        cell(tr, pct(p.error_rate));
        cell(tr, p.busiest ? p.busiest + " " + pct(p.utilization) : "");
        cell(tr, p.met === null || p.met === undefined ? "" : p.met ? "met" : "missed");
        const link = cell(tr, "");
        if (p.url) {
          const a = document.createElement("a");
          a.href = p.url;
          a.textContent = "run";
          link.appendChild(a);
        }
        body.appendChild(tr);
      }
    }
  }

  function answer(data) {
    const el = document.getElementById("sweep-answer");
    if (!el) return;
    el.replaceChildren();
    const names = Object.keys(data.series);
    const lines = [];
    for (const s of names) {
      const prefix = names.length > 1 ? data.labels[s] + ": " : "";
      if (data.answer && data.answer[s]) {
        lines.push(prefix + data.answer[s]);
      } else if (data.kind === "sweep" && data.knee && data.knee[s] !== null && data.knee[s] !== undefined && data.final) {
        const rule = data.knee_rule === "objectives" ? "the largest value whose objectives hold" : "where p99 rises fastest";
        lines.push(prefix + "knee at " + data.vary + " = " + num(data.knee[s], 4) + " (" + rule + ")");
      }
    }
    if (data.comparison) lines.push(data.comparison);
    if (!lines.length) {
      const p = document.createElement("p");
      p.className = "muted";
      p.textContent = data.final ? "No answer: the sweep " + data.status + "." : "The answer appears when the points are in.";
      el.appendChild(p);
      return;
    }
    for (const line of lines) {
      const p = document.createElement("p");
      p.className = "answer";
      p.dataset.testid = "answer-line";
      p.textContent = line;
      el.appendChild(p);
    }
  }

  function show(data) {
    const status = document.getElementById("sweep-status");
    if (status) {
      status.textContent = data.status;
      status.className = "status status-" + data.status;
    }
    const progress = document.getElementById("sweep-progress");
    if (progress) progress.textContent = data.points_done + " of " + data.points_total + " points done";
    const error = document.getElementById("sweep-error");
    if (error) {
      error.textContent = data.error || "";
      error.hidden = !data.error || data.status === "cancelled";
    }
    if (data.final) {
      const cancel = document.getElementById("sweep-cancel-form");
      if (cancel) cancel.hidden = true;
    }
    draw(data);
    table(data);
    answer(data);
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then((r) => (r.ok ? r.text() : Promise.reject(r.status)))
      .then((text) => {
        if (text !== lastText) {
          lastText = text;
          show(JSON.parse(text));
        }
        if (!JSON.parse(text).final) setTimeout(poll, 1000);
      })
      .catch(() => setTimeout(poll, 3000));
  }

  const initial = JSON.parse(initialEl.textContent);
  show(initial);
  if (!initial.final) setTimeout(poll, 1000);
  window.addEventListener("resize", () => { if (lastText || initial) show(lastText ? JSON.parse(lastText) : initial); });
})();
