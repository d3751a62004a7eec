"""Reading pipelines back: the graph as text with each step's last outcome, and the list of
pipeline runs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from cairn.core.checks import check_text
from cairn.core.errors import InvalidInputError
from cairn.core.ids import describe_time
from cairn.pipelines import _queries
from cairn.pipelines._keys import resolve
from cairn.store import get_store
from cairn.store.db.schema import runs

MAX_LIMIT = 10_000


@dataclass(frozen=True)
class PipelineRunSummary:
    """A pipeline run as ``cairn pipeline ls`` shows it."""

    run_id: str
    name: str
    status: str
    started: str
    took: str
    steps: dict[str, int]


def _took(start_ms: int, end_ms: int | None) -> str:
    return "-" if end_ms is None else f"{(end_ms - start_ms) / 1000:.1f}s"


def find_pipeline_runs(*, name: str | None = None, limit: int = 20) -> list[PipelineRunSummary]:
    """The newest pipeline runs (of pipeline ``name`` only, if given)."""
    if type(limit) is not int or not 1 <= limit <= MAX_LIMIT:
        raise InvalidInputError(f"limit is an integer from 1 to {MAX_LIMIT}, got {limit!r:.40}")
    if name is not None:  # a lone surrogate too, which the driver cannot encode
        check_text(name, "name", max_length=255)
    with get_store().db.read() as conn:
        rows = _queries.pipeline_runs(conn, name=name, limit=limit)
    return [
        PipelineRunSummary(
            r.uid,
            r.name,
            _live_status(r.uid) if r.status == "running" else r.status,
            describe_time(r.start_ms),
            _took(r.start_ms, r.end_ms),
            r.steps,
        )
        for r in rows
    ]


def _live_status(uid: str) -> str:
    """A run stored as running reads as ``crashed`` when its process is gone (tracking
    judges it, from the heartbeat and the process table)."""
    from cairn.tracking import get_run

    return get_run(uid).status


def describe_pipeline(target: str, params: Mapping[str, Any] | None = None) -> list[str]:
    """The graph as lines of text: each step, the steps it takes outputs from, and its last
    status and duration (``target`` is MODULE:PIPELINE or a pipeline run's id, whose own
    steps are then shown)."""
    store = get_store()
    if isinstance(target, str) and ":" not in target:
        return _describe_run(target)
    pipeline, _values, graph = resolve(target, params)
    lines = [f"pipeline {pipeline.name} ({pipeline.target}): {len(graph.nodes)} steps"]
    with store.db.read() as conn:
        for node in graph.nodes.values():
            latest = _queries.latest_of_node(conn, pipeline.name, node.id)
            took = ""
            if latest is not None:
                row = conn.execute(
                    select(runs.c.start_ms, runs.c.end_ms).where(runs.c.id == latest.run_db_id)
                ).first()
                took = f"last finished in run {latest.run_uid}"
                if row is not None:
                    took += f" ({_took(int(row[0]), row[1])})"
            source = f" <- {', '.join(node.upstream)}" if node.upstream else ""
            lines.append(f"  {node.id}{source}    {took or 'never run'}")
    return lines


def _describe_run(run_id: str) -> list[str]:
    from cairn.tracking import get_run

    record = get_run(run_id)
    if "cairn.pipeline" not in record.tags:
        raise InvalidInputError(f"run {record.id} is not a pipeline run; see cairn pipeline ls")
    store = get_store()
    with store.db.read() as conn:
        db_id = conn.execute(select(runs.c.id).where(runs.c.uid == record.id)).scalar_one()
        steps = _queries.step_runs(conn, int(db_id))
    lines = [
        f"pipeline run {record.id} ({record.tags['cairn.pipeline']}) {record.status}, "
        f"{len(steps)} steps"
    ]
    for step in steps:
        note = f"  {step.error.splitlines()[0][:120]}" if step.error else ""
        lines.append(
            f"  {step.node:<24} {step.status:<8} {_took(step.start_ms, step.end_ms):>7}  "
            f"{step.uid}{note}"
        )
    return lines
