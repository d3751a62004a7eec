"""Running a pipeline: each step a child run, served from the cache when nothing it depends on
changed, the rest sent to an executor as soon as its inputs exist.

The coordinator (this process) owns every record: it creates a step's run before the step is
sent, and ends it from the result the worker returns, so a worker lost mid-step and retried
elsewhere leaves one record, and no step reads as finished that did not finish. A step that
fails (after its retries) fails its run; the steps below it are recorded as ``skipped`` and
the independent branches go on. ``resume_pipeline`` runs a failed pipeline run again, reusing
every step of it that finished.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cairn.core.errors import CairnError, InvalidInputError, NotFoundError, RunStateError
from cairn.core.logging import logger
from cairn.pipelines import _queries
from cairn.pipelines._coordinator import FAILED, FINISHED, KILLED, Coordinator, StepOutcome
from cairn.pipelines._keys import pipeline_seed, replace_outputs, resolve, step_seed
from cairn.pipelines._task import decode
from cairn.pipelines.executors.base import Executor, check_workers, executor_for
from cairn.pipelines.pipeline import Graph, Output, Pipeline
from cairn.store import get_store

MAX_RESUME_CHAIN = 1000  # resumes of resumes followed back, at most
ONLY_TAG = "cairn.pipeline.only"


class PipelineFailedError(CairnError):
    """A step of the pipeline failed, so its output is not there."""


@dataclass
class PipelineResult:
    """A pipeline run: its id, how it ended, and each step's outcome."""

    run_id: str
    name: str
    status: str
    steps: list[StepOutcome]
    graph: Graph = field(repr=False)
    outputs: dict[str, _queries.CachedResult | list[dict[str, Any]]] = field(
        default_factory=dict, repr=False
    )

    def step(self, node: str) -> StepOutcome:
        """The outcome of step ``node``."""
        for outcome in self.steps:
            if outcome.node == node:
                return outcome
        raise NotFoundError(f"pipeline {self.name} has no step {node!r:.80}")

    def output(self) -> Any:
        """The pipeline function's return value, with each step output read back."""
        failed = [s for s in self.steps if s.status in (FAILED, KILLED)]
        if self.status != FINISHED:
            detail = f": {failed[0].node} {failed[0].error}" if failed else ""
            raise PipelineFailedError(
                f"pipeline run {self.run_id} {self.status}{detail}; see cairn runs show "
                f"{self.run_id}, then cairn pipeline resume {self.run_id}"
            )
        store = get_store()
        loaded: dict[str, Any] = {}

        def value(ref: Output) -> Any:
            if ref.node not in loaded:
                stored = _stored_outputs(self.outputs[ref.node])[0]
                loaded[ref.node] = decode(
                    store.artifacts.read_bytes(stored["digest"]), stored["format"]
                )
            whole = loaded[ref.node]
            for key in ref.path:
                whole = whole[key]
            return whole

        return replace_outputs(self.graph.output, value)


def _stored_outputs(found: _queries.CachedResult | list[dict[str, Any]]) -> list[dict[str, Any]]:
    return found.outputs if isinstance(found, _queries.CachedResult) else found


def run_pipeline(
    target: str | Pipeline,
    params: Mapping[str, Any] | None = None,
    *,
    executor: str | Executor | None = None,
    force: Sequence[str] = (),
    only: str | None = None,
    workers: int | None = None,
    on_step: Callable[[StepOutcome], None] | None = None,
    on_plan: Callable[[list[str]], None] | None = None,
    tags: Mapping[str, str] | None = None,
    _reuse_parent: Sequence[int] | None = None,
) -> PipelineResult:
    """Run a pipeline: steps whose code, params, inputs, packages and catalog reads are
    unchanged are served from the cache, the rest run on ``executor`` (``inline``,
    ``processes`` (default), ``dask`` or ``dask=ADDRESS``).

    ``params`` override the pipeline function's defaults and the project's ``config.params``;
    ``force`` names steps to run even when cached; ``only`` runs that step and what it needs;
    ``on_plan`` is called with the steps about to be looked at, ``on_step`` as each ends;
    ``tags`` are set on the pipeline run.
    """
    if not isinstance(force, (list, tuple, set, frozenset)) or not all(
        isinstance(f, str) for f in force
    ):
        raise InvalidInputError("force is a list of step names, e.g. force=['train']")
    if only is not None and not isinstance(only, str):
        raise InvalidInputError(f"only is a step name, got {type(only).__name__}")
    check_workers(workers)
    pipeline, _values, graph = resolve(target, params)
    forced = graph.select(list(force), "--force") if force else set()
    selected = graph.upstream(list(graph.select([only], "--only"))) if only else set(graph.nodes)
    if tags is not None and not isinstance(tags, Mapping):
        raise InvalidInputError(f"tags is a mapping, got {type(tags).__name__}")
    chosen = executor_for(executor, workers)
    if on_plan is not None:
        on_plan([n for n in graph.nodes if n in selected])
    try:
        coordinator = Coordinator(
            pipeline,
            graph,
            executor=chosen,
            force=forced,
            selected=selected,
            reuse_parent=_reuse_parent,
            on_step=on_step,
            # --only is kept: a resume runs the same part of the pipeline, no more
            tags={**(tags or {}), **({ONLY_TAG: only} if only else {})},
        )
        status = coordinator.execute()
    finally:
        if executor is None or isinstance(executor, str):  # made here: stopped here
            chosen.close()
    outputs: dict[str, Any] = dict(coordinator.done)
    steps = [coordinator.outcomes[n] for n in graph.nodes if n in coordinator.outcomes]
    return PipelineResult(coordinator.run.id, pipeline.name, status, steps, graph, outputs)


def resume_pipeline(
    run_id: str,
    *,
    executor: str | Executor | None = None,
    workers: int | None = None,
    on_step: Callable[[StepOutcome], None] | None = None,
    on_plan: Callable[[list[str]], None] | None = None,
) -> PipelineResult:
    """Run a failed pipeline run again with its params: every step of it that finished is
    reused (even one with ``cache=False``), so only the failed steps and those below run."""
    from cairn.tracking import get_run

    record = get_run(run_id)
    target = record.tags.get("cairn.pipeline.target")
    if record.tags.get("cairn.pipeline") is None or not target:
        raise InvalidInputError(
            f"run {record.id} is not a pipeline run started from MODULE:PIPELINE; "
            "resume takes the id that cairn pipeline ls shows"
        )
    if record.status in ("running",):
        raise RunStateError(f"pipeline run {record.id} is still running; wait for it to end")
    if record.status == "finished":
        raise RunStateError(f"pipeline run {record.id} finished; there is nothing to resume")
    store = get_store()
    digest = next((a.digest for a in record.artifacts if a.path == "pipeline.json"), None)
    if digest is None:
        raise NotFoundError(f"pipeline run {record.id} has no pipeline.json; run it again")
    saved = json.loads(store.artifacts.read_bytes(digest))
    # A run that resumed another reused its steps without making them: the whole chain of
    # resumed runs holds what finished.
    chain: list[int] = []
    uid: str | None = record.id
    with store.db.read() as conn:
        from sqlalchemy import select

        from cairn.store.db.schema import run_tags, runs

        while uid is not None and len(chain) < MAX_RESUME_CHAIN:
            found = conn.execute(select(runs.c.id).where(runs.c.uid == uid)).scalar()
            if found is None:
                break
            chain.append(int(found))
            uid = conn.execute(
                select(run_tags.c.value).where(
                    run_tags.c.run_id == found, run_tags.c.key == "cairn.pipeline.resumed"
                )
            ).scalar()
    logger.info("resuming pipeline run %s (%s)", record.id, target)
    return run_pipeline(
        target,
        _restored(target, saved["params"]),
        executor=executor,
        workers=workers,
        on_step=on_step,
        on_plan=on_plan,
        only=record.tags.get(ONLY_TAG),
        tags={k: v for k, v in record.tags.items() if k == "cairn.schedule"}
        | {"cairn.pipeline.resumed": record.id},
        _reuse_parent=chain,
    )


def _restored(target: str, saved: dict[str, Any]) -> dict[str, Any]:
    """The params a pipeline run saved as JSON, with each value that is the JSON form of the
    default or project value it was (a ``Path``, a tuple) given back as that value: resumed
    with ``"data.csv"`` for ``Path("data.csv")``, its steps would be other steps."""
    from cairn.core.settings import get_settings
    from cairn.pipelines._target import load_pipeline

    pipeline = load_pipeline(target)
    defaults = pipeline.defaults()
    required = {k: v for k, v in saved.items() if k not in defaults}
    resolved = pipeline.resolve_params(required, get_settings().params.to_dict())
    params = dict(saved)
    for key, value in saved.items():
        if key in resolved and json.loads(json.dumps(resolved[key], default=str)) == value:
            params[key] = resolved[key]
    return params


__all__ = [
    "PipelineFailedError",
    "PipelineResult",
    "StepOutcome",
    "pipeline_seed",
    "resume_pipeline",
    "run_pipeline",
    "step_seed",
]
