/* The pipeline page's step graph: Cytoscape.js, one node per step coloured by status,
   arrows from the steps whose outputs a step took. The table beside it lists the same. */
"use strict";
(function () {
  const el = document.getElementById("step-graph");
  const source = document.getElementById("step-graph-data");
  if (!el || !source || typeof cytoscape === "undefined") return;
  const data = JSON.parse(source.textContent);
  if (!data.steps.length) {
    el.innerHTML = '<p class="empty">no steps</p>';
    return;
  }
  const css = window.cairn.css;
  const colours = {
    succeeded: css("--good"), failed: css("--bad"), crashed: css("--bad"),
    killed: css("--bad"), cached: css("--accent"), skipped: css("--muted"),
    running: css("--warn"), stale: css("--warn"),
  };
  const elements = data.steps.map(s => ({
    data: {
      id: s.node,
      label: s.node + "\n" + s.status + (s.duration_s !== null && !s.cached
        ? " · " + s.duration_s.toFixed(1) + "s" : ""),
      colour: colours[s.status] || css("--muted"),
      dashed: s.cached ? "dashed" : "solid",
      run: s.run_id,
    },
  }));
  const known = new Set(data.steps.map(s => s.node));
  data.edges.forEach((e, i) => {
    if (known.has(e.source) && known.has(e.target)) {
      elements.push({ data: { id: "e" + i, source: e.source, target: e.target } });
    }
  });
  const cy = cytoscape({
    container: el,
    elements: elements,
    layout: { name: "breadthfirst", directed: true, spacingFactor: 1.1, padding: 20 },
    wheelSensitivity: 0.3,
    style: [
      { selector: "node", style: {
        "shape": "round-rectangle", "width": "label", "height": "label", "padding": "10px",
        "label": "data(label)", "text-wrap": "wrap", "text-valign": "center",
        "text-halign": "center", "font-size": 12, "color": css("--fg"),
        "background-color": css("--bg"), "border-width": 3,
        "border-color": "data(colour)", "border-style": "data(dashed)" } },
      { selector: "edge", style: {
        "width": 1.5, "curve-style": "bezier", "target-arrow-shape": "triangle",
        "line-color": css("--muted"), "target-arrow-color": css("--muted") } },
      { selector: "node:selected", style: { "border-width": 5 } },
    ],
  });
  cy.on("tap", "node", event => {
    const row = document.querySelector('#steps tr[data-node="' + CSS.escape(event.target.id()) + '"]');
    if (row) { row.scrollIntoView({ block: "nearest" }); row.classList.add("changed");
               setTimeout(() => row.classList.remove("changed"), 1200); }
  });
  window.cairnStepGraph = cy;
})();
