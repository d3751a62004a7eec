"""Queries of the step cache (``step_results``)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select

from cairn.store.db.schema import runs, step_results

CANDIDATES = 5  # the newest results of a key looked at before giving up on it


@dataclass(frozen=True)
class CachedResult:
    """A step's stored result: its outputs, what it read, and the run that made it."""

    key: str
    node: str
    run_db_id: int
    run_uid: str
    parts: dict[str, str]
    reads: list[tuple[str, str, str]]
    outputs: list[dict[str, Any]]


def _row(row: Any) -> CachedResult:
    return CachedResult(
        row.key,
        row.node,
        int(row.run_id),
        row.uid,
        json.loads(row.parts),
        [(r[0], r[1], r[2]) for r in json.loads(row.reads)],
        json.loads(row.outputs),
    )


def _select() -> Any:
    t = step_results
    return select(
        t.c.key, t.c.node, t.c.run_id, runs.c.uid, t.c.parts, t.c.reads, t.c.outputs
    ).join(runs, runs.c.id == t.c.run_id)


def latest_of_node(conn: Connection, pipeline: str, node: str) -> CachedResult | None:
    """The newest result of step ``node`` of ``pipeline``, if any."""
    row = conn.execute(
        _select()
        .where(step_results.c.pipeline == pipeline, step_results.c.node == node)
        .order_by(step_results.c.id.desc())
        .limit(1)
    ).first()
    return None if row is None else _row(row)


def insert_result(
    conn: Connection,
    *,
    key: str,
    pipeline: str,
    node: str,
    run_db_id: int,
    parts: Mapping[str, str],
    reads: list[tuple[str, str, str]],
    outputs: list[dict[str, Any]],
    now: int,
) -> None:
    """Record a finished step's result under its key."""
    conn.execute(
        step_results.insert().values(
            key=key,
            pipeline=pipeline,
            node=node,
            run_id=run_db_id,
            parts=json.dumps(dict(parts), sort_keys=True),
            reads=json.dumps([list(r) for r in reads]),
            outputs=json.dumps(outputs),
            created_ms=now,
        )
    )


@dataclass(frozen=True)
class PipelineRunRow:
    """A pipeline run as listed: its row, and how many of its steps ended each way."""

    db_id: int
    uid: str
    name: str
    status: str
    start_ms: int
    end_ms: int | None
    steps: dict[str, int]


def pipeline_runs(conn: Connection, *, name: str | None, limit: int) -> list[PipelineRunRow]:
    """The newest pipeline runs (runs tagged ``cairn.pipeline``), not deleted."""
    from sqlalchemy import func

    from cairn.store.db.schema import run_tags

    status = runs.c.status  # as stored: a run whose coordinator died still reads "running"
    query = (
        select(runs.c.id, runs.c.uid, run_tags.c.value, status, runs.c.start_ms, runs.c.end_ms)
        .join(run_tags, run_tags.c.run_id == runs.c.id)
        .where(run_tags.c.key == "cairn.pipeline", runs.c.deleted_ms.is_(None))
    )
    if name is not None:
        query = query.where(run_tags.c.value == name)
    rows = conn.execute(query.order_by(runs.c.start_ms.desc(), runs.c.id.desc()).limit(limit)).all()
    ids = [int(r[0]) for r in rows]
    counts: dict[int, dict[str, int]] = {i: {} for i in ids}
    if ids:
        for parent, child_status, n in conn.execute(
            select(runs.c.parent_id, status, func.count())
            .where(runs.c.parent_id.in_(ids))
            .group_by(runs.c.parent_id, status)
        ):
            counts[int(parent)][str(child_status)] = int(n)
    return [
        PipelineRunRow(int(r[0]), r[1], r[2], str(r[3]), int(r[4]), r[5], counts[int(r[0])])
        for r in rows
    ]


@dataclass(frozen=True)
class StepRunRow:
    """A step's run in a pipeline run."""

    uid: str
    node: str
    status: str
    start_ms: int
    end_ms: int | None
    error: str | None


def step_runs(conn: Connection, parent_db_id: int) -> list[StepRunRow]:
    """The step runs of one pipeline run, in the order they were recorded."""
    rows = conn.execute(
        select(runs.c.uid, runs.c.name, runs.c.status, runs.c.start_ms, runs.c.end_ms, runs.c.error)
        .where(runs.c.parent_id == parent_db_id)
        .order_by(runs.c.id)
    )
    return [StepRunRow(r[0], r[1], str(r[2]), int(r[3]), r[4], r[5]) for r in rows]


def results_of_keys(
    conn: Connection, keys: Sequence[str], *, parent_db_ids: Sequence[int] | None = None
) -> dict[str, list[CachedResult]]:
    """The newest results of each of ``keys`` whose run is not deleted (of the steps of the
    pipeline runs ``parent_db_ids`` only, if given), newest first."""
    found: dict[str, list[CachedResult]] = {}
    unique = sorted(set(keys))
    for start in range(0, len(unique), 500):
        query = _select().where(
            step_results.c.key.in_(unique[start : start + 500]), runs.c.deleted_ms.is_(None)
        )
        if parent_db_ids is not None:
            query = query.where(runs.c.parent_id.in_(list(parent_db_ids)))
        for row in conn.execute(query.order_by(step_results.c.id.desc())):
            listed = found.setdefault(row.key, [])
            if len(listed) < CANDIDATES:
                listed.append(_row(row))
    return found
