/* Limit Desk charts: Chart.js (static/vendor/chartjs) fed from json_script data.
 *
 * Each chart is <canvas data-chart="ID" role="img" aria-label="..."> next to a
 * table with the same figures (the accessible alternative). ID names a
 * <script type="application/json"> holding:
 *   {kind: "bar" | "line", labels: [...], series: [{label, data, color}],
 *    horizontal, stacked, stepped, money}
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

  function drawAll(root) {
    (root || document).querySelectorAll("canvas[data-chart]").forEach(draw);
  }

  document.addEventListener("DOMContentLoaded", function () { drawAll(document); });
  document.addEventListener("htmx:load", function (event) { drawAll(event.target); });
})();
