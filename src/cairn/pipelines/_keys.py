"""What the coordinator and ``pipeline status`` share: seeds, params, and step keys.

A step's key needs the digests of its inputs, which exist once the steps above it ended (or
were found in the cache), so keys are computed step by step as the graph is walked.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from cairn.core.errors import CairnError, InvalidInputError
from cairn.core.hashing import hash_bytes
from cairn.core.settings import get_settings
from cairn.pipelines import cache
from cairn.pipelines._target import load_pipeline
from cairn.pipelines._task import Input
from cairn.pipelines.pipeline import Graph, Node, Output, Pipeline, iter_outputs


def replace_outputs(value: Any, replace: Callable[[Output], Any]) -> Any:
    if isinstance(value, Output):
        return replace(value)
    if isinstance(value, (list, tuple)):
        items = [replace_outputs(v, replace) for v in value]
        return tuple(items) if isinstance(value, tuple) else items
    if isinstance(value, dict):
        return {k: replace_outputs(v, replace) for k, v in value.items()}
    if isinstance(value, (set, frozenset)):
        return type(value)(replace_outputs(v, replace) for v in value)
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


def resolve(
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


class Keys:
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


def task_args(
    node: Node, done: Mapping[str, list[dict[str, Any]]]
) -> tuple[tuple[Any, ...], dict[str, Any], list[str], Any]:
    """The step's arguments with each ``Output`` replaced by an ``Input`` (for the worker), the
    digests it takes (for the key) and the arguments as the key sees them (inputs by index)."""
    inputs: list[str] = []

    def to_input(ref: Output) -> Input:
        stored = done[ref.node][0]
        inputs.append(stored["digest"])
        return Input(stored["digest"], stored["format"], ref.path)

    args = replace_outputs(node.args, to_input)
    kwargs = replace_outputs(node.kwargs, to_input)
    counter = iter(range(len(inputs) + 1_000_000))
    keyed = replace_outputs(
        [list(node.args), node.kwargs], lambda ref: {"input": next(counter), "path": list(ref.path)}
    )
    return args, kwargs, inputs, keyed


def plain_params(node: Node) -> dict[str, Any]:
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
        shown[name] = value if _kept_as_is(value) else _as_text(value)
    return shown


def _kept_as_is(value: Any) -> bool:
    """Whether a run's params keep ``value`` as it is: None, a bool, a float, an int that a
    float64 holds exactly."""
    if value is None or isinstance(value, (bool, float)):
        return True
    return isinstance(value, int) and abs(value) < 2**53


def _as_text(value: Any) -> str:
    """``value`` as param text the stores keep: NUL and lone surrogates escaped."""
    try:
        text = value[:1000] if isinstance(value, str) else repr(value)[:200]
    except Exception:  # a repr that fails (an int past Python's digit limit)
        text = f"<{type(value).__name__}>"
    return text.replace("\x00", "\\x00").encode("utf-8", "backslashreplace").decode()


class ResultCheck:
    """Whether a stored step result can still be reused: every object it names exists, and
    each catalog ref it read still names the version it read (asked once per ref)."""

    def __init__(self, artifacts: Any) -> None:
        self.artifacts = artifacts
        self._versions: dict[str, str | None] = {}

    def why_not(self, found: Any) -> str | None:
        """None when ``found`` (a ``CachedResult``) holds, else why it does not."""
        changed = []
        for asked, resolved, digest in found.reads:
            if asked not in self._versions:
                self._versions[asked] = current_version_digest(asked)
            if self._versions[asked] != digest:
                changed.append(f"{asked} is no longer {resolved}")
        if changed:
            return f"catalog data changed ({', '.join(changed)})"
        if not all(self.artifacts.exists(o["digest"]) for o in found.outputs):
            return "its stored outputs were garbage-collected"
        return None


def current_version_digest(ref: str) -> str | None:
    """The digest of the catalog version ``ref`` names now (None when it names none)."""
    from cairn import data

    try:
        return data.version(ref).digest
    except CairnError:
        return None
