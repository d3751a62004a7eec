"""A retraining in the lineage graph: a ``retraining`` node (its number) between the data that
started it and was trained on, the pipeline run it started, the challenger that run registered
and, on promotion, the version it promoted.

    data:wine@v3 --trigger/input--> retraining:7 --started--> runs:/<pipeline run>
                                     retraining:7 --challenger/promoted--> models:/wine/2

``record_retraining`` writes the edges from what the retraining's row holds, in the caller's
transaction; recording again adds only what is new (an edge recorded twice is a no-op), so the
worker calls it after each stage that adds a fact.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, select

from cairn.core.checks import check_int
from cairn.core.ids import now_ms
from cairn.store.db.schema import retrainings
from cairn.store.lineage import (
    INPUT,
    RETRAINING,
    Node,
    dataset_version_node,
    model_version_node,
    record_edge,
    run_node,
)

TRIGGER = "trigger"  # the dataset version whose arrival started the retraining
STARTED = "started"  # the pipeline run the retraining started
CHALLENGER = "challenger"  # the version the pipeline registered
PROMOTED = "promoted"  # the version the retraining promoted


def record_retraining(conn: Connection, number: int) -> list[tuple[Node, Node, str]]:
    """Record retraining ``number`` in the lineage graph from its stored row (in ``conn``'s
    transaction): trigger and input data → retraining → pipeline run, challenger and (once
    promoted) the promoted version; return the edges it holds (nothing when no such row)."""
    number = check_int(number, "retraining number", minimum=1)
    row = conn.execute(select(retrainings).where(retrainings.c.id == number)).first()
    if row is None:
        return []
    node = Node(RETRAINING, number)
    edges: list[tuple[Node, Node, str]] = []
    trigger = _trigger_ref(row.trigger_kind, row.evidence)
    if trigger is not None and (found := _dataset_version(conn, trigger)) is not None:
        edges.append((found, node, TRIGGER))
    if row.dataset_version and (found := _dataset_version(conn, row.dataset_version)):
        edges.append((found, node, INPUT))
    if row.pipeline_run and (run := run_node(conn, row.pipeline_run)) is not None:
        edges.append((node, run, STARTED))
    if row.challenger is not None:
        version = model_version_node(conn, row.model, int(row.challenger))
        if version is not None:
            edges.append((node, version, CHALLENGER))
            if row.state == "promoted":
                edges.append((node, version, PROMOTED))
    now = now_ms()
    for src, dst, relation in edges:
        record_edge(conn, src, dst, relation, now)
    return edges


def with_lineage(number: int, also: Callable[[Connection], object]) -> Callable[[Connection], None]:
    """``also(conn)``, then ``record_retraining(conn, number)`` in the same transaction (what
    the worker passes as ``set_alias(also=...)``)."""

    def both(conn: Connection) -> None:
        also(conn)
        record_retraining(conn, number)

    return both


def _trigger_ref(kind: str, evidence: str | None) -> str | None:
    """The dataset version (``name@vN``) a data trigger names, or None."""
    if kind != "data" or not evidence:
        return None
    try:
        found: Any = json.loads(evidence)
    except ValueError:
        return None
    if not isinstance(found, dict):
        return None
    ref = found.get("dataset_version") or found.get("data")
    return ref if isinstance(ref, str) else None


def _dataset_version(conn: Connection, ref: str) -> Node | None:
    """The node of dataset version ``name@vN`` (None when it names none)."""
    name, sep, number = ref.rpartition("@v")
    if not sep or not name or not (number.isascii() and number.isdigit()) or len(number) > 18:
        return None
    return dataset_version_node(conn, name, int(number))


__all__ = [
    "CHALLENGER",
    "PROMOTED",
    "RETRAINING",
    "STARTED",
    "TRIGGER",
    "record_retraining",
    "with_lineage",
]
