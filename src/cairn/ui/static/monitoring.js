/* A model's monitoring page: drift per feature over time (effect size, p-value) and quality
   over time, one line per feature or metric, drawn with cairn.lineChart. */
"use strict";
(function () {
  const source = document.getElementById("monitoring-data");
  if (!source) return;
  const data = JSON.parse(source.textContent);
  const lines = (items, label, key) => items.map(s => ({ label: s[label], x: s.x, y: s[key] }));
  const draw = (id, spec) => {
    const el = document.getElementById(id);
    if (el) window.cairn.lineChart(el, Object.assign({ xTime: true, xLabel: "window" }, spec));
  };
  draw("chart-effect", { title: "Drift effect size per feature", series: lines(data.series, "feature", "effect") });
  draw("chart-pvalue", { title: "−log10 p-value per feature (higher: more surprising; capped at 30)",
                         series: lines(data.series, "feature", "surprise") });
  draw("chart-quality", { title: "Quality per window", series: lines(data.quality, "metric", "y") });
})();
