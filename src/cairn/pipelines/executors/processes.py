"""Independent steps in parallel on local worker processes (the default executor).

On Linux the workers are forked when the executor is made, before the pipeline run starts
any thread (its heartbeat, its output capture): a fork then copies no lock another thread
holds, costs a few milliseconds, and the workers start with the project's modules already
imported. A worker drops the database connections it inherited before any step runs. A pool
made later (after a worker died) comes from a forkserver instead, as does every pool where
fork is not the platform's habit. Tasks travel pickled by cloudpickle (steps defined in
``__main__`` too). A worker that dies mid-step (killed, out of memory) breaks the pool: a new
pool takes over and the step runs again, up to ``LOST_WORKER_RETRIES`` times.
"""

from __future__ import annotations

import multiprocessing
import sys
import threading
from concurrent.futures import Future, InvalidStateError, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from cairn.pipelines._task import StepTask, TaskResult

LOST_WORKER_RETRIES = 3
_PRELOAD = ["cairn.pipelines._task", "cloudpickle"]


def _start_worker(paths: list[str]) -> None:
    for path in reversed(paths):  # the coordinator's import path: the project's modules
        if path not in sys.path:
            sys.path.insert(0, path)
    from cairn.store import forget_store

    forget_store()  # connections inherited through fork belong to the coordinator


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
        self._forks = sys.platform == "linux"
        self._current_pool().submit(_ready)  # fork every worker now, while no thread runs

    def _current_pool(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                context: multiprocessing.context.BaseContext
                if self._forks:
                    context = multiprocessing.get_context("fork")
                    self._forks = False  # a replacement pool starts while threads run
                else:
                    server = multiprocessing.get_context("forkserver")
                    server.set_forkserver_preload(_PRELOAD)
                    context = server
                self._pool = ProcessPoolExecutor(
                    self.workers,
                    mp_context=context,
                    initializer=_start_worker,
                    initargs=([p for p in sys.path if p],),
                )
            return self._pool

    def submit(self, task: StepTask) -> Future[TaskResult]:
        """Send ``task`` to a worker."""
        import cloudpickle

        outer: Future[TaskResult] = Future()
        self._send(cloudpickle.dumps(task), outer, LOST_WORKER_RETRIES)
        return outer

    def _forget(self, inner: Future[TaskResult]) -> None:
        with self._lock:
            self._outstanding.discard(inner)

    def _send(self, payload: bytes, outer: Future[TaskResult], retries: int) -> None:
        pool = self._current_pool()
        try:
            inner = pool.submit(_run_pickled, payload)
        except (BrokenProcessPool, RuntimeError):
            self._replace(pool)
            inner = self._current_pool().submit(_run_pickled, payload)
        with self._lock:
            self._outstanding.add(inner)
        inner.add_done_callback(self._forget)

        def done(future: Future[TaskResult]) -> None:
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
                    self._replace(pool)  # a worker died: this step runs again on a new pool
                    self._send(payload, outer, retries - 1)
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
            busy = bool(self._outstanding)
        if pool is None:
            return
        if not busy:
            pool.shutdown(wait=True, cancel_futures=True)
            return
        workers = list(getattr(pool, "_processes", {}).values())  # no public handle before 3.14
        pool.shutdown(wait=False, cancel_futures=True)
        for process in workers:
            if process.is_alive():
                process.terminate()
        for process in workers:
            process.join(timeout=5)
