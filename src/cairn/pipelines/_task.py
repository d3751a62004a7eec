"""What runs where a step runs: inputs read from the artifact store, the function seeded and
timed, its output stored back. The coordinator records the run; a worker only computes.

A task carries digests, never the data itself: large objects go worker → artifact store →
worker and never through the scheduler's memory. The same function serves every executor
(inline, local processes, Dask workers).
"""

from __future__ import annotations

import io
import signal
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from cairn.core import context

PICKLE = "pickle"
PARQUET_PANDAS = "parquet-pandas"
PARQUET_ARROW = "parquet-arrow"


@dataclass(frozen=True)
class Input:
    """An upstream output a step takes: stored object ``digest``, the part ``path`` of it."""

    digest: str
    format: str
    path: tuple[int | str, ...] = ()


@dataclass(frozen=True)
class StoredOutput:
    """A step's return value, stored."""

    digest: str
    size: int
    format: str


@dataclass
class StepTask:
    """A step call, ready to run anywhere that reaches the stores."""

    node: str
    run_id: str  # the step's run, which logging inside the step joins
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    seed: int
    retries: int
    timeout: float | None
    params: Mapping[str, Any]
    settings: dict[str, Any]  # what the worker configures to reach the same stores
    resources: dict[str, float] = field(default_factory=dict)


@dataclass
class TaskResult:
    """How a step call ended, as the worker tells the coordinator."""

    node: str
    outputs: list[StoredOutput] = field(default_factory=list)
    reads: list[tuple[str, str, str]] = field(default_factory=list)
    attempts: int = 0
    duration_s: float = 0.0
    error: str | None = None  # one line: what went wrong
    detail: str | None = None  # the traceback, for the run's record


class StepTimeout(Exception):
    """A step ran past its ``timeout``."""


def execute(task: StepTask) -> TaskResult:
    """Run ``task``: retries, seed, time limit; store its output; never raise for the step's
    own failure (the result says it)."""
    started = time.perf_counter()
    result = TaskResult(task.node)
    # A retry gets the arguments as they were: an attempt may have changed them in place.
    pristine = _snapshot(task) if task.retries else None
    from cairn.tracking import seed

    for attempt in range(task.retries + 1):
        result.attempts = attempt + 1
        try:
            store = _store_for(task.settings)
            decoded: dict[str, Any] = {}  # one object per input within this step
            given = (task.args, task.kwargs) if pristine is None else _restore(pristine)
            args = _materialize(given[0], store, decoded)
            kwargs = _materialize(given[1], store, decoded)
        except Exception as exc:
            result.error = f"could not read the step's inputs: {type(exc).__name__}: {exc}"
            result.detail = traceback.format_exc()
            break
        # Seeded before the step's run is current: the coordinator records the seed itself.
        seed(task.seed)  # the same draws on every attempt and every replay
        tokens = context.enter_step(task.run_id, task.params)
        try:
            with _time_limit(task.timeout, task.node):
                value = task.fn(*args, **kwargs)
        except (Exception, SystemExit) as exc:  # sys.exit() in a step fails the step alone
            result.error = _one_line(exc)
            result.detail = traceback.format_exc()
            continue
        finally:
            _let_go(task.run_id)  # while the step's run is still the current one
            result.reads = context.leave_step(task.run_id, tokens)
        result.error = result.detail = None
        try:
            result.outputs = [_store_output(store, value, task.node)]
        except Exception as exc:
            result.error = str(exc)
            result.detail = traceback.format_exc()
        break
    result.duration_s = time.perf_counter() - started
    return result


def _snapshot(task: StepTask) -> bytes | None:
    """The step's plain arguments as bytes, to give each retry a fresh copy (None when they
    cannot be pickled: retries then share them)."""
    import cloudpickle

    try:
        return bytes(cloudpickle.dumps((task.args, task.kwargs)))
    except Exception:
        return None


def _restore(snapshot: bytes) -> tuple[tuple[Any, ...], dict[str, Any]]:
    import cloudpickle

    args, kwargs = cloudpickle.loads(snapshot)
    return args, kwargs


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:500]}" if text else type(exc).__name__


def _let_go(run_id: str) -> None:
    """Write what the step logged to its run (joined on first log), leaving it running."""
    from cairn.tracking import leave_joined_run

    leave_joined_run(run_id)


@contextmanager
def _time_limit(seconds: float | None, node: str) -> Iterator[None]:
    """Raise ``StepTimeout`` in the step after ``seconds`` (in the main thread; elsewhere the
    coordinator enforces the limit)."""
    if seconds is None or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum: int, frame: Any) -> None:
        raise StepTimeout(f"step {node} ran past its timeout of {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _store_for(settings: dict[str, Any]) -> Any:
    """The store the coordinator uses, configured here when this process differs."""
    from cairn.core.settings import configure, get_settings
    from cairn.store import get_store

    current = get_settings()
    if (
        current.store_url != settings["store"]
        or current.artifacts_url != settings["artifacts"]
        or str(current.root) != settings["root"]
    ):
        configure(**settings)
    return get_store()


# digest -> stored bytes, for the inputs several steps share. Bytes, not decoded values: a
# step that changes its input in place must not change what the next step here is given.
_read: dict[str, bytes] = {}


READ_CACHE_BYTES = 256 << 20  # a worker keeps at most this much of the inputs it read


def _keep(digest: str, data: bytes) -> None:
    """Keep an input's bytes for the next step in this worker, within ``READ_CACHE_BYTES``
    (a large output is read again rather than held)."""
    if len(data) > READ_CACHE_BYTES // 4:
        return
    if sum(map(len, _read.values())) + len(data) > READ_CACHE_BYTES:
        _read.clear()
    _read[digest] = data


def _materialize(value: Any, store: Any, decoded: dict[str, Any]) -> Any:
    if isinstance(value, Input):
        whole = decoded.get(value.digest)
        if whole is None:
            data = _read.get(value.digest)
            if data is None:
                data = store.artifacts.read_bytes(value.digest)
                _keep(value.digest, data)
            whole = decoded[value.digest] = decode(data, value.format)
        for key in value.path:
            whole = whole[key]
        return whole
    if isinstance(value, (list, tuple)):
        items = [_materialize(v, store, decoded) for v in value]
        return type(value)(items) if isinstance(value, tuple) else items
    if isinstance(value, dict):
        return {k: _materialize(v, store, decoded) for k, v in value.items()}
    return value


def _store_output(store: Any, value: Any, node: str) -> StoredOutput:
    data, fmt = encode(value, node)
    stored = store.artifacts.put_bytes(data)
    return StoredOutput(stored.digest, stored.size, fmt)


def encode(value: Any, node: str) -> tuple[bytes, str]:
    """``value`` as bytes and their format: Parquet for tables, cloudpickle otherwise."""
    module = type(value).__module__ or ""
    if module.startswith("pandas") and type(value).__name__ == "DataFrame":
        import pyarrow as pa
        import pyarrow.parquet as pq

        buffer = io.BytesIO()
        try:
            pq.write_table(pa.Table.from_pandas(value), buffer)
            return buffer.getvalue(), PARQUET_PANDAS
        except (pa.ArrowException, ValueError, TypeError):
            pass  # mixed-type object columns: pickle keeps them as they are
    if module.startswith("pyarrow") and type(value).__name__ == "Table":
        import pyarrow.parquet as pq

        buffer = io.BytesIO()
        pq.write_table(value, buffer)
        return buffer.getvalue(), PARQUET_ARROW
    import cloudpickle

    try:
        return cloudpickle.dumps(value, protocol=5), PICKLE
    except Exception as exc:
        raise OutputError(
            f"step {node} returned a {type(value).__name__}, which cannot be stored ({exc}); "
            "return plain data, arrays, tables or a model, not open files, locks or generators"
        ) from None


def decode(data: bytes, fmt: str) -> Any:
    """The value ``encode`` stored."""
    if fmt in (PARQUET_PANDAS, PARQUET_ARROW):
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pq.read_table(pa.BufferReader(data))
        return table.to_pandas() if fmt == PARQUET_PANDAS else table
    import cloudpickle

    return cloudpickle.loads(data)


class OutputError(Exception):
    """A step's return value cannot be stored."""


__all__ = [
    "Input",
    "OutputError",
    "StepTask",
    "StoredOutput",
    "TaskResult",
    "decode",
    "encode",
    "execute",
]
