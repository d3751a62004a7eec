/* The lineage page: the graph (Cytoscape.js, breadthfirst from the upstream-most nodes, left
   to right), and the side panel that shows the selected node's facts and links. The nodes'
   data comes from the page itself (#lineage-data); the table below the graph selects too. */
"use strict";
(function () {
  const source = document.getElementById("lineage-data");
  const box = document.getElementById("lineage-graph");
  const panel = document.getElementById("lineage-details");
  if (!source || !box || !panel) return;
  const data = JSON.parse(source.textContent);
  const byUri = new Map(data.nodes.map((n) => [n.uri, n]));

  function css(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }

  const COLOURS = {
    dataset_version: "#2ca02c", run: "#1f77b4", model_version: "#ff7f0e", deployment: "#9467bd",
    retraining: "#d62728",
  };
  const SHAPES = {
    dataset_version: "barrel", run: "round-rectangle", model_version: "diamond",
    deployment: "ellipse", retraining: "hexagon",
  };

  function timeText(ms) {
    if (ms === null || ms === undefined) return "";
    return new Date(ms).toISOString().replace("T", " ").slice(0, 19);
  }

  function sizeText(size) {
    if (size === null || size === undefined) return "";
    let value = size;
    for (const unit of ["B", "KB", "MB", "GB", "TB"]) {
      if (value < 1000 || unit === "TB") {
        return unit === "B" ? `${Math.trunc(value)} B` : `${value.toFixed(1)} ${unit}`;
      }
      value /= 1000;
    }
    return `${size} B`;
  }

  const NAMES = {
    run_id: "run id", start_ms: "started", end_ms: "ended", created_ms: "created",
    first_ms: "first prediction", last_ms: "last prediction", rows: "predictions logged",
    files: "files", trigger_kind: "trigger kind", alert_id: "alert", drift: "drift",
    dataset_version: "dataset version", validation_passed: "validation passed",
    pipeline_run: "pipeline run", challenger_scores: "challenger scores",
    champion_scores: "champion scores", result_alert_id: "alert raised", started_ms: "started",
    ended_ms: "ended", trigger: "trigger", state: "state",
  };

  function factText(key, value) {
    if (key.endsWith("_ms")) return timeText(value);
    if (key === "size") return sizeText(value);
    if (Array.isArray(value)) return value.length ? value.map((a) => "@" + a).join(", ") : "none";
    if (typeof value === "boolean") return value ? "yes" : "no";
    return value === null || value === undefined ? "" : String(value);
  }

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  /* The facts and links of one node, in the side panel (built from text, never from HTML). */
  function show(uri) {
    const node = byUri.get(uri);
    if (!node) return;
    panel.replaceChildren();
    panel.append(el("p", { class: "muted kind" }, node.kind_text));
    panel.append(el("h3", {}, node.label));
    panel.append(el("p", { class: "mono uri" }, node.uri));
    const table = el("table", { class: "kv" });
    const body = el("tbody");
    for (const [key, value] of Object.entries(node.details)) {
      if (key === "name" || key === "version") continue;  // the title says them
      if (node.kind === "retraining" && (value === null || key === "number")) continue;
      const row = el("tr");
      row.append(el("th", { scope: "row" }, NAMES[key] || key), el("td", {}, factText(key, value)));
      body.append(row);
    }
    table.append(body);
    panel.append(table);
    const links = el("p", { class: "links" });
    links.append(el("a", { href: node.href }, "Open its page"));
    if (!node.center) {
      links.append(document.createTextNode(" · "));
      links.append(el("a", { href: node.lineage_href }, "Centre the graph here"));
    }
    panel.append(links);
    document.querySelectorAll("#lineage-nodes tr[data-uri]").forEach((row) => {
      row.toggleAttribute("aria-current", row.dataset.uri === uri);
    });
  }

  const roots = data.nodes
    .filter((n) => !data.edges.some((e) => e.dst === n.uri))
    .map((n) => n.uri);
  const levels = new Map();
  data.nodes.forEach((n) => levels.set(n.level, (levels.get(n.level) || 0) + 1));
  const widest = Math.max(1, ...levels.values());
  const fg = css("--fg") || "#1d232a";
  const line = css("--muted") || "#5d6873";
  const focus = css("--focus") || "#f59e0b";
  const accent = css("--accent") || "#1f6feb";

  const cy = cytoscape({
    container: box,
    elements: [
      ...data.nodes.map((n) => ({
        data: { id: n.uri, label: n.label, kind: n.kind },
        classes: [n.center ? "center" : "", n.cut ? "cut" : ""].join(" ").trim(),
      })),
      ...data.edges.map((e) => ({
        data: {
          id: `${e.src} -> ${e.dst} (${e.relation})`, source: e.src, target: e.dst,
          relation: e.relation,
        },
      })),
    ],
    style: [
      {
        selector: "node",
        style: {
          label: "data(label)", color: fg, "font-size": 12, "text-valign": "bottom",
          "text-margin-y": 5, "text-wrap": "ellipsis", "text-max-width": 150,
          width: 38, height: 30, "border-width": 1, "border-color": line,
        },
      },
      ...Object.keys(COLOURS).map((kind) => ({
        selector: `node[kind = "${kind}"]`,
        style: { "background-color": COLOURS[kind], shape: SHAPES[kind] },
      })),
      { selector: "node.cut", style: { "border-style": "dashed", "border-width": 3 } },
      { selector: "node.center", style: { "border-width": 5, "border-color": focus,
                                          width: 48, height: 38, "font-weight": "bold" } },
      { selector: "node:selected", style: { "overlay-color": accent, "overlay-opacity": 0.25,
                                            "overlay-padding": 6 } },
      {
        selector: "edge",
        style: {
          width: 2, "line-color": line, "target-arrow-color": line,
          "target-arrow-shape": "triangle", "curve-style": "bezier",
        },
      },
    ],
    layout: {
      name: "breadthfirst", directed: true, roots: roots, padding: 30,
      // laid out top down in a box sized by the graph (not the container: two siblings
      // would sit 500 px apart), then turned a quarter: left to right
      boundingBox: { x1: 0, y1: 0, w: widest * 60, h: levels.size * 100 },
      transform: (node, pos) => ({ x: pos.y, y: pos.x }),
    },
    minZoom: 0.2, maxZoom: 1.4, wheelSensitivity: 0.3, autoungrabify: true,
  });
  window.cairnLineage = cy;

  function select(uri) {
    cy.$(":selected").unselect();
    cy.getElementById(uri).select();
    show(uri);
  }

  cy.on("tap", "node", (event) => select(event.target.id()));
  document.querySelectorAll("button.select-node").forEach((button) => {
    button.addEventListener("click", () => {
      select(button.dataset.uri);
      panel.scrollIntoView({ block: "nearest" });
    });
  });
  select(data.center);
})();
