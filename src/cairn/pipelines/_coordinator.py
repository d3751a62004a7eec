"""The coordinator: walks a pipeline's graph, serves steps from the cache, sends the rest to
the executor, and records every step as a child run of the pipeline run.

It owns every record: a step's run is created before the step is sent and ended from the
result the worker returns, so a worker lost mid-step and retried elsewhere leaves one record,
and no step reads as finished that did not finish. The steps that become ready together (a
fan-out) are looked up in the cache with one query and recorded in one transaction, and the
steps that end together are recorded together, so a hundred tiny steps cost a handful of
transactions rather than three hundred.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass
from typing import Any

from cairn.core.errors import CairnError
from cairn.core.ids import now_ms
from cairn.core.settings import get_settings
from cairn.pipelines import _queries, cache
from cairn.pipelines._keys import (
    Keys,
    ResultCheck,
    pipeline_seed,
    plain_params,
    step_seed,
    task_args,
)
from cairn.pipelines._task import StepTask, TaskResult
from cairn.pipelines.executors.base import Executor
from cairn.pipelines.pipeline import Graph, Node, Pipeline
from cairn.store import get_store
from cairn.store.deletions import watermark
from cairn.store.lineage import INPUT, RUN, record_edge
from cairn.store.lineage import Node as LineageNode

FINISHED, FAILED, CACHED, SKIPPED, KILLED = "finished", "failed", "cached", "skipped", "killed"
MAX_ERROR = 20_000  # characters of a failed step's error and traceback kept on its run


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
class _Sent:
    """A step sent to the executor, waiting for its result."""

    node: Node
    child: Any  # tracking.ChildRun
    key: cache.StepKey
    since: int  # the deletions watermark before its outputs were stored


@dataclass
class _Planned:
    """A ready step, its key computed, before it is recorded."""

    node: Node
    seed: int
    key: cache.StepKey
    task: StepTask | None  # None for a cache hit
    hit: _queries.CachedResult | None


def artifacts_of(outputs: list[dict[str, Any]]) -> list[Any]:
    """A step's stored outputs as the artifacts of its run."""
    from cairn.tracking import ArtifactEntry

    return [ArtifactEntry(f"output/{o['format']}", o["digest"], o["size"]) for o in outputs]


def _flat_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Params as a run records them: values that are not plain data are shown as text."""
    import json

    def plain(value: Any) -> Any:
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        if isinstance(value, Mapping):
            return {str(k): plain(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return json.dumps(value, default=repr)[:5000]
        return repr(value)[:1000]

    return {str(k): plain(v) for k, v in params.items()}


class Coordinator:
    """Runs one pipeline run's steps and records them."""

    def __init__(
        self,
        pipeline: Pipeline,
        graph: Graph,
        *,
        executor: Executor,
        force: set[str],
        selected: set[str],
        reuse_parent: Sequence[int] | None,
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
        self.keys = Keys(settings.root)
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
        self.check = ResultCheck(self.store.artifacts)
        self._held: list[_Planned] = []  # cache hits not recorded yet (see _start)
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

    # ------------------------------------------------------------------------ the loop

    def execute(self) -> str:
        """Run every selected step; return the pipeline run's status."""
        pending = [n for n in self.graph.nodes.values() if n.id in self.selected]
        running: dict[Future[TaskResult], _Sent] = {}
        try:
            while pending or running:
                while True:  # skipping one step may make those below it skippable too
                    skip = [n for n in pending if self._readiness(n) == "skip"]
                    if not skip:
                        break
                    pending = [n for n in pending if n not in skip]
                    self._skip(skip)
                ready = [n for n in pending if self._readiness(n) == "ready"]
                if ready:
                    pending = [n for n in pending if n not in ready]
                    self._start(ready, running)
                    continue  # cache hits may have made more steps ready
                self._flush()  # before waiting: what is cached reads so while steps run
                if not running:
                    if pending:  # nothing runs and nothing can start: a bug, not a hang
                        self._skip(pending, "its inputs never became available")
                        pending = []
                    break
                finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
                # Popped once recorded: interrupted meanwhile, they are still there to kill.
                self._finish([(future, running[future]) for future in finished])
                for future in finished:
                    del running[future]
            self._flush()
        except BaseException:
            self._interrupted(running, pending)
            raise
        failed = [o for o in self.outcomes.values() if o.status == FAILED]
        if failed:
            self.run.end("failed", f"step {failed[0].node} failed: {failed[0].error}")
            return FAILED
        self.run.end("finished")
        return FINISHED

    def _interrupted(self, running: dict[Future[TaskResult], _Sent], pending: list[Node]) -> None:
        from cairn.tracking import ChildEnd, end_children

        for future in running:
            future.cancel()
        try:
            self._flush()  # the cache hits found before the interrupt are real
            if running:
                ends = [
                    ChildEnd(s.child, KILLED, "the pipeline was interrupted")
                    for s in running.values()
                ]
                end_children(self.run, ends)
            if pending:
                self._skip(pending, "the pipeline was interrupted")
        finally:
            self.run.end("killed", "interrupted while steps ran")

    def _readiness(self, node: Node) -> str:
        states = [self.outcomes.get(up) for up in node.upstream]
        if any(s is not None and s.status in (FAILED, SKIPPED, KILLED) for s in states):
            return "skip"
        if all(up in self.done for up in node.upstream):
            return "ready"
        return "wait"

    # ------------------------------------------------------------------ starting steps

    def _start(self, nodes: list[Node], running: dict[Future[TaskResult], _Sent]) -> None:
        """Serve ``nodes`` from the cache where possible, record the rest as running and send
        them, adding each future to ``running`` as it is sent.

        A cache hit is held back and recorded with the next steps that must be (or by
        ``_flush`` before the loop waits): a chain of cached steps costs one transaction."""
        planned: list[_Planned] = []
        broken: list[tuple[Node, str]] = []
        for node in nodes:
            seed = step_seed(self.seed, node.id)
            try:
                args, kwargs, inputs, keyed = task_args(node, self.done)
                key = self.keys.of(node, seed, inputs, keyed)
            except CairnError as exc:
                broken.append((node, str(exc)))
                continue
            task = StepTask(
                node=node.id,
                run_id="",  # known once its run is recorded
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
            planned.append(_Planned(node, seed, key, task, None))
        hits = self._lookup(planned)
        sent: list[_Planned] = []
        for plan in planned:
            plan.hit = hits.get(plan.node.id)
            if plan.hit is None:
                sent.append(plan)
            else:
                self.done[plan.node.id] = plan.hit.outputs  # steps below can be keyed now
                self._held.append(plan)
        if not sent and not broken:
            return
        since = watermark(self.store.db)  # before any worker stores an output
        held, self._held = self._held, []
        children = self._record(held + sent, broken)
        for (node, error), child in zip(broken, children[len(held) + len(sent) :], strict=True):
            self._report(StepOutcome(node.id, node.step.name, FAILED, child.id, error=error))
        unsent = list(zip(sent, children[len(held) : len(held) + len(sent)], strict=True))
        for index, (plan, child) in enumerate(unsent):
            node = plan.node
            assert plan.task is not None
            plan.task.run_id = child.id
            try:
                future = self.executor.submit(plan.task)
            except Exception as exc:  # the executor refused it (shut down, unpicklable)
                self._end_unfinished([(_Sent(node, child, plan.key, since), str(exc))])
                continue
            except BaseException:  # Ctrl-C while an inline step ran in this thread
                self._kill_unsent([c for _, c in unsent[index:]])
                raise
            running[future] = _Sent(node, child, plan.key, since)

    def _flush(self) -> None:
        """Record the cache hits held back."""
        held, self._held = self._held, []
        if held:
            self._record(held, [])

    def _record(self, plans: list[_Planned], broken: list[tuple[Node, str]]) -> list[Any]:
        """Record child runs in one transaction: cache hits (reported here, with their
        lineage edges), steps about to be sent (running), steps that could not be keyed."""
        from cairn.tracking import ChildSpec, start_children

        specs = [
            ChildSpec(
                plan.node.id,
                plain_params(plan.node),
                self._tags(plan),
                CACHED if plan.hit else "running",
                artifacts=artifacts_of(plan.hit.outputs) if plan.hit else (),
            )
            for plan in plans
        ]
        specs += [
            ChildSpec(
                node.id,
                tags={"cairn.step": node.id, "cairn.step.name": node.step.name},
                status=FAILED,
                error=error,
            )
            for node, error in broken
        ]

        def edges(conn: Any, made: list[Any]) -> None:
            # In graph order: a hit's producer is known before the steps below it need it.
            for plan, child in zip(plans, made, strict=False):
                if plan.hit is not None:
                    self.producer[plan.node.id] = child.db_id
                    self._edges_in(conn, plan.node, child.db_id)

        children = start_children(self.run, specs, also=edges)
        for plan, child in zip(plans, children, strict=False):
            if plan.hit is not None:
                node = plan.node
                outcome = StepOutcome(
                    node.id, node.step.name, CACHED, child.id, 0.0, "unchanged", plan.hit.run_uid
                )
                self._report(outcome)
        return children

    def _kill_unsent(self, children: Sequence[Any]) -> None:
        """End as killed the recorded steps that were never handed to the loop (the loop ends
        those it holds when it is interrupted)."""
        from cairn.tracking import ChildEnd, end_children

        ends = [ChildEnd(child, KILLED, "the pipeline was interrupted") for child in children]
        if ends:
            end_children(self.run, ends)

    def _tags(self, plan: _Planned) -> dict[str, Any]:
        tags: dict[str, Any] = {
            "cairn.step": plan.node.id,
            "cairn.step.name": plan.node.step.name,
            "cairn.step.key": plan.key.key,
            "cairn.seed": plan.seed,
        }
        if plan.hit is not None:
            tags["cairn.step.cached_from"] = plan.hit.run_uid
        return tags

    def _lookup(self, planned: Sequence[_Planned]) -> dict[str, _queries.CachedResult]:
        """Valid stored results of the planned steps: their objects exist and what they read
        from the catalog still resolves to the same versions."""
        wanted = [p for p in planned if p.node.id not in self.force]
        if not wanted:
            return {}
        keys = [p.key.key for p in wanted]
        with self.store.db.read() as conn:
            reused = (
                _queries.results_of_keys(conn, keys, parent_db_ids=self.reuse_parent)
                if self.reuse_parent is not None
                else {}
            )
            cached = _queries.results_of_keys(
                conn, [p.key.key for p in wanted if p.node.step.options.cache]
            )
        found: dict[str, _queries.CachedResult] = {}
        for plan in wanted:
            # resume: the failed run's own steps first (a step with cache=False included)
            candidates = reused.get(plan.key.key, []) + cached.get(plan.key.key, [])
            for candidate in candidates:
                if self.check.why_not(candidate) is None:
                    found[plan.node.id] = candidate
                    break
        return found

    def _edges_in(self, conn: Any, node: Node, consumer: int) -> None:
        """The runs whose outputs this step took are its inputs in the lineage graph."""
        now = now_ms()
        for up in node.upstream:
            record_edge(
                conn, LineageNode(RUN, self.producer[up]), LineageNode(RUN, consumer), INPUT, now
            )

    # ------------------------------------------------------------------- ending steps

    def _finish(self, items: list[tuple[Future[TaskResult], _Sent]]) -> None:
        """Record the steps that ended together, in one transaction."""
        from cairn.tracking import ChildEnd, end_children

        ends: list[Any] = []
        results: list[tuple[_Sent, TaskResult, list[dict[str, Any]]]] = []
        lost: list[tuple[_Sent, str]] = []
        for future, sent in items:
            try:
                result = future.result()
            except Exception as exc:  # the executor lost the task (not the step's own failure)
                lost.append(
                    (
                        sent,
                        f"the executor lost the step: {exc}"
                        if type(exc).__name__ == "WorkerLost"
                        else f"the executor lost the step: {type(exc).__name__}: {exc}",
                    )
                )
                continue
            if result.error is not None:
                detail = f"{result.error}\n\n{result.detail}" if result.detail else result.error
                ends.append(ChildEnd(sent.child, FAILED, detail[-MAX_ERROR:]))
                results.append((sent, result, []))
                continue
            outputs = [
                {"digest": o.digest, "size": o.size, "format": o.format} for o in result.outputs
            ]
            ends.append(
                ChildEnd(
                    sent.child,
                    FINISHED,
                    artifacts=artifacts_of(outputs),
                    tags={"cairn.step.attempts": result.attempts},
                )
            )
            results.append((sent, result, outputs))
        for sent, error in lost:
            ends.append(ChildEnd(sent.child, FAILED, error))

        def also(conn: Any) -> None:
            now = now_ms()
            for sent, result, outputs in results:
                # A failed step read its inputs too: the step graph shows where it stood.
                self._edges_in(conn, sent.node, sent.child.db_id)
                if result.error is not None:
                    continue
                _queries.insert_result(
                    conn,
                    key=sent.key.key,
                    pipeline=self.pipeline.name,
                    node=sent.node.id,
                    run_db_id=sent.child.db_id,
                    parts=sent.key.parts,
                    reads=result.reads,
                    outputs=outputs,
                    now=now,
                )

        since = min((sent.since for _, sent in items), default=None)
        end_children(self.run, ends, since=since, also=also)
        for sent, result, outputs in results:
            node = sent.node
            if result.error is not None:
                outcome = StepOutcome(
                    node.id,
                    node.step.name,
                    FAILED,
                    sent.child.id,
                    result.duration_s,
                    error=result.error,
                    attempts=result.attempts,
                )
            else:
                self.done[node.id] = outputs
                self.producer[node.id] = sent.child.db_id
                reason = "forced" if node.id in self.force else "changed or new"
                outcome = StepOutcome(
                    node.id,
                    node.step.name,
                    FINISHED,
                    sent.child.id,
                    result.duration_s,
                    reason,
                    attempts=result.attempts,
                )
            self._report(outcome)
        for sent, error in lost:
            self._report(
                StepOutcome(sent.node.id, sent.node.step.name, FAILED, sent.child.id, error=error)
            )

    def _end_unfinished(self, items: list[tuple[_Sent, str]]) -> None:
        from cairn.tracking import ChildEnd, end_children

        end_children(self.run, [ChildEnd(s.child, FAILED, error) for s, error in items])
        for sent, error in items:
            self._report(
                StepOutcome(sent.node.id, sent.node.step.name, FAILED, sent.child.id, error=error)
            )

    def _skip(self, nodes: list[Node], reason: str | None = None) -> None:
        from cairn.tracking import ChildSpec, start_children

        reasons = []
        for node in nodes:
            why = reason
            if why is None:
                broken = [
                    u
                    for u in node.upstream
                    if u in self.outcomes and self.outcomes[u].status in (FAILED, SKIPPED, KILLED)
                ]
                why = f"step {broken[0]} did not finish" if broken else "not run"
            reasons.append(why)
        specs = [
            ChildSpec(
                node.id,
                plain_params(node),
                {"cairn.step": node.id, "cairn.step.name": node.step.name},
                SKIPPED,
                why,
            )
            for node, why in zip(nodes, reasons, strict=True)
        ]
        children = start_children(self.run, specs)
        for node, why, child in zip(nodes, reasons, children, strict=True):
            self._report(StepOutcome(node.id, node.step.name, SKIPPED, child.id, reason=why))

    def _report(self, outcome: StepOutcome) -> None:
        self.outcomes[outcome.node] = outcome
        if self.on_step is not None:
            self.on_step(outcome)
