"""Steps: plain functions decorated with ``cairn.step``.

Outside a pipeline a step is its function: calling it runs it. While a pipeline function is
being turned into a graph (``cairn.pipeline``), calling a step records a node and returns an
``Output``, a stand-in for the value the step will return when the pipeline runs; passing an
``Output`` to another step is what makes an edge.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, ParamSpec, TypeVar, overload

from cairn.core.errors import InvalidInputError

P = ParamSpec("P")
R = TypeVar("R")

MAX_RETRIES = 100
#: Resource hints an executor may honour (Dask passes those its workers advertise).
RESOURCE_KEYS = ("cpus", "gpus", "memory")


@dataclass(frozen=True)
class StepOptions:
    """How a step runs: retries after a failure, a time limit, caching, resource hints."""

    retries: int = 0
    timeout: float | None = None
    cache: bool = True
    resources: Mapping[str, float] = field(default_factory=dict)


class Step(Generic[P, R]):
    """A function that a pipeline runs as a tracked, cached step."""

    def __init__(self, fn: Callable[P, R], options: StepOptions) -> None:
        if not callable(fn) or isinstance(fn, Step):
            raise InvalidInputError(f"cairn.step decorates a function, got {fn!r:.80}")
        self.fn = fn
        self.options = options
        self.name: str = getattr(fn, "__name__", type(fn).__name__)
        functools.update_wrapper(self, fn)

    def __repr__(self) -> str:
        return f"<Step {self.name}>"

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        from cairn.pipelines.pipeline import current_builder

        builder = current_builder()
        if builder is None:
            return self.fn(*args, **kwargs)
        return builder.add(self, args, kwargs)  # type: ignore[return-value]


def _finite(value: float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an int past float64 (10**400)
        return False


def _check_options(retries: Any, timeout: Any, cache: Any, resources: Any) -> StepOptions:
    if type(retries) is not int or not 0 <= retries <= MAX_RETRIES:
        raise InvalidInputError(
            f"retries is an integer from 0 to {MAX_RETRIES}, got {retries!r:.40}"
        )
    if timeout is not None and (
        isinstance(timeout, bool)
        or not isinstance(timeout, (int, float))
        or not _finite(timeout)
        or timeout <= 0
    ):
        raise InvalidInputError(f"timeout is a number of seconds above 0, got {timeout!r:.40}")
    if not isinstance(cache, bool):
        raise InvalidInputError(f"cache is True or False, got {cache!r:.40}")
    hints: dict[str, float] = {}
    if resources is not None:
        if not isinstance(resources, Mapping):
            raise InvalidInputError(
                f"resources is a mapping such as {{'cpus': 2, 'gpus': 1}}, got {resources!r:.40}"
            )
        for key, value in resources.items():
            if key not in RESOURCE_KEYS:
                raise InvalidInputError(
                    f"unknown resource {key!r:.40}; use {', '.join(RESOURCE_KEYS)}"
                )
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not _finite(value)
                or value < 0
            ):
                raise InvalidInputError(f"resource {key} is a number >= 0, got {value!r:.40}")
            hints[key] = float(value)
    return StepOptions(retries, None if timeout is None else float(timeout), cache, hints)


@overload
def step(fn: Callable[P, R], /) -> Step[P, R]: ...


@overload
def step(
    *,
    retries: int = 0,
    timeout: float | None = None,
    cache: bool = True,
    resources: Mapping[str, float] | None = None,
) -> Callable[[Callable[P, R]], Step[P, R]]: ...


def step(
    fn: Callable[P, R] | None = None,
    /,
    *,
    retries: int = 0,
    timeout: float | None = None,
    cache: bool = True,
    resources: Mapping[str, float] | None = None,
) -> Step[P, R] | Callable[[Callable[P, R]], Step[P, R]]:
    """Make a function a pipeline step (``@cairn.step`` or ``@cairn.step(retries=2)``).

    ``retries``: runs again after an exception, up to this many times; ``timeout``: seconds
    before the step fails; ``cache``: reuse the outputs of an identical earlier run (same code,
    params, inputs and packages); ``resources``: ``cpus``/``gpus``/``memory`` (bytes) hints
    for the executor.
    """
    options = _check_options(retries, timeout, cache, resources)
    if fn is not None:
        return Step(fn, options)
    return lambda f: Step(f, options)


__all__ = ["RESOURCE_KEYS", "Step", "StepOptions", "step"]
