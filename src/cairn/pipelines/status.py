"""``cairn pipeline status``: which steps a run would run, and why, like ``dvc status``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cairn.core.errors import CairnError
from cairn.core.settings import get_settings
from cairn.pipelines import _queries, cache
from cairn.pipelines._keys import (
    Keys,
    ResultCheck,
    pipeline_seed,
    resolve,
    step_seed,
    task_args,
)
from cairn.pipelines.pipeline import Pipeline
from cairn.store import get_store


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
    pipeline, _values, graph = resolve(target, params)
    settings = get_settings()
    keys = Keys(settings.root)
    seed = pipeline_seed(pipeline)
    store = get_store()
    done: dict[str, list[dict[str, Any]]] = {}
    statuses: list[StepStatus] = []
    check = ResultCheck(store.artifacts)
    for node in graph.nodes.values():
        stale_up = [u for u in node.upstream if u not in done]
        if stale_up:
            statuses.append(
                StepStatus(node.id, node.step.name, True, [f"step {stale_up[0]} will run"])
            )
            continue
        _args, _kwargs, inputs, keyed = task_args(node, done)
        try:
            key = keys.of(node, step_seed(seed, node.id), inputs, keyed)
        except CairnError as exc:
            statuses.append(StepStatus(node.id, node.step.name, True, [str(exc)]))
            continue
        with store.db.read() as conn:
            found = (
                _queries.results_of_keys(conn, [key.key]).get(key.key, [])
                if node.step.options.cache
                else []
            )
            latest = _queries.latest_of_node(conn, pipeline.name, node.id)
        reasons: list[str] = []
        for candidate in found:
            why = check.why_not(candidate)
            if why is None:
                done[node.id] = candidate.outputs
                break
            reasons = [why]
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


__all__ = ["StepStatus", "pipeline_status"]
