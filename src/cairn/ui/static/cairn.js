/* cairn's web UI: the few scripts the pages share (charts over uPlot, fetching JSON). */
"use strict";
(function () {
  const palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
                   "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];

  function css(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }

  async function getJSON(url) {
    const answer = await fetch(url, { headers: { Accept: "application/json" } });
    const body = await answer.json();
    if (!answer.ok) {
      throw new Error((body.error && body.error.message) || answer.statusText);
    }
    return body;
  }

  /* Exponential moving average, as TensorBoard smooths (weight 0..0.999, debiased). */
  function smooth(values, weight) {
    if (!weight) return values;
    const out = new Array(values.length);
    let last = 0, count = 0;
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (v === null || !isFinite(v)) { out[i] = v; continue; }
      last = last * weight + (1 - weight) * v;
      count++;
      out[i] = last / (1 - Math.pow(weight, count));
    }
    return out;
  }

  /* A line chart of several series with their own x values, overlaid on one x axis.
     series: [{label, x, y, lo, hi}] (lo/hi draw a band: mean ± std). */
  function lineChart(el, spec) {
    const series = spec.series || [];
    if (el._cairnChart) {
      el._cairnResize.disconnect();
      el._cairnChart.destroy();
      el._cairnChart = null;
    }
    el.innerHTML = "";
    if (!series.length) {
      el.innerHTML = '<p class="empty">no points</p>';
      return null;
    }
    const tables = [];
    const meta = [];
    series.forEach((s, i) => {
      const ys = spec.logY ? s.y.map(v => (v > 0 ? v : null)) : s.y;
      const columns = [s.x, ys];
      const color = s.color || palette[i % palette.length];
      meta.push({ label: s.label, stroke: color, width: 1.5, spanGaps: true,
                  points: { show: s.x.length < 60 } });
      if (s.lo && s.hi) {
        columns.push(s.lo, s.hi);
        meta.push({ label: s.label + " −σ", stroke: "transparent", points: { show: false },
                    band: true });
        meta.push({ label: s.label + " +σ", stroke: "transparent", points: { show: false },
                    band: true });
      }
      tables.push(columns);
    });
    const data = uPlot.join(tables);
    const bands = [];
    let column = 1;
    series.forEach((s, i) => {
      const color = s.color || palette[i % palette.length];
      if (s.lo && s.hi) {
        bands.push({ series: [column + 2, column + 1], fill: color + "33" });
        column += 3;
      } else {
        column += 1;
      }
    });
    const axis = { stroke: css("--muted"), grid: { stroke: css("--line"), width: 1 },
                   ticks: { stroke: css("--line") } };
    const width = Math.max(280, el.clientWidth || 600);
    const options = {
      title: spec.title, width: width, height: spec.height || 240,
      scales: {
        // One x value alone would stretch the axis over years (time) or nothing: pad it.
        x: { time: spec.xTime === true,
             range: (u, min, max) => (min === max ? [min - (spec.xTime ? 3600 : 1),
                                                     max + (spec.xTime ? 3600 : 1)]
                                                  : [min, max]) },
        // A log axis over dozens of decades makes uPlot draw a tick per decade for ever:
        // show at most 12 decades below the largest value.
        y: spec.logY ? { distr: 3, range: (u, min, max) => {
          const top = max > 0 ? max : 1;
          const bottom = min > 0 ? Math.max(min, top / 1e12) : top / 1e12;
          return bottom === top ? [top / 10, top * 10] : [bottom, top];
        } } : {},
      },
      axes: [Object.assign({ label: spec.xLabel || "" }, axis), Object.assign({}, axis)],
      series: [{ label: spec.xLabel || "x" }].concat(meta),
      bands: bands,
      legend: { live: true },
      cursor: { drag: { x: true, y: false } },
    };
    const chart = new uPlot(options, data, el);
    const resize = new ResizeObserver(() => chart.setSize({
      width: Math.max(280, el.clientWidth), height: options.height }));
    resize.observe(el);
    // The band's edges are drawn as a fill, not as lines: keep them out of the legend.
    const rows = el.querySelectorAll(".u-legend .u-series");
    meta.forEach((m, i) => { if (m.band && rows[i + 1]) rows[i + 1].style.display = "none"; });
    el._cairnChart = chart;
    el._cairnResize = resize;
    return chart;
  }

  window.cairn = { palette, getJSON, smooth, lineChart, css };
})();
