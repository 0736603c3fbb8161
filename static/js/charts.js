/* Limit Desk charts: Chart.js (static/vendor/chartjs) fed from json_script data.
 *
 * Each chart is <canvas data-chart="ID" role="img" aria-label="..."> next to a
 * table with the same figures (the accessible alternative). ID names a
 * <script type="application/json"> holding:
 *   {kind: "bar" | "line", labels: [...], series: [{label, data, color}],
 *    horizontal, stacked, stepped, money}
 *   or {kind: "time", ...}: see drawTime.
 * Charts in content swapped in by HTMX are drawn on htmx:load.
 */
(function () {
  "use strict";
  var money = new Intl.NumberFormat(document.documentElement.lang || "en", {
    style: "currency", currency: "CNY", maximumFractionDigits: 0,
  });

  function draw(canvas) {
    if (canvas.dataset.drawn || typeof Chart === "undefined") return;
    var source = document.getElementById(canvas.dataset.chart);
    if (!source) return;
    var spec = JSON.parse(source.textContent);
    canvas.dataset.drawn = "1";
    if (spec.kind === "time") { drawTime(canvas, spec); return; }
    var valueAxis = {
      stacked: !!spec.stacked,
      beginAtZero: true,
      ticks: spec.money ? { callback: function (v) { return money.format(v); } } : { precision: 0 },
    };
    var labelAxis = { stacked: !!spec.stacked, ticks: { autoSkip: true, maxRotation: 0 } };
    new Chart(canvas, {
      type: spec.kind,
      data: {
        labels: spec.labels,
        datasets: spec.series.map(function (s) {
          return {
            label: s.label, data: s.data, backgroundColor: s.color, borderColor: s.color,
            stepped: spec.stepped ? "before" : false, pointRadius: 3, borderWidth: 2,
          };
        }),
      },
      options: {
        indexAxis: spec.horizontal ? "y" : "x",
        animation: false,
        maintainAspectRatio: false,
        plugins: {
          legend: { display: spec.series.length > 1 },
          tooltip: spec.money ? {
            callbacks: { label: function (c) { return c.dataset.label + ": " + money.format(c.parsed[spec.horizontal ? "x" : "y"]); } },
          } : {},
        },
        scales: spec.horizontal ? { x: valueAxis, y: labelAxis } : { x: labelAxis, y: valueAxis },
      },
    });
  }

  /* kind "time": series [{label, data: [{x: ms since epoch, y}], color, axis: "money" |
   * "score"}] on a linear x axis of timestamps (no date adapter needed), ticks as UTC
   * dates; the money axis on the left, the score axis (350–950) on the right. */
  function utcDate(ms, withTime) {
    var iso = new Date(ms).toISOString();
    return withTime ? iso.slice(0, 10) + " " + iso.slice(11, 16) : iso.slice(0, 10);
  }

  function drawTime(canvas, spec) {
    var xs = [];
    spec.series.forEach(function (s) { s.data.forEach(function (p) { xs.push(p.x); }); });
    var span = xs.length ? Math.max.apply(null, xs) - Math.min.apply(null, xs) : 0;
    var shortSpan = span < 3 * 86400000;
    new Chart(canvas, {
      type: "line",
      data: {
        datasets: spec.series.map(function (s) {
          return {
            label: s.label, data: s.data, backgroundColor: s.color, borderColor: s.color,
            yAxisID: s.axis, stepped: spec.stepped ? "before" : false, borderWidth: 2,
            borderDash: s.axis === "score" ? [6, 3] : [],  // told apart without colour
            pointRadius: function (c) { return c.raw && c.raw.now ? 0 : 3; },  // "now" is no decision
          };
        }),
      },
      options: {
        animation: false,
        maintainAspectRatio: false,
        parsing: false,
        plugins: {
          legend: { display: true },
          tooltip: {
            callbacks: {
              title: function (items) { return items.length ? utcDate(items[0].parsed.x, true) + " UTC" : ""; },
              label: function (c) {
                var v = c.parsed.y;
                return c.dataset.label + ": " + (c.dataset.yAxisID === "money" ? money.format(v) : v);
              },
            },
          },
        },
        scales: {
          x: {
            type: "linear",
            min: xs.length ? Math.min.apply(null, xs) : undefined,
            max: xs.length ? Math.max.apply(null, xs) : undefined,
            ticks: {
              autoSkip: true, maxRotation: 0, maxTicksLimit: 6,
              callback: function (v) { return utcDate(v, shortSpan); },
            },
          },
          money: {
            type: "linear", position: "left", beginAtZero: true,
            ticks: { callback: function (v) { return money.format(v); } },
          },
          score: {
            type: "linear", position: "right", min: 350, max: 950,
            grid: { drawOnChartArea: false }, ticks: { stepSize: 100, includeBounds: false },
          },
        },
      },
    });
  }

  function drawAll(root) {
    (root || document).querySelectorAll("canvas[data-chart]").forEach(draw);
  }

  document.addEventListener("DOMContentLoaded", function () { drawAll(document); });
  document.addEventListener("htmx:load", function (event) { drawAll(event.target); });
})();
