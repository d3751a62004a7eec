"""The executor role and the names that choose one."""

from __future__ import annotations

import os
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from cairn.core.errors import InvalidInputError

if TYPE_CHECKING:
    from cairn.pipelines._task import StepTask, TaskResult

NAMES = ("inline", "processes", "dask")
MAX_WORKERS = 1024


@runtime_checkable
class Executor(Protocol):
    """Runs step tasks; ``submit`` returns at once with a future of the task's result."""

    def submit(self, task: StepTask) -> Future[TaskResult]:
        """Start ``task``; the future holds its ``TaskResult`` (a worker lost is retried)."""
        ...

    def close(self) -> None:
        """Stop the workers this executor started."""
        ...


def check_workers(workers: Any) -> int | None:
    """``workers`` checked: None or an integer from 1 to ``MAX_WORKERS``."""
    if workers is None:
        return None
    if type(workers) is not int or not 1 <= workers <= MAX_WORKERS:
        raise InvalidInputError(
            f"workers is an integer from 1 to {MAX_WORKERS}, got {workers!r:.40}"
        )
    return workers


def executor_for(spec: str | Executor | None, workers: int | None = None) -> Executor:
    """The executor ``spec`` names (``inline``, ``processes``, ``dask``, ``dask=ADDRESS``), or
    ``spec`` itself when it is one."""
    workers = check_workers(workers)
    if spec is None:
        spec = "processes"
    if not isinstance(spec, str):
        if isinstance(spec, Executor):
            return spec
        raise InvalidInputError(
            f"executor is one of {', '.join(NAMES)} (or dask=ADDRESS) or an object with "
            f"submit() and close(), got {type(spec).__name__}"
        )
    name, _, address = spec.partition("=")
    name = name.strip().lower()
    if name == "inline" and not address:
        from cairn.pipelines.executors.inline import InlineExecutor

        return InlineExecutor()
    if name == "processes" and not address:
        from cairn.pipelines.executors.processes import ProcessesExecutor

        return ProcessesExecutor(workers or os.cpu_count() or 1)
    if name == "dask":
        from cairn.pipelines.executors.dask import DaskExecutor

        return DaskExecutor.connect(address.strip() or None, workers)
    raise InvalidInputError(
        f"unknown executor {spec!r:.80}; use inline, processes, dask or dask=tcp://HOST:PORT"
    )
