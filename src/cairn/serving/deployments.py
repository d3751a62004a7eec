"""Served model versions in the lineage graph: a model version that a server answered for (its
prediction log has files) gets a ``deployment`` node downstream of it."""

from __future__ import annotations

import dataclasses
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cairn.registry import LineageGraph

DEPLOYMENT = "deployment"
SERVED = "served"
_DEPLOYMENT = re.compile(r"deployment:([A-Za-z0-9][A-Za-z0-9._-]{0,127})/([1-9][0-9]{0,17})")


def lineage(uri: str, depth: int = 3, limit: int = 500) -> LineageGraph:
    """The lineage graph around ``uri`` with served model versions: any node
    ``registry.lineage_graph`` takes, or a deployment, ``deployment:<model>/<version>`` (the
    served version and the chain above it)."""
    from cairn.core.checks import show
    from cairn.core.errors import InvalidInputError, NotFoundError
    from cairn.registry import lineage_graph

    if not (isinstance(uri, str) and uri.startswith(f"{DEPLOYMENT}:")):
        return with_deployments(lineage_graph(uri, depth, limit))
    match = _DEPLOYMENT.fullmatch(uri)
    if match is None:
        raise InvalidInputError(
            f"a deployment reads deployment:<model name>/<version number> (e.g. "
            f"deployment:churn/3), not {show(uri)}"
        )
    name, number = match.group(1), int(match.group(2))
    if type(depth) is int and depth == 0:
        depth = 1  # the deployment's own model version is one step up
    graph = with_deployments(lineage_graph(f"models:/{name}/{number}", depth, limit))
    if not any(node.uri == uri for node in graph.nodes):
        raise NotFoundError(
            f"model version {name}/{number} has not been served (no prediction log file lists "
            "it); serve it with cairn serve, or look at its lineage: models:/"
            f"{name}/{number}"
        )
    # Levels count from the deployment: its model version is one step up.
    nodes = [dataclasses.replace(node, level=node.level - 1) for node in graph.nodes]
    return dataclasses.replace(graph, center=uri, nodes=nodes)


def with_deployments(graph: LineageGraph) -> LineageGraph:
    """``graph`` with a ``deployment`` node after each model version at or below its centre
    (and within its depth) whose predictions are logged, up to the graph's node limit."""
    from sqlalchemy import and_, func, or_, select

    from cairn.core.checks import show
    from cairn.core.errors import InvalidInputError
    from cairn.registry import GraphEdge, GraphNode
    from cairn.registry import LineageGraph as Graph
    from cairn.store import get_store
    from cairn.store.db.schema import prediction_log_files

    if not isinstance(graph, Graph):
        raise InvalidInputError(
            f"with_deployments takes what registry.lineage_graph returns, not {show(graph)}"
        )
    served = [
        n
        for n in graph.nodes
        if n.kind == "model_version" and 0 <= n.level < graph.depth and not n.details["deleted"]
    ]
    if not served:
        return graph
    t = prediction_log_files
    wanted = or_(
        *(and_(t.c.model == n.details["name"], t.c.version == n.details["version"]) for n in served)
    )
    query = (
        select(
            t.c.model,
            t.c.version,
            func.count().label("files"),
            func.sum(t.c.rows).label("rows"),
            func.min(t.c.first_ms).label("first_ms"),
            func.max(t.c.last_ms).label("last_ms"),
        )
        .where(wanted)
        .group_by(t.c.model, t.c.version)
    )
    with get_store().db.read() as conn:
        logged = {(r.model, int(r.version)): r for r in conn.execute(query)}
    nodes, edges = list(graph.nodes), list(graph.edges)
    truncated = graph.truncated
    for model in served:
        row = logged.get((model.details["name"], model.details["version"]))
        if row is None:
            continue
        if len(nodes) >= graph.limit:
            truncated = True
            break
        ref = f"{row.model}/{row.version}"
        details = {
            "name": row.model,
            "version": int(row.version),
            "rows": int(row.rows or 0),
            "files": int(row.files),
            "first_ms": row.first_ms,
            "last_ms": row.last_ms,
        }
        nodes.append(
            GraphNode(DEPLOYMENT, f"deployment:{ref}", f"served {ref}", model.level + 1, details)
        )
        edges.append(GraphEdge(model.uri, f"deployment:{ref}", SERVED))
    return dataclasses.replace(graph, nodes=nodes, edges=edges, truncated=truncated)


__all__ = ["lineage", "with_deployments"]
