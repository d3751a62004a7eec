"""A pipeline run's steps as a graph, as it was recorded: each step's run, how it ended
(finished, cached, failed, skipped, killed or still running), how long it took, and the steps
whose outputs it took (the run -> run lineage edges the coordinator wrote).

The edges come from the store, not from the pipeline's code (which a reader of the store may
not have). The coordinator records a step's inputs when it ends (finished or failed) or is
served from the cache; a skipped step has the one its reason names (``step fit did not
finish``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sqlalchemy import and_, select

from cairn.core.checks import check_name
from cairn.core.errors import NotFoundError
from cairn.store import get_store
from cairn.store.db.schema import lineage_edges, run_tags, runs
from cairn.store.lineage import INPUT, RUN

__all__ = ["PipelineRunGraph", "StepRecord", "pipeline_run_graph"]

PIPELINE_TAG = "cairn.pipeline"
_STEP_TAGS = ("cairn.step.name", "cairn.step.cached_from")
_SKIPPED_BECAUSE = re.compile(r"step (.+) did not finish")  # the coordinator's skip reason


@dataclass(frozen=True)
class StepRecord:
    """One step of a pipeline run as recorded."""

    node: str  # the step's id in the graph (``train[1]``)
    step: str  # the step function's name
    status: str  # finished | cached | failed | skipped | killed | running | crashed (a step
    # stored as running in a pipeline run that is not running any more)
    run_id: str  # the step's own run
    cached: bool  # served from the cache (did not run)
    cached_from: str | None  # the run whose outputs a cached step reused
    start_ms: int
    end_ms: int | None
    duration_s: float | None  # None while it runs; 0 for a cached step
    error: str | None
    upstream: list[str] = field(default_factory=list)  # nodes whose outputs it took


@dataclass(frozen=True)
class PipelineRunGraph:
    """A pipeline run and its steps, in the order they were recorded."""

    run_id: str
    name: str
    status: str
    start_ms: int
    end_ms: int | None
    steps: list[StepRecord]

    @property
    def edges(self) -> list[tuple[str, str]]:
        """``(upstream node, node)`` for every recorded dependency."""
        return [(up, s.node) for s in self.steps for up in s.upstream]


def pipeline_run_graph(run_id: str) -> PipelineRunGraph:
    """The steps of pipeline run ``run_id`` (an id or a unique prefix) with their status,
    duration and dependencies, as recorded."""
    from cairn.tracking import get_run

    check_name(run_id, "pipeline run id", max_length=None)
    record = get_run(run_id)
    name = record.tags.get(PIPELINE_TAG)
    if name is None:
        raise NotFoundError(
            f"run {record.id} is not a pipeline run; see cairn pipeline ls for those"
        )
    store = get_store()
    with store.db.read() as conn:
        parent = conn.execute(select(runs.c.id).where(runs.c.uid == record.id)).scalar_one()
        rows = conn.execute(
            select(
                runs.c.id, runs.c.uid, runs.c.name, runs.c.status, runs.c.start_ms,
                runs.c.end_ms, runs.c.error,
            )
            .where(runs.c.parent_id == parent)
            .order_by(runs.c.id)
        ).all()  # fmt: skip
        ids = [int(r[0]) for r in rows]
        tags: dict[int, dict[str, str]] = {i: {} for i in ids}
        ups: dict[int, list[int]] = {i: [] for i in ids}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            for run_db_id, key, value in conn.execute(
                select(run_tags.c.run_id, run_tags.c.key, run_tags.c.value).where(
                    run_tags.c.run_id.in_(chunk), run_tags.c.key.in_(_STEP_TAGS)
                )
            ):
                tags[int(run_db_id)][str(key)] = str(value)
            t = lineage_edges
            for src, dst in conn.execute(
                select(t.c.src_id, t.c.dst_id)
                .where(
                    and_(t.c.dst_kind == RUN, t.c.src_kind == RUN, t.c.relation == INPUT),
                    t.c.dst_id.in_(chunk),
                )
                .order_by(t.c.id)
            ):
                ups[int(dst)].append(int(src))
    node_of = {int(r[0]): str(r[2]) for r in rows}
    steps = []
    for r in rows:
        db_id, status = int(r[0]), str(r[3])
        if status == "running" and record.status != "running":
            status = "crashed"  # its coordinator is gone (tracking judged the pipeline run)
        own = tags[db_id]
        start_ms, end_ms = int(r[4]), r[5]
        steps.append(
            StepRecord(
                node=str(r[2]),
                step=own.get("cairn.step.name", str(r[2])),
                status=status,
                run_id=str(r[1]),
                cached=status == "cached",
                cached_from=own.get("cairn.step.cached_from"),
                start_ms=start_ms,
                end_ms=None if end_ms is None else int(end_ms),
                duration_s=None if end_ms is None else max(0, int(end_ms) - start_ms) / 1000,
                error=r[6],
                upstream=_upstream(status, r[6], [node_of[u] for u in ups[db_id] if u in node_of]),
            )
        )
    return PipelineRunGraph(record.id, name, record.status, record.start_ms, record.end_ms, steps)


def _upstream(status: str, reason: str | None, recorded: list[str]) -> list[str]:
    """The recorded inputs of a step; for a skipped one, the step its reason names."""
    if status == "skipped" and not recorded and reason:
        named = _SKIPPED_BECAUSE.fullmatch(reason.strip())
        if named:
            return [named.group(1)]
    return recorded
