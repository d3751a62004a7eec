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
from cairn.store.db.schema import (
    dataset_versions,
    datasets,
    model_versions,
    models,
    retrainings,
    runs,
)
from cairn.store.lineage import DATASET_VERSION, INPUT, MODEL_VERSION, RUN, Node, record_edge

RETRAINING = "retraining"
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
    if trigger is not None:
        found = _dataset_version_id(conn, trigger)
        if found is not None:
            edges.append((Node(DATASET_VERSION, found), node, TRIGGER))
    if row.dataset_version:
        found = _dataset_version_id(conn, row.dataset_version)
        if found is not None:
            edges.append((Node(DATASET_VERSION, found), node, INPUT))
    if row.pipeline_run:
        run_id = conn.execute(select(runs.c.id).where(runs.c.uid == row.pipeline_run)).scalar()
        if run_id is not None:
            edges.append((node, Node(RUN, int(run_id)), STARTED))
    if row.challenger is not None:
        version_id = _model_version_id(conn, row.model, int(row.challenger))
        if version_id is not None:
            edges.append((node, Node(MODEL_VERSION, version_id), CHALLENGER))
            if row.state == "promoted":
                edges.append((node, Node(MODEL_VERSION, version_id), PROMOTED))
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


def _dataset_version_id(conn: Connection, ref: str) -> int | None:
    """The id of dataset version ``name@vN`` (None when it names none)."""
    name, sep, number = ref.rpartition("@v")
    if not sep or not name or not (number.isascii() and number.isdigit()) or len(number) > 18:
        return None
    found = conn.execute(
        select(dataset_versions.c.id)
        .select_from(dataset_versions.join(datasets))
        .where(datasets.c.name == name, dataset_versions.c.number == int(number))
    ).scalar()
    return None if found is None else int(found)


def _model_version_id(conn: Connection, model: str, number: int) -> int | None:
    """The id of version ``number`` of ``model`` (None when there is none)."""
    found = conn.execute(
        select(model_versions.c.id)
        .select_from(model_versions.join(models))
        .where(models.c.name == model, model_versions.c.number == number)
    ).scalar()
    return None if found is None else int(found)


__all__ = [
    "CHALLENGER",
    "PROMOTED",
    "RETRAINING",
    "STARTED",
    "TRIGGER",
    "record_retraining",
    "with_lineage",
]
