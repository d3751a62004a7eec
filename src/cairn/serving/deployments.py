"""Served model versions in the lineage graph: a model version that a server answered for (its
prediction log has files) gets a ``deployment`` node downstream of it."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cairn.registry import LineageGraph

DEPLOYMENT = "deployment"
SERVED = "served"


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


__all__ = ["with_deployments"]
