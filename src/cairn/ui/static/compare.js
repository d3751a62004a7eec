/* The compare page: overlaid metric charts (from /compare/series.json) and parallel coordinates. */
"use strict";
(function () {
  const data = JSON.parse(document.getElementById("compare-data").textContent);
  const controls = data.controls;
  const drawn = [];  // {el, key, answer}: redrawn when the smoothing changes

  /* -- charts ------------------------------------------------------------------------------ */

  function seriesURL(key) {
    const query = new URLSearchParams({ runs: data.ids, key: key, x: controls.x });
    if (controls.group) query.set("group", controls.group);
    if (controls.points) query.set("points", String(controls.points));
    return "/compare/series.json?" + query.toString();
  }

  function spec(key, answer, weight) {
    const series = answer.series.map(line => {
      const y = cairn.smooth(line.y, weight);
      const out = { label: line.label, x: line.x, y: y };
      if (line.std) {
        out.lo = cairn.smooth(line.y.map((v, i) => v - line.std[i]), weight);
        out.hi = cairn.smooth(line.y.map((v, i) => v + line.std[i]), weight);
      }
      return out;
    });
    const xLabel = controls.x.startsWith("metric:") ? controls.x.slice(7)
      : controls.x === "time" ? "seconds since start" : "step";
    return { xLabel: xLabel, logY: controls.log, series: series };
  }

  async function drawChart(el) {
    const key = el.dataset.key;
    try {
      const answer = await cairn.getJSON(seriesURL(key));
      const entry = { el: el, key: key, answer: answer };
      drawn.push(entry);
      cairn.lineChart(el, spec(key, answer, controls.smooth));
      el.dataset.lines = String(answer.series.length);
    } catch (error) {
      el.innerHTML = "";
      const message = document.createElement("p");
      message.className = "bad";
      message.textContent = "Could not draw " + key + ": " + error.message;
      el.appendChild(message);
    }
  }

  function startCharts() {
    const charts = document.querySelectorAll(".compare-chart");
    if (!("IntersectionObserver" in window)) {
      charts.forEach(drawChart);
      return;
    }
    const observer = new IntersectionObserver(entries => {
      entries.forEach(entry => {
        if (entry.isIntersecting) {
          observer.unobserve(entry.target);
          drawChart(entry.target);
        }
      });
    }, { rootMargin: "400px" });
    charts.forEach(el => observer.observe(el));
  }

  function wireControls() {
    const form = document.getElementById("compare-controls");
    if (!form) return;
    form.querySelectorAll("select, input[type=checkbox]").forEach(input => {
      input.addEventListener("change", () => form.requestSubmit());
    });
    const slider = document.getElementById("c-smooth");
    const shown = document.getElementById("c-smooth-value");
    let pending = null;  // redraw once the slider rests a moment, not on every pixel
    slider.addEventListener("input", () => {
      const weight = Math.min(0.99, Math.max(0, Number(slider.value) || 0));
      controls.smooth = weight;
      shown.value = weight.toFixed(2);
      clearTimeout(pending);
      pending = setTimeout(() => {
        drawn.forEach(entry => cairn.lineChart(entry.el, spec(entry.key, entry.answer, weight)));
      }, 120);
    });
    slider.addEventListener("change", () => {
      const url = new URL(window.location.href);
      if (controls.smooth) url.searchParams.set("smooth", String(controls.smooth));
      else url.searchParams.delete("smooth");
      history.replaceState(null, "", url.toString());
    });
  }

  /* -- parallel coordinates ---------------------------------------------------------------- */

  const SVG = "http://www.w3.org/2000/svg";

  function svgNode(name, attributes, parent) {
    const node = document.createElementNS(SVG, name);
    Object.entries(attributes).forEach(([k, v]) => node.setAttribute(k, String(v)));
    if (parent) parent.appendChild(node);
    return node;
  }

  function valueOf(run, axis) {
    const dot = axis.indexOf(".");
    const field = axis.slice(0, dot), key = axis.slice(dot + 1);
    const values = field === "params" ? run.params : run.metrics;
    return values && Object.prototype.hasOwnProperty.call(values, key) ? values[key] : null;
  }

  function isNumber(v) {
    return typeof v === "number" && isFinite(v);
  }

  function text(v) {
    return typeof v === "string" ? v : JSON.stringify(v);
  }

  /* One axis: a function from a value to a position 0 (bottom) .. 1 (top), and its labels. */
  function scaleFor(runs, axis) {
    const values = runs.map(run => valueOf(run, axis)).filter(v => v !== null);
    if (values.length && values.every(isNumber)) {
      const lo = Math.min(...values), hi = Math.max(...values);
      const at = v => (isNumber(v) ? (hi > lo ? (v - lo) / (hi - lo) : 0.5) : null);
      const labels = hi > lo ? [[0, lo], [1, hi]] : [[0.5, lo]];
      return { at: at, labels: labels.map(([p, v]) => [p, formatNumber(v)]) };
    }
    const names = Array.from(new Set(values.map(text))).sort();
    const at = v => {
      if (v === null) return null;
      const i = names.indexOf(text(v));
      return names.length > 1 ? i / (names.length - 1) : 0.5;
    };
    return { at: at, labels: names.map((n, i) => [names.length > 1 ? i / (names.length - 1) : 0.5, n]) };
  }

  function formatNumber(v) {
    return Math.abs(v) >= 1e4 || (v !== 0 && Math.abs(v) < 1e-3) ? v.toExponential(2)
      : String(Math.round(v * 1e4) / 1e4);
  }

  function colourScale(runs, key) {
    if (!key) return () => cairn.palette[0];
    const values = runs.map(run => run.metrics[key]).filter(isNumber);
    const lo = Math.min(...values), hi = Math.max(...values);
    return run => {
      const v = run.metrics[key];
      if (!isNumber(v)) return cairn.css("--muted") || "#888";
      const t = hi > lo ? (v - lo) / (hi - lo) : 0.5;
      return "hsl(" + Math.round(220 - 200 * t) + ", 75%, 48%)";  // blue (low) to orange (high)
    };
  }

  function drawParallel() {
    const holder = document.getElementById("parallel");
    if (!holder) return;
    const axes = data.parallel.axes;
    const runs = data.runs;
    const width = Math.max(480, holder.clientWidth || 800);
    const height = 300, top = 36, bottom = 40, side = 70;
    const span = height - top - bottom;
    holder.innerHTML = "";
    const svg = svgNode("svg", { width: width, height: height, viewBox: "0 0 " + width + " " + height,
                                 role: "img", "aria-label": "parallel coordinates of " + runs.length + " runs" }, holder);
    const step = axes.length > 1 ? (width - 2 * side) / (axes.length - 1) : 0;
    const xs = axes.map((_, i) => (axes.length > 1 ? side + i * step : width / 2));
    const scales = axes.map(axis => scaleFor(runs, axis));
    const missingY = height - bottom + 16;
    const colour = colourScale(runs, data.parallel.color);
    const hover = document.getElementById("parallel-hover");
    const lines = svgNode("g", { class: "pc-lines" }, svg);
    runs.forEach(run => {
      const points = axes.map((axis, i) => {
        const p = scales[i].at(valueOf(run, axis));
        return xs[i] + "," + (p === null ? missingY : top + (1 - p) * span);
      });
      const line = svgNode("polyline", { points: points.join(" "), fill: "none", stroke: colour(run),
                                         "stroke-width": 2, class: "pc-line", "data-run": run.id,
                                         tabindex: 0 }, lines);
      const described = run.label + (data.parallel.color ? " · " + data.parallel.color + " = " +
        (run.metrics[data.parallel.color] ?? "—") : "");
      svgNode("title", {}, line).textContent = described;
      const show = () => { line.classList.add("active"); lines.appendChild(line); hover.textContent = described; };
      const hide = () => line.classList.remove("active");
      line.addEventListener("mouseenter", show);
      line.addEventListener("focus", show);
      line.addEventListener("mouseleave", hide);
      line.addEventListener("blur", hide);
      const open = () => { window.location.href = "/runs/" + encodeURIComponent(run.id); };
      line.addEventListener("click", open);
      line.addEventListener("keydown", event => { if (event.key === "Enter") open(); });
    });
    const ink = cairn.css("--fg") || "#000";
    axes.forEach((axis, i) => {
      const g = svgNode("g", { class: "pc-axis" }, svg);
      svgNode("line", { x1: xs[i], x2: xs[i], y1: top, y2: top + span, stroke: ink, "stroke-width": 1 }, g);
      svgNode("text", { x: xs[i], y: top - 14, "text-anchor": "middle", fill: ink, class: "pc-name" }, g)
        .textContent = axis;
      scales[i].labels.forEach(([p, label]) => {
        svgNode("text", { x: xs[i] + 5, y: top + (1 - p) * span + 4, fill: ink, class: "pc-tick" }, g)
          .textContent = label.length > 18 ? label.slice(0, 17) + "…" : label;
      });
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    wireControls();
    startCharts();
    drawParallel();
    let last = window.innerWidth;
    window.addEventListener("resize", () => {
      if (window.innerWidth !== last) { last = window.innerWidth; drawParallel(); }
    });
  });
})();
