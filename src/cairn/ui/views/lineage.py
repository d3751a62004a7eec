"""The lineage page (``/lineage?of=<uri>&depth=N``): the graph around a dataset version, a run,
a model version or a retraining of the closed loop, up to where it came from and down to who
used it (and where it is served), drawn with Cytoscape.js and listed as a table; without ``of``,
a search box and the latest model versions to start from. Also at ``/lineage.json``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from cairn import registry, serving
from cairn.core.checks import show
from cairn.core.errors import InvalidInputError
from cairn.ui.page import Viewer, quote, render

router = APIRouter(include_in_schema=False)

MAX_DEPTH = 10  # what registry.lineage_graph walks at most
FORMS = (
    "data:<name>@v<N>, runs:/<run id>, models:/<name>/<N>, models:/<name>@<alias>, "
    "retraining:<N> or deployment:<name>/<N>"
)
STARTS = 12  # model versions offered as starting points
KINDS = {
    "dataset_version": "dataset version",
    "run": "run",
    "model_version": "model version",
    "deployment": "deployment",
    "retraining": "retraining",
}
RELATIONS = {
    "input": "read by the run",
    "output": "written by the run",
    "served": "served",
    "trigger": "started the retraining",
    "started": "pipeline run of the retraining",
    "challenger": "challenger of the retraining",
    "promoted": "promoted by the retraining",
}


@router.get("/lineage.json")
@router.get("/lineage")
def lineage_page(
    request: Request, caller: Viewer, of: str | None = None, depth: str | None = None
) -> Response:
    """The graph around ``of`` (``depth`` steps each way, 3 unless given), or where to start."""
    steps = _depth(depth)
    if of is None:
        return render(request, "lineage.html", {"of": None, "depth": steps, "starts": _starts()})
    if not of.strip():
        raise InvalidInputError(f"give the node to start from: of=<uri>, with <uri> one of {FORMS}")
    graph = serving.lineage(of.strip(), depth=steps)
    nodes = [_shown(n, graph.center) for n in graph.nodes]
    labels = {n["uri"]: n["label"] for n in nodes}
    edges = [
        {"src": e.src, "dst": e.dst, "relation": e.relation, "src_label": labels.get(e.src, e.src),
         "dst_label": labels.get(e.dst, e.dst),
         "relation_text": RELATIONS.get(e.relation, e.relation)}
        for e in graph.edges
    ]  # fmt: skip
    context = {
        "of": graph.center,
        "depth": graph.depth,
        "max_depth": MAX_DEPTH,
        "limit": graph.limit,
        "truncated": graph.truncated,
        "nodes": nodes,
        "edges": edges,
    }
    return render(request, "lineage.html", context)


def _depth(text: str | None) -> int:
    """The depth the URL asks for: a whole number from 0 to 10 (3 when not given)."""
    if text is None or text == "":
        return 3
    if not (text.isascii() and text.isdigit() and len(text) <= 3 and int(text) <= MAX_DEPTH):
        raise InvalidInputError(
            f"depth {show(text)} is not a number of steps: give a whole number from 0 to 10 "
            "(e.g. depth=3)"
        )
    return int(text)


def _shown(node: registry.GraphNode, center: str) -> dict[str, Any]:
    """A node as the page shows it: its facts, its page and its own lineage."""
    d = node.details
    if node.kind == "run":
        href = f"/runs/{quote(d['run_id'])}"
    elif node.kind == "dataset_version":
        href = f"/data/{quote(d['name'])}/v{d['version']}"
    elif node.kind == "model_version":
        href = f"/models/{quote(d['name'])}/{d['version']}"
    elif node.kind == "retraining":
        href = f"/models/{quote(d['model'])}#retraining-{d['number']}"
    else:
        href = f"/monitoring/{quote(d['name'])}"
    recentre = node.uri
    return {
        "kind": node.kind,
        "kind_text": KINDS.get(node.kind, node.kind),
        "uri": node.uri,
        "label": node.label,
        "level": node.level,
        "cut": node.cut,
        "center": node.uri == center,
        "details": d,
        "href": href,
        "lineage_href": f"/lineage?of={quote(recentre)}",
    }


def _starts() -> list[dict[str, Any]]:
    """The latest version of the most recently changed models."""
    models = sorted(registry.list_models(), key=lambda m: m.updated_ms, reverse=True)
    starts = []
    for model in models[:STARTS]:
        if model.latest_version is None:
            continue
        uri = f"models:/{model.name}/{model.latest_version}"
        starts.append(
            {
                "uri": uri,
                "label": f"{model.name}/{model.latest_version}",
                "aliases": sorted(a for a, v in model.aliases.items() if v == model.latest_version),
                "updated_ms": model.updated_ms,
                "lineage_href": f"/lineage?of={quote(uri)}",
            }
        )
    return starts
