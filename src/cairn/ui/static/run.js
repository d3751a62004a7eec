/* The run page: one chart per metric, each drawn when it scrolls into view from the thinned
   series the server answers (/runs/<id>/series.json); the x axis and the log scale come from
   the page's URL (the form above the charts). */
"use strict";
(function () {
  const data = document.getElementById("run-data");
  if (!data) return;
  const base = data.dataset.series;
  const x = data.dataset.x || "step";
  const logY = data.dataset.log === "1";

  async function draw(el) {
    if (el.dataset.state) return;
    el.dataset.state = "loading";
    const key = el.dataset.key;
    const width = Math.max(400, el.clientWidth || 600);
    const points = Math.min(2000, Math.max(400, Math.round(width * 2)));
    const url = base + "?key=" + encodeURIComponent(key) + "&x=" + encodeURIComponent(x) +
      "&points=" + points;
    try {
      const s = await cairn.getJSON(url);
      cairn.lineChart(el, {
        title: key + (s.thinned ? " (" + s.total + " points, thinned)" : ""),
        xLabel: x === "time" ? "seconds since start" : "step",
        logY: logY,
        series: [{ label: key, x: s.x, y: s.y }],
      });
      el.dataset.points = String(s.y.length);
      el.dataset.state = "drawn";
    } catch (err) {
      const p = document.createElement("p");
      p.className = "filter-error";
      p.textContent = key + ": " + err.message;
      el.replaceChildren(p);
      el.dataset.state = "failed";
    }
  }

  const charts = document.querySelectorAll(".run-charts .chart[data-key]");
  if ("IntersectionObserver" in window) {
    const watcher = new IntersectionObserver((entries) => {
      entries.forEach((entry) => {
        if (entry.isIntersecting) {
          watcher.unobserve(entry.target);
          draw(entry.target);
        }
      });
    }, { rootMargin: "300px" });
    charts.forEach((el) => watcher.observe(el));
  } else {
    charts.forEach(draw);
  }

  /* Changing the axis or the scale reloads the page with it in the URL. */
  const form = document.querySelector(".run-chart-controls");
  if (form) {
    form.querySelectorAll("select, input[type=checkbox]").forEach((control) => {
      control.addEventListener("change", () => form.requestSubmit());
    });
  }
})();
