"""Writing and walking the lineage graph (``lineage_edges``), for every capability.

Nodes are ``(kind, id)`` pairs of database ids: ``("run", 7)``, ``("dataset_version", 3)``.
An edge points the way data flowed; recording one twice is a no-op.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import Connection, and_, or_, select

from cairn.core import context
from cairn.core.ids import now_ms
from cairn.store.db.dialect import insert_ignore
from cairn.store.db.schema import (
    dataset_versions,
    datasets,
    lineage_edges,
    model_versions,
    models,
    runs,
)

if TYPE_CHECKING:
    from cairn.store.db.session import Database

RUN = "run"
DATASET_VERSION = "dataset_version"
MODEL_VERSION = "model_version"
RETRAINING = "retraining"  # a trip round the closed loop (cairn.loop)
INPUT = "input"  # a run read the source node
OUTPUT = "output"  # a run wrote the destination node


@dataclass(frozen=True)
class Node:
    """A node of the lineage graph."""

    kind: str
    id: int


@dataclass(frozen=True)
class Edge:
    """Data flowed from ``src`` to ``dst``."""

    src: Node
    dst: Node
    relation: str
    created_ms: int


def record_edge(conn: Connection, src: Node, dst: Node, relation: str, now: int) -> None:
    """Add the edge ``src -> dst`` unless it exists."""
    insert_ignore(
        conn,
        lineage_edges,
        [
            {
                "src_kind": src.kind,
                "src_id": src.id,
                "dst_kind": dst.kind,
                "dst_id": dst.id,
                "relation": relation,
                "created_ms": now,
            }
        ],
    )


def record_run_input(db: Database, source: Node) -> None:
    """Record ``source`` as an input of the current run (``core.context``), if one is active:
    what ``cairn.data.load`` and ``cairn.load_model`` call on every read."""
    run_uid = context.current_run_id()
    if run_uid is None:
        return

    def record(conn: Connection) -> None:
        run_id = conn.execute(select(runs.c.id).where(runs.c.uid == run_uid)).scalar()
        if run_id is not None:
            record_edge(conn, source, Node(RUN, int(run_id)), INPUT, now_ms())

    db.transact(record)


def runs_feeding(conn: Connection, run_uid: str) -> list[str]:
    """The ids of the runs whose outputs the run ``run_uid`` took as inputs (a pipeline's
    steps: run -> run edges), oldest edge first."""
    src = runs.alias("src")
    dst = runs.alias("dst")
    t = lineage_edges
    rows = conn.execute(
        select(src.c.uid)
        .select_from(
            t.join(dst, and_(t.c.dst_kind == RUN, t.c.dst_id == dst.c.id)).join(
                src, and_(t.c.src_kind == RUN, t.c.src_id == src.c.id)
            )
        )
        .where(dst.c.uid == run_uid, t.c.relation == INPUT)
        .order_by(t.c.id)
    )
    return [str(r[0]) for r in rows]


def edges_into(conn: Connection, nodes: Sequence[Node]) -> list[Edge]:
    """Edges whose destination is one of ``nodes`` (where each came from)."""
    return _edges(conn, nodes, incoming=True)


def edges_out_of(conn: Connection, nodes: Sequence[Node]) -> list[Edge]:
    """Edges whose source is one of ``nodes`` (who used each)."""
    return _edges(conn, nodes, incoming=False)


def _edges(conn: Connection, nodes: Sequence[Node], *, incoming: bool) -> list[Edge]:
    if not nodes:
        return []
    t = lineage_edges
    kind, ident = (t.c.dst_kind, t.c.dst_id) if incoming else (t.c.src_kind, t.c.src_id)
    by_kind: dict[str, list[int]] = {}
    for node in nodes:
        by_kind.setdefault(node.kind, []).append(node.id)
    condition = or_(*(and_(kind == k, ident.in_(ids)) for k, ids in by_kind.items()))
    rows = conn.execute(
        select(t.c.src_kind, t.c.src_id, t.c.dst_kind, t.c.dst_id, t.c.relation, t.c.created_ms)
        .where(condition)
        .order_by(t.c.id)
    )
    return [Edge(Node(r[0], int(r[1])), Node(r[2], int(r[3])), r[4], int(r[5])) for r in rows]


__all__ = [
    "DATASET_VERSION",
    "INPUT",
    "MODEL_VERSION",
    "OUTPUT",
    "RUN",
    "Edge",
    "Node",
    "edges_into",
    "edges_out_of",
    "record_edge",
    "record_run_input",
    "runs_feeding",
]


def run_node(conn: Connection, uid: str) -> Node | None:
    """The node of the run with id ``uid`` (None when there is none)."""
    found = conn.execute(select(runs.c.id).where(runs.c.uid == uid)).scalar()
    return None if found is None else Node(RUN, int(found))


def dataset_version_node(conn: Connection, name: str, number: int | None) -> Node | None:
    """The node of version ``number`` of dataset ``name`` (None: its newest live version);
    None when there is none."""
    query = (
        select(dataset_versions.c.id)
        .select_from(dataset_versions.join(datasets))
        .where(datasets.c.name == name)
    )
    if number is None:
        query = query.where(dataset_versions.c.deleted_ms.is_(None))
    else:
        query = query.where(dataset_versions.c.number == number)
    found = conn.execute(query.order_by(dataset_versions.c.number.desc()).limit(1)).scalar()
    return None if found is None else Node(DATASET_VERSION, int(found))


def model_version_node(conn: Connection, model: str, number: int) -> Node | None:
    """The node of version ``number`` of ``model`` (None when there is none)."""
    found = conn.execute(
        select(model_versions.c.id)
        .select_from(model_versions.join(models))
        .where(models.c.name == model, model_versions.c.number == number)
    ).scalar()
    return None if found is None else Node(MODEL_VERSION, int(found))
