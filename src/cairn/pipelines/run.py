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
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cairn.core.errors import CairnError, InvalidInputError, NotFoundError, RunStateError
from cairn.core.hashing import hash_bytes
from cairn.core.ids import now_ms
from cairn.core.logging import logger
from cairn.core.settings import get_settings
from cairn.pipelines import _queries, cache
from cairn.pipelines._target import load_pipeline
from cairn.pipelines._task import Input, StepTask, TaskResult, decode
from cairn.pipelines.executors.base import Executor, check_workers, executor_for
from cairn.pipelines.pipeline import Graph, Node, Output, Pipeline, iter_outputs
from cairn.store import get_store
from cairn.store.deletions import watermark
from cairn.store.lineage import INPUT, RUN, record_edge
from cairn.store.lineage import Node as LineageNode

FINISHED, FAILED, CACHED, SKIPPED, KILLED = "finished", "failed", "cached", "skipped", "killed"
MAX_SEED = 2**32 - 1


class PipelineFailedError(CairnError):
    """A step of the pipeline failed, so its output is not there."""


@dataclass
class StepOutcome:
    """How one step of a pipeline run ended."""

    node: str
    step: str
    status: str  # finished | failed | cached | skipped | killed
    run_id: str | None = None
    duration_s: float = 0.0
    reason: str = ""  # why it ran, or why it did not
    cached_from: str | None = None  # the run whose outputs a cached step reused
    error: str | None = None
    attempts: int = 0


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

        return _replace_outputs(self.graph.output, value)


def _stored_outputs(found: _queries.CachedResult | list[dict[str, Any]]) -> list[dict[str, Any]]:
    return found.outputs if isinstance(found, _queries.CachedResult) else found


def _replace_outputs(value: Any, replace: Callable[[Output], Any]) -> Any:
    if isinstance(value, Output):
        return replace(value)
    if isinstance(value, (list, tuple)):
        items = [_replace_outputs(v, replace) for v in value]
        return tuple(items) if isinstance(value, tuple) else items
    if isinstance(value, dict):
        return {k: _replace_outputs(v, replace) for k, v in value.items()}
    if isinstance(value, (set, frozenset)):
        return type(value)(_replace_outputs(v, replace) for v in value)
    return value


def step_seed(pipeline_seed: int, node: str) -> int:
    """A step's seed: fan-out steps differ, and each replays the same."""
    digest = hash_bytes(f"{pipeline_seed}:{node}".encode(), parallel=False).partition(":")[2]
    return int(digest[:8], 16)


def pipeline_seed(pipeline: Pipeline) -> int:
    """The pipeline's seed: the settings' (``cairn.yaml`` seed, ``CAIRN_SEED``) or one fixed
    by its name, so that two runs replay the same draws."""
    configured = get_settings().seed
    if configured is not None:
        return configured
    return step_seed(0, pipeline.name)


def _resolve(
    target: str | Pipeline, params: Mapping[str, Any] | None
) -> tuple[Pipeline, dict[str, Any], Graph]:
    if isinstance(target, Pipeline):
        found = target
    elif isinstance(target, str):
        found = load_pipeline(target)
    else:
        raise InvalidInputError(
            f"run_pipeline takes a pipeline or MODULE:PIPELINE, got {type(target).__name__}"
        )
    if params is not None and not isinstance(params, Mapping):
        raise InvalidInputError(
            f"params is a mapping of names to values, got {type(params).__name__}"
        )
    project = get_settings().params.to_dict()
    values = found.resolve_params(params, project)
    return found, values, found.build(values)


class _Keys:
    """Cache keys of a pipeline's steps: code and packages digests once per function."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._code: dict[int, tuple[str, str]] = {}

    def of(self, node: Node, seed: int, inputs: list[str], args: Any) -> cache.StepKey:
        fn = node.step.fn
        if id(fn) not in self._code:
            self._code[id(fn)] = (
                cache.code_digest(fn, self.root),
                cache.packages_digest(fn, self.root),
            )
        code, packages = self._code[id(fn)]
        paths: list[Path] = []
        encoded = cache.encode_value([args, seed], paths)
        params, input_digest = cache.params_and_inputs(encoded, paths, inputs)
        return cache.StepKey.of(
            {"code": code, "params": params, "inputs": input_digest, "packages": packages}
        )


def _task_args(
    node: Node, done: Mapping[str, list[dict[str, Any]]]
) -> tuple[tuple[Any, ...], dict[str, Any], list[str], Any]:
    """The step's arguments with each ``Output`` replaced by an ``Input`` (for the worker), the
    digests it takes (for the key) and the arguments as the key sees them (inputs by index)."""
    inputs: list[str] = []

    def to_input(ref: Output) -> Input:
        stored = done[ref.node][0]
        inputs.append(stored["digest"])
        return Input(stored["digest"], stored["format"], ref.path)

    args = _replace_outputs(node.args, to_input)
    kwargs = _replace_outputs(node.kwargs, to_input)
    counter = iter(range(len(inputs) + 1_000_000))
    keyed = _replace_outputs(
        [list(node.args), node.kwargs], lambda ref: {"input": next(counter), "path": list(ref.path)}
    )
    return args, kwargs, inputs, keyed


def _plain_params(node: Node) -> dict[str, Any]:
    """What a step's run records as params: its plain arguments, by parameter name."""
    import inspect

    try:
        bound = inspect.signature(node.step.fn).bind_partial(*node.args, **node.kwargs)
        named = dict(bound.arguments)
    except (TypeError, ValueError):
        named = {f"arg{i}": v for i, v in enumerate(node.args)} | node.kwargs
    shown: dict[str, Any] = {}
    for name, value in named.items():
        if any(True for _ in iter_outputs(value)):
            continue
        if value is None or isinstance(value, (bool, int, float, str)):
            shown[name] = value if not isinstance(value, str) else value[:1000]
        else:
            shown[name] = repr(value)[:200]
    return shown


class _Coordinator:
    """Runs one pipeline run's steps and records them."""

    def __init__(
        self,
        pipeline: Pipeline,
        graph: Graph,
        *,
        executor: Executor,
        force: set[str],
        selected: set[str],
        reuse_parent: int | None,
        on_step: Callable[[StepOutcome], None] | None,
        tags: Mapping[str, str] | None = None,
    ) -> None:
        from cairn.tracking import start_run

        settings = get_settings()
        self.pipeline = pipeline
        self.graph = graph
        self.executor = executor
        self.force = force
        self.selected = selected
        self.reuse_parent = reuse_parent
        self.on_step = on_step
        self.store = get_store()
        self.keys = _Keys(settings.root)
        self.seed = pipeline_seed(pipeline)
        self.settings = {
            "root": str(settings.root),
            "home": str(settings.home_dir),
            "store": settings.store_url,
            "artifacts": settings.artifacts_url,
            "artifacts_options": dict(settings.artifacts_options),
            "store_sync": settings.store_sync,
        }
        self.outcomes: dict[str, StepOutcome] = {}
        self.done: dict[str, list[dict[str, Any]]] = {}  # node -> stored outputs
        self.producer: dict[str, int] = {}  # node -> db id of the run holding its outputs
        self.read_checks: dict[str, str | None] = {}
        self._pending_keys: dict[str, cache.StepKey] = {}
        self.run = start_run(
            name=pipeline.name,
            params=_flat_params(graph.params),
            tags={
                "cairn.pipeline": pipeline.name,
                "cairn.pipeline.target": pipeline.target or "",
                "cairn.pipeline.seed": str(self.seed),
                **dict(tags or {}),
            },
            project_params=False,
        )
        self.run.log_dict(
            {"target": pipeline.target, "params": graph.params, "seed": self.seed},
            "pipeline.json",
        )

    # ------------------------------------------------------------------ the loop

    def execute(self) -> str:
        """Run every selected step; return the pipeline run's status."""
        pending = [n for n in self.graph.nodes.values() if n.id in self.selected]
        running: dict[Future[TaskResult], tuple[Node, Any, float]] = {}
        failed: list[str] = []
        try:
            while pending or running:
                progressed = True
                while progressed:
                    progressed = False
                    for node in list(pending):
                        state = self._readiness(node)
                        if state == "wait":
                            continue
                        pending.remove(node)
                        progressed = True
                        if state == "skip":
                            self._skip(node)
                            continue
                        submitted = self._start(node)
                        if submitted is not None:
                            running[submitted[0]] = (node, submitted[1], submitted[2])
                if not running:
                    if pending:  # nothing runs and nothing can start: all wait on a failure
                        for node in pending:
                            self._skip(node)
                        pending = []
                    break
                finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
                for future in finished:
                    node, child, since = running.pop(future)
                    self._finish(node, child, since, future)
        except BaseException:
            for future, (node, child, _) in running.items():
                future.cancel()
                self._end_child(node, child, KILLED, "the pipeline was interrupted")
            for node in pending:
                self._skip(node, "the pipeline was interrupted")
            self.run.end("killed", "interrupted while steps ran")
            raise
        failed = [o.node for o in self.outcomes.values() if o.status == FAILED]
        if failed:
            first = self.outcomes[failed[0]]
            self.run.end("failed", f"step {first.node} failed: {first.error}")
            return FAILED
        self.run.end("finished")
        return FINISHED

    def _readiness(self, node: Node) -> str:
        states = [self.outcomes.get(up) for up in node.upstream]
        if any(s is not None and s.status in (FAILED, SKIPPED, KILLED) for s in states):
            return "skip"
        if all(up in self.done for up in node.upstream):
            return "ready"
        return "wait"

    # ---------------------------------------------------------------- one step

    def _start(self, node: Node) -> tuple[Future[TaskResult], Any, float] | None:
        """Serve ``node`` from the cache, or record its run and send it; return the future."""
        from cairn.tracking import start_child

        seed = step_seed(self.seed, node.id)
        try:
            args, kwargs, inputs, keyed = _task_args(node, self.done)
            key = self.keys.of(node, seed, inputs, keyed)
        except CairnError as exc:
            self._fail_unstarted(node, str(exc))
            return None
        hit = self._lookup(node, key)
        if hit is not None:
            child = start_child(
                self.run,
                node.id,
                params=_plain_params(node),
                tags=self._tags(node, key, seed) | {"cairn.step.cached_from": hit.run_uid},
                status=CACHED,
                artifacts=_artifacts(hit.outputs),
            )
            self._edges(node, child.db_id)
            self.done[node.id] = hit.outputs
            self.producer[node.id] = child.db_id
            self._report(
                StepOutcome(
                    node.id, node.step.name, CACHED, child.id, 0.0, "unchanged", hit.run_uid
                )
            )
            return None
        since = watermark(self.store.db)
        child = start_child(
            self.run, node.id, params=_plain_params(node), tags=self._tags(node, key, seed)
        )
        task = StepTask(
            node=node.id,
            run_id=child.id,
            fn=node.step.fn,
            args=args,
            kwargs=kwargs,
            seed=seed,
            retries=node.step.options.retries,
            timeout=node.step.options.timeout,
            params=self.graph.params,
            settings=self.settings,
            resources=dict(node.step.options.resources),
        )
        self._pending_keys[node.id] = key
        try:
            future = self.executor.submit(task)
        except CairnError as exc:
            self._end_child(node, child, FAILED, str(exc))
            return None
        return future, child, since

    def _finish(self, node: Node, child: Any, since: float, future: Future[TaskResult]) -> None:
        from cairn.tracking import end_child

        key = self._pending_keys.pop(node.id)
        try:
            result = future.result()
        except Exception as exc:  # the executor lost the task (not the step's own failure)
            self._end_child(node, child, FAILED, f"the executor lost the step: {exc}")
            return
        if result.error is not None:
            error = result.error
            detail = f"{error}\n\n{result.detail}" if result.detail else error
            end_child(self.run, child, FAILED, error=detail[-20_000:])
            self._report(
                StepOutcome(
                    node.id,
                    node.step.name,
                    FAILED,
                    child.id,
                    result.duration_s,
                    error=error,
                    attempts=result.attempts,
                )
            )
            return
        outputs = [{"digest": o.digest, "size": o.size, "format": o.format} for o in result.outputs]
        entries = _artifacts(outputs)

        def also(conn: Any) -> None:
            _queries.insert_result(
                conn,
                key=key.key,
                pipeline=self.pipeline.name,
                node=node.id,
                run_db_id=child.db_id,
                parts=key.parts,
                reads=result.reads,
                outputs=outputs,
                now=now_ms(),
            )
            self._edges_in(conn, node, child.db_id)

        end_child(
            self.run,
            child,
            FINISHED,
            artifacts=entries,
            since=int(since),
            also=also,
            tags={"cairn.step.attempts": result.attempts},
        )
        self.done[node.id] = outputs
        self.producer[node.id] = child.db_id
        reason = "forced" if node.id in self.force else "changed or new"
        self._report(
            StepOutcome(
                node.id,
                node.step.name,
                FINISHED,
                child.id,
                result.duration_s,
                reason,
                attempts=result.attempts,
            )
        )

    def _lookup(self, node: Node, key: cache.StepKey) -> _queries.CachedResult | None:
        """A stored result of ``key`` still valid: its objects exist and what it read from the
        catalog still resolves to the same versions."""
        if node.id in self.force:
            return None
        candidates: list[_queries.CachedResult] = []
        with self.store.db.read() as conn:
            if self.reuse_parent is not None:  # resume: the failed run's own steps first
                candidates += _queries.results_of_key(conn, key.key, parent_db_id=self.reuse_parent)
            if node.step.options.cache:
                candidates += _queries.results_of_key(conn, key.key)
        for found in candidates:
            if self._reads_hold(found.reads) and all(
                self.store.artifacts.exists(o["digest"]) for o in found.outputs
            ):
                return found
        return None

    def _reads_hold(self, reads: Sequence[tuple[str, str, str]]) -> bool:
        for asked, _resolved, digest in reads:
            if asked not in self.read_checks:
                self.read_checks[asked] = current_version_digest(asked)
            if self.read_checks[asked] != digest:
                return False
        return True

    def _tags(self, node: Node, key: cache.StepKey, seed: int) -> dict[str, Any]:
        return {
            "cairn.step": node.id,
            "cairn.step.name": node.step.name,
            "cairn.step.key": key.key,
            "cairn.seed": seed,
        }

    def _edges(self, node: Node, consumer: int) -> None:
        self.store.db.transact(lambda conn: self._edges_in(conn, node, consumer))

    def _edges_in(self, conn: Any, node: Node, consumer: int) -> None:
        """The runs whose outputs this step took are its inputs in the lineage graph."""
        now = now_ms()
        for up in node.upstream:
            record_edge(
                conn, LineageNode(RUN, self.producer[up]), LineageNode(RUN, consumer), INPUT, now
            )

    def _skip(self, node: Node, reason: str | None = None) -> None:
        from cairn.tracking import start_child

        if reason is None:
            broken = [
                u
                for u in node.upstream
                if self.outcomes.get(u)
                and self.outcomes[u].status != FINISHED
                and self.outcomes[u].status != CACHED
            ]
            reason = f"step {broken[0]} did not finish" if broken else "not run"
        child = start_child(
            self.run,
            node.id,
            params=_plain_params(node),
            tags={"cairn.step": node.id, "cairn.step.name": node.step.name},
            status=SKIPPED,
            error=reason,
        )
        self._report(StepOutcome(node.id, node.step.name, SKIPPED, child.id, reason=reason))

    def _fail_unstarted(self, node: Node, error: str) -> None:
        from cairn.tracking import start_child

        child = start_child(
            self.run,
            node.id,
            tags={"cairn.step": node.id, "cairn.step.name": node.step.name},
            status=FAILED,
            error=error,
        )
        self._report(StepOutcome(node.id, node.step.name, FAILED, child.id, error=error))

    def _end_child(self, node: Node, child: Any, status: str, error: str) -> None:
        from cairn.tracking import end_child

        self._pending_keys.pop(node.id, None)
        end_child(self.run, child, status, error=error)
        self._report(StepOutcome(node.id, node.step.name, status, child.id, error=error))

    def _report(self, outcome: StepOutcome) -> None:
        self.outcomes[outcome.node] = outcome
        if self.on_step is not None:
            self.on_step(outcome)


def current_version_digest(ref: str) -> str | None:
    """The digest of the catalog version ``ref`` names now (None when it names none)."""
    from cairn import data

    try:
        return data.version(ref).digest
    except CairnError:
        return None


def _artifacts(outputs: list[dict[str, Any]]) -> list[Any]:
    from cairn.tracking import ArtifactEntry

    return [ArtifactEntry(f"output/{o['format']}", o["digest"], o["size"]) for o in outputs]


def _flat_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Params as a run records them: values that are not plain data are shown as text."""

    def plain(value: Any) -> Any:
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        if isinstance(value, Mapping):
            return {str(k): plain(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return json.dumps(value, default=repr)[:5000]
        return repr(value)[:1000]

    return {str(k): plain(v) for k, v in params.items()}


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
    _reuse_parent: int | None = None,
) -> PipelineResult:
    """Run a pipeline: steps whose code, params, inputs, packages and catalog reads are
    unchanged are served from the cache, the rest run on ``executor`` (``inline``,
    ``processes`` (default), ``dask`` or ``dask=ADDRESS``).

    ``params`` override the pipeline function's defaults and the project's ``config.params``;
    ``force`` names steps to run even when cached; ``only`` runs that step and what it needs;
    ``on_plan`` is called with the steps about to be looked at, ``on_step`` as each ends;
    ``tags`` are set on the pipeline run.
    """
    if isinstance(force, str) or not all(isinstance(f, str) for f in force):
        raise InvalidInputError("force is a list of step names, e.g. force=['train']")
    if only is not None and not isinstance(only, str):
        raise InvalidInputError(f"only is a step name, got {type(only).__name__}")
    check_workers(workers)
    pipeline, _values, graph = _resolve(target, params)
    forced = graph.select(list(force), "--force") if force else set()
    selected = graph.upstream(list(graph.select([only], "--only"))) if only else set(graph.nodes)
    if tags is not None and not isinstance(tags, Mapping):
        raise InvalidInputError(f"tags is a mapping, got {type(tags).__name__}")
    chosen = executor_for(executor, workers)
    if on_plan is not None:
        on_plan([n for n in graph.nodes if n in selected])
    try:
        coordinator = _Coordinator(
            pipeline,
            graph,
            executor=chosen,
            force=forced,
            selected=selected,
            reuse_parent=_reuse_parent,
            on_step=on_step,
            tags=tags,
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
    with store.db.read() as conn:
        from sqlalchemy import select

        from cairn.store.db.schema import runs

        parent_db_id = conn.execute(select(runs.c.id).where(runs.c.uid == record.id)).scalar_one()
    logger.info("resuming pipeline run %s (%s)", record.id, target)
    return run_pipeline(
        target,
        saved["params"],
        executor=executor,
        workers=workers,
        on_step=on_step,
        on_plan=on_plan,
        tags={k: v for k, v in record.tags.items() if k == "cairn.schedule"}
        | {"cairn.pipeline.resumed": record.id},
        _reuse_parent=int(parent_db_id),
    )


@dataclass
class StepStatus:
    """Whether a step would run, and why."""

    node: str
    step: str
    stale: bool
    reasons: list[str]


def pipeline_status(
    target: str | Pipeline, params: Mapping[str, Any] | None = None
) -> list[StepStatus]:
    """Which steps a run with ``params`` would run, and why (code, params, input data,
    packages or catalog data changed), like ``dvc status``."""
    pipeline, _values, graph = _resolve(target, params)
    settings = get_settings()
    keys = _Keys(settings.root)
    seed = pipeline_seed(pipeline)
    store = get_store()
    done: dict[str, list[dict[str, Any]]] = {}
    statuses: list[StepStatus] = []
    checks: dict[str, str | None] = {}
    for node in graph.nodes.values():
        stale_up = [u for u in node.upstream if u not in done]
        if stale_up:
            statuses.append(
                StepStatus(node.id, node.step.name, True, [f"step {stale_up[0]} will run"])
            )
            continue
        _args, _kwargs, inputs, keyed = _task_args(node, done)
        try:
            key = keys.of(node, step_seed(seed, node.id), inputs, keyed)
        except CairnError as exc:
            statuses.append(StepStatus(node.id, node.step.name, True, [str(exc)]))
            continue
        with store.db.read() as conn:
            found = _queries.results_of_key(conn, key.key) if node.step.options.cache else []
            latest = _queries.latest_of_node(conn, pipeline.name, node.id)
        reasons: list[str] = []
        for candidate in found:
            changed = [
                r
                for r in candidate.reads
                if checks.setdefault(r[0], current_version_digest(r[0])) != r[2]
            ]
            if changed:
                reasons = [f"catalog data changed ({r[0]} is no longer {r[1]})" for r in changed]
                continue
            if all(store.artifacts.exists(o["digest"]) for o in candidate.outputs):
                done[node.id] = candidate.outputs
                break
            reasons = ["its stored outputs were garbage-collected"]
        if node.id in done:
            statuses.append(StepStatus(node.id, node.step.name, False, []))
            continue
        if not node.step.options.cache:
            reasons = ["cache is off for this step"]
        elif latest is None:
            reasons = reasons or ["never run"]
        elif not reasons:
            reasons = [
                cache.REASONS[p] for p in cache.PARTS if latest.parts.get(p) != key.parts[p]
            ] or ["changed"]
        statuses.append(StepStatus(node.id, node.step.name, True, reasons))
    return statuses


__all__ = [
    "PipelineFailedError",
    "PipelineResult",
    "StepOutcome",
    "StepStatus",
    "pipeline_seed",
    "pipeline_status",
    "resume_pipeline",
    "run_pipeline",
    "step_seed",
]
