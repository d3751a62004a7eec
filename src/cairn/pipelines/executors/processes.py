"""Independent steps in parallel on local worker processes (the default executor).

On Linux, in a process that runs a single thread, the workers are forked when the executor is
made, before the pipeline run starts any thread (its heartbeat, its output capture): a fork
then copies no lock another thread holds, costs a few milliseconds, and the workers start
with the project's modules already imported. A process with threads (a notebook that used
pyarrow, NumPy's OpenBLAS) gets its workers from a forkserver, as does a pool made later
(after a worker died) and every pool where fork is not the platform's habit. A worker drops
the database connections it inherited before any step runs. Tasks travel pickled by
cloudpickle (steps defined in ``__main__`` too). A worker that dies mid-step (killed, out of
memory) breaks the pool: the steps it held run again, each in a worker of its own, up to
``LOST_WORKER_RETRIES`` times.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
from concurrent.futures import Future, InvalidStateError, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from cairn.pipelines._task import StepTask, TaskResult

LOST_WORKER_RETRIES = 3
_PRELOAD = ["cairn.pipelines._task", "cloudpickle"]


class WorkerLost(Exception):
    """The processes running a step died every time it was tried."""


def _start_worker(paths: list[str]) -> None:
    for path in reversed(paths):  # the coordinator's import path: the project's modules
        if path not in sys.path:
            sys.path.insert(0, path)
    from cairn.store import forget_store

    forget_store()  # connections inherited through fork belong to the coordinator


def _single_threaded() -> bool:
    """Whether this process runs one thread only (Linux): only then is a fork safe. A thread
    of a native library (pyarrow's pool, OpenBLAS) may hold a lock the child would wait on
    forever, and Python's own ``threading`` does not see those threads."""
    if sys.platform != "linux":
        return False
    try:
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:
        return False


def _ready() -> None:
    """A task that does nothing: sent once to make the pool fork its workers now."""


def _run_pickled(payload: bytes) -> TaskResult:
    import cloudpickle

    from cairn.pipelines._task import execute

    task: StepTask = cloudpickle.loads(payload)
    return execute(task)


class ProcessesExecutor:
    """A pool of ``workers`` local processes."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        self._closed = False
        self._outstanding: set[Future[TaskResult]] = set()
        self._lone: set[ProcessPoolExecutor] = set()  # one-step pools of retried steps
        self._forks = _single_threaded()
        self._current_pool().submit(_ready)  # fork every worker now, while no thread runs

    def _current_pool(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                if self._forks:
                    self._forks = False  # a replacement pool starts while threads run
                    self._pool = self._new_pool(self.workers, multiprocessing.get_context("fork"))
                else:
                    self._pool = self._new_pool(self.workers)
            return self._pool

    @staticmethod
    def _new_pool(
        workers: int, context: multiprocessing.context.BaseContext | None = None
    ) -> ProcessPoolExecutor:
        if context is None:
            server = multiprocessing.get_context("forkserver")
            server.set_forkserver_preload(_PRELOAD)
            context = server
        return ProcessPoolExecutor(
            workers,
            mp_context=context,
            initializer=_start_worker,
            initargs=([p for p in sys.path if p],),
        )

    def submit(self, task: StepTask) -> Future[TaskResult]:
        """Send ``task`` to a worker."""
        import cloudpickle

        outer: Future[TaskResult] = Future()
        self._send(cloudpickle.dumps(task), outer, LOST_WORKER_RETRIES)
        return outer

    def _forget(self, inner: Future[TaskResult]) -> None:
        with self._lock:
            self._outstanding.discard(inner)

    def _send(
        self, payload: bytes, outer: Future[TaskResult], retries: int, *, alone: bool = False
    ) -> None:
        """Send ``payload`` to the shared pool, or (``alone``) to a worker of its own: a step
        lost with a worker runs again alone, so a step that kills its worker (a crash in C
        code, the OOM killer) fails by itself instead of taking its neighbours down with it
        on every new pool."""
        if alone:
            pool = self._new_pool(1)
            with self._lock:
                self._lone.add(pool)
        else:
            pool = self._current_pool()
        try:
            inner = pool.submit(_run_pickled, payload)
        except (BrokenProcessPool, RuntimeError):
            if alone:
                raise
            self._replace(pool)
            pool = self._current_pool()
            inner = pool.submit(_run_pickled, payload)
        with self._lock:
            self._outstanding.add(inner)
        inner.add_done_callback(self._forget)

        def done(future: Future[TaskResult]) -> None:
            if alone:
                with self._lock:
                    self._lone.discard(pool)
                pool.shutdown(wait=False)
            if outer.done():  # cancelled by the coordinator (interrupted)
                return
            if future.cancelled():
                outer.cancel()
                return
            error = future.exception()
            try:
                if error is None:
                    outer.set_result(future.result())
                elif isinstance(error, BrokenProcessPool) and retries > 0 and not self._closed:
                    if not alone:
                        self._replace(pool)  # a worker died: the steps it held run again
                    self._send(payload, outer, retries - 1, alone=True)
                elif isinstance(error, BrokenProcessPool):
                    outer.set_exception(
                        WorkerLost(
                            f"its worker process died on each of {LOST_WORKER_RETRIES + 1} "
                            "attempts (killed by a signal, a crash in native code, or the "
                            "out-of-memory killer); run it with --executor inline to see where"
                        )
                    )
                else:
                    outer.set_exception(error)
            except InvalidStateError:
                pass  # cancelled meanwhile
            except Exception as exc:
                if not outer.done():
                    outer.set_exception(exc)

        inner.add_done_callback(done)

    def _replace(self, broken: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._pool is broken:
                self._pool = None
        broken.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        """Stop the workers: at once when steps are still running or queued (the pipeline
        was interrupted), else once they are idle."""
        self._closed = True
        with self._lock:
            pool, self._pool = self._pool, None
            pools = [*([pool] if pool is not None else []), *self._lone]
            self._lone.clear()
            busy = bool(self._outstanding)
        if not busy:
            for each in pools:
                each.shutdown(wait=True, cancel_futures=True)
            return
        # no public handle on a pool's processes before Python 3.14
        workers = [w for each in pools for w in getattr(each, "_processes", {}).values()]
        for each in pools:
            each.shutdown(wait=False, cancel_futures=True)
        for process in workers:
            if process.is_alive():
                process.terminate()
        for process in workers:
            process.join(timeout=5)
