"""Independent steps in parallel on local worker processes (the default executor).

Workers come from a forkserver (a clean process with cairn's task code imported once), so
each is cheap to start and inherits no thread, lock or database connection of the
coordinator. Tasks travel pickled by cloudpickle (steps defined in ``__main__`` too). A worker
that dies mid-step (killed, out of memory) breaks the pool: a new pool takes over and the
step runs again, up to ``LOST_WORKER_RETRIES`` times.
"""

from __future__ import annotations

import multiprocessing
import sys
import threading
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from cairn.pipelines._task import StepTask, TaskResult

LOST_WORKER_RETRIES = 3
_PRELOAD = ["cairn.pipelines._task", "cairn.store", "cairn.tracking.run", "cloudpickle"]


def _start_worker(paths: list[str]) -> None:
    for path in reversed(paths):  # the coordinator's import path: the project's modules
        if path not in sys.path:
            sys.path.insert(0, path)


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

    def _current_pool(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                context = multiprocessing.get_context("forkserver")
                context.set_forkserver_preload(_PRELOAD)
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

    def _send(self, payload: bytes, outer: Future[TaskResult], retries: int) -> None:
        pool = self._current_pool()
        try:
            inner = pool.submit(_run_pickled, payload)
        except (BrokenProcessPool, RuntimeError):
            self._replace(pool)
            inner = self._current_pool().submit(_run_pickled, payload)

        def done(future: Future[TaskResult]) -> None:
            error = future.exception()
            if error is None:
                outer.set_result(future.result())
            elif isinstance(error, BrokenProcessPool) and retries > 0 and not self._closed:
                self._replace(pool)  # a worker died: this step runs again on a new pool
                try:
                    self._send(payload, outer, retries - 1)
                except Exception as exc:
                    outer.set_exception(exc)
            else:
                outer.set_exception(error)

        inner.add_done_callback(done)

    def _replace(self, broken: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._pool is broken:
                self._pool = None
        broken.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        """Stop the workers (after the steps they run)."""
        self._closed = True
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
