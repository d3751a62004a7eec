"""Steps on a Dask cluster: a ``LocalCluster`` started here, or a scheduler already running.

``dask`` starts a local cluster of worker processes (one thread each) that ``close`` stops;
``dask=tcp://HOST:PORT`` connects to a scheduler the user started (``dask scheduler`` /
``dask worker``, or any deployment: Kubernetes, SSH, job queues). Workers started elsewhere
need cairn installed, not the project: each task travels pickled by cloudpickle with the
project's own modules pickled by value (a local cluster's workers import them). A worker that
dies mid-step is replaced by the scheduler, which runs the step again on another worker; the
coordinator records the step once, from the result that comes back.

Dask runs tasks in threads, where a step's ``timeout`` cannot interrupt the step; here a timer
started when an attempt starts (a Dask event from the worker) fails the step with the timeout
error and releases its task. There is no retry after a timeout, and the worker thread still
inside the step runs on until the step returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import socket
import sys
import threading
import uuid
from concurrent.futures import Future, InvalidStateError
from typing import Any

from cairn.core.errors import InvalidInputError
from cairn.core.logging import logger
from cairn.pipelines._task import StepTask, TaskResult

CONNECT_TIMEOUT_S = 10.0
# A step's resource hints (cairn.step(resources=...)) as the names Dask workers advertise
# (``dask worker --resources "GPU=1"``).
RESOURCE_NAMES = {"cpus": "CPU", "gpus": "GPU", "memory": "MEMORY"}
_NO_MAIN_GUARD = (
    "a script that runs a pipeline on a local Dask cluster needs its code under "
    '`if __name__ == "__main__":` (each worker process imports the script as it starts)'
)


def _timed_call(fn: Any, topic: str, key: str) -> Any:
    """``fn`` that tells the coordinator (Dask events) when each attempt starts and ends."""

    def call(*args: Any, **kwargs: Any) -> Any:
        from distributed import get_worker

        worker = get_worker()
        worker.log_event(topic, [key, "start"])
        try:
            return fn(*args, **kwargs)
        finally:
            worker.log_event(topic, [key, "end"])

    return call


def _run_pickled(
    payload: bytes, node: str, topic: str | None, key: str, note: str | None = None
) -> TaskResult:
    """Run a task pickled by the coordinator (on a Dask worker)."""
    try:
        import cloudpickle

        task: StepTask = cloudpickle.loads(payload)
    except Exception as exc:
        if note is not None and isinstance(exc, ImportError):
            fix = (
                f"{note}: start the workers where the project imports (its folder on "
                "PYTHONPATH), or keep values that do not pickle (locks, connections) out of "
                "the modules the step uses"
            )
        else:
            fix = "install the packages the step imports where the workers run"
        error = f"the Dask worker could not load step {node}: {type(exc).__name__}: {exc}; {fix}"
        return TaskResult(node, error=error)
    from cairn.pipelines._task import execute

    if topic is not None:
        task.fn = _timed_call(task.fn, topic, key)
    return execute(task)


def _project_modules(root: str) -> list[Any]:
    """The modules of the project's own code loaded here: the workers may not import them."""
    from cairn.pipelines.cache import _under_project

    found = []
    for name, module in list(sys.modules.items()):
        if name in {"__main__", "cairn"} or name.startswith("cairn."):
            continue  # cloudpickle sends __main__ by value itself; cairn is on the workers
        path = getattr(module, "__file__", None)
        if isinstance(path, str) and _under_project(path, root):
            found.append(module)
    return found


def _check_reachable(address: str) -> None:
    """Ask the server at ``address`` who it is: a clear error before any run is recorded
    when nothing listens there, or something else than a Dask scheduler answers."""
    addressing = importlib.import_module("distributed.comm.addressing")
    try:
        scheme, location = addressing.parse_address(address)
        if scheme == "tcp":
            host, port = addressing.parse_host_port(location)
    except (ValueError, TypeError) as exc:
        raise _malformed(address, exc) from None
    if scheme == "tcp":
        # Refused at once: the client itself would retry for its whole timeout.
        try:
            with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S):
                pass
        except OSError as exc:
            raise _unreachable(address, exc) from None
    outcome: dict[str, Any] = {}

    def ask() -> None:
        try:
            outcome["reply"] = asyncio.run(_identity(address))
        except BaseException as exc:  # reported below, in the caller's thread
            outcome["error"] = exc

    # In a thread of its own: the caller may itself run an event loop (a notebook).
    thread = threading.Thread(target=ask, name="cairn-dask-probe", daemon=True)
    thread.start()
    thread.join(CONNECT_TIMEOUT_S * 2 + 5)
    error = outcome.get("error")
    if isinstance(error, ValueError):
        raise _malformed(address, error)
    if error is not None and not isinstance(error, (OSError, TimeoutError)):
        error = RuntimeError(f"the server there does not answer as Dask does: {error}")
    if error is not None or "reply" not in outcome:
        raise _unreachable(address, error or TimeoutError("no answer"))
    reply = outcome["reply"]
    kind = reply.get("type") if isinstance(reply, dict) else None
    if kind != "Scheduler":
        what = f"a Dask {kind.lower()}" if isinstance(kind, str) else "not a Dask scheduler"
        raise _unreachable(address, RuntimeError(f"the server there is {what}"))


async def _identity(address: str) -> Any:
    comm_core = importlib.import_module("distributed.comm.core")
    security = importlib.import_module("distributed.security")
    args = security.Security().get_connection_args("client")
    comm = await comm_core.connect(address, timeout=CONNECT_TIMEOUT_S, **args)
    try:
        await comm.write({"op": "identity", "reply": True})
        return await asyncio.wait_for(comm.read(), CONNECT_TIMEOUT_S)
    finally:
        comm.abort()


def _malformed(address: str, exc: BaseException) -> InvalidInputError:
    return InvalidInputError(
        f"{address!r:.200} is not a Dask scheduler address ({exc}); "
        "use dask=tcp://HOST:PORT, e.g. dask=tcp://127.0.0.1:8786"
    )


def _unreachable(address: str, exc: BaseException) -> InvalidInputError:
    reason = str(exc).strip() or type(exc).__name__
    return InvalidInputError(
        f"cannot reach the Dask scheduler at {address:.200} ({reason}); start one with "
        f"`dask scheduler` and workers with `dask worker {address:.200}`, or check the address"
    )


class DaskExecutor:
    """Sends each step to a Dask cluster through one client."""

    def __init__(self, client: Any = None, *, local_workers: int | None = None) -> None:
        self._client = client
        self.local_workers = local_workers  # a LocalCluster of this many, started on first use
        self.cluster: Any = None  # the LocalCluster started here
        self.topic = f"cairn-step-start-{uuid.uuid4().hex}"
        self._lock = threading.Lock()
        self._start_lock = threading.Lock()
        self._futures: dict[str, Any] = {}  # key -> the Dask future (kept: dropped = cancelled)
        self._timed: dict[str, tuple[StepTask, Future[TaskResult], list[int]]] = {}
        self._timers: dict[str, threading.Timer] = {}
        self._subscribed = False
        self._closed = False
        self._start_error: InvalidInputError | None = None

    @classmethod
    def connect(cls, address: str | None, workers: int | None) -> DaskExecutor:
        """A local cluster of ``workers`` processes (the CPU count by default) when
        ``address`` is None, else a client of the scheduler at ``address``."""
        from cairn.core.lazy import import_optional

        distributed = import_optional("distributed", "dask", "the dask executor")
        if address is None:
            import multiprocessing

            if getattr(multiprocessing.current_process(), "_inheriting", False):
                # A worker process starting up imports the script that runs the pipeline: run
                # nothing (nor record a run) here, so that the script's owner hears why.
                raise InvalidInputError(_NO_MAIN_GUARD)
            # Started when the first step is sent: a run served whole from the cache needs none.
            return cls(local_workers=workers or os.cpu_count() or 1)
        _check_reachable(address)
        try:
            client = distributed.Client(address, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
        except Exception as exc:  # the scheduler went away since it answered
            raise _unreachable(address, exc) from None
        if workers is not None:
            logger.info("--workers does not apply to an existing Dask scheduler (%s)", address)
        known = client.scheduler_info().get("workers", {})
        if not known:
            logger.warning(
                "the Dask scheduler at %s has no workers yet: steps wait until one joins "
                "(start one with `dask worker %s`)",
                address,
                address,
            )
        elif any(int(w.get("nthreads") or 1) > 1 for w in known.values()):
            # Steps seed the process's random generators: side by side they draw from each
            # other's sequences, and a step no longer replays.
            logger.warning(
                "some Dask workers at %s run several threads: steps that share a worker "
                "process share its random generators and do not replay exactly; start the "
                "workers with `dask worker --nthreads 1`",
                address,
            )
        return cls(client)

    @property
    def client(self) -> Any:
        """The Dask client (the local cluster's, started now if not yet)."""
        with self._start_lock:
            if self._client is None:
                if self._closed:
                    raise RuntimeError("the Dask executor is closed")
                if self._start_error is not None:  # one try per run, not one per step
                    raise self._start_error
                try:
                    self._client = self._start_local()
                except Exception as exc:
                    self._start_error = InvalidInputError(
                        f"the local Dask cluster did not start ({type(exc).__name__}: "
                        f"{str(exc).strip()[:300]}); {_NO_MAIN_GUARD}"
                    )
                    raise self._start_error from None
            return self._client

    def _start_local(self) -> Any:
        distributed = importlib.import_module("distributed")
        self.cluster = distributed.LocalCluster(
            n_workers=self.local_workers or 1,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            # The scheduler's HTTP server (health, metrics) runs even without the dashboard:
            # on a free loopback port, rather than a warning that 8787 is taken.
            scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
        )
        try:
            return distributed.Client(self.cluster, set_as_default=False)
        except BaseException:
            self.cluster.close()
            self.cluster = None
            raise

    def submit(self, task: StepTask) -> Future[TaskResult]:
        """Send ``task`` to the cluster."""
        resources = self._resources(task)
        payload, note = self._pickle(task)
        key = f"{task.node}-{uuid.uuid4().hex}"
        outer: Future[TaskResult] = Future()
        topic = None
        if task.timeout is not None:
            topic = self.topic
            self._subscribe()
            with self._lock:
                self._timed[key] = (task, outer, [0])
        try:
            inner = self.client.submit(
                _run_pickled,
                payload,
                task.node,
                topic,
                key,
                note,
                key=key,
                pure=False,
                retries=0,  # a step's retries happen inside it; a lost worker, by the scheduler
                resources=resources or None,
            )
        except BaseException:
            self._forget(key)
            raise
        with self._lock:
            self._futures[key] = inner
        inner.add_done_callback(lambda done: self._done(key, done, outer))
        outer.add_done_callback(lambda done: self._cancelled(key, done))
        return outer

    def _resources(self, task: StepTask) -> dict[str, float]:
        """The step's hints that some worker advertises (a hint no worker has would leave the
        task waiting forever, so it is dropped); one above every worker's amount fails."""
        if not task.resources:
            return {}
        advertised: dict[str, float] = {}
        for info in self.client.scheduler_info().get("workers", {}).values():
            for name, amount in (info.get("resources") or {}).items():
                advertised[name] = max(advertised.get(name, 0.0), float(amount))
        chosen: dict[str, float] = {}
        for hint, amount in task.resources.items():
            name = RESOURCE_NAMES.get(hint, hint)
            if name not in advertised or amount <= 0:
                continue
            if amount > advertised[name]:
                raise InvalidInputError(
                    f"step {task.node} asks for {hint}={amount:g}, but no Dask worker has "
                    f"more than {name}={advertised[name]:g}; lower the hint or start a worker "
                    f'with `dask worker ADDRESS --resources "{name}={amount:g}"`'
                )
            chosen[name] = amount
        return chosen

    def _pickle(self, task: StepTask) -> tuple[bytes, str | None]:
        """``task`` pickled, and why the project's modules are not in it (or None).

        A local cluster's workers import the project as this process does. Workers started
        elsewhere (another folder, another machine) may not: the project's own modules go by
        value, unless a module-level value they hold does not pickle; then by reference,
        which works where the workers can import the project.
        """
        import cloudpickle

        note = None
        if self.local_workers is None:
            from cairn.core.settings import get_settings

            root = os.path.realpath(get_settings().root)
            already = set(cloudpickle.list_registry_pickle_by_value())
            added = [m for m in _project_modules(root) if m.__name__ not in already]
            try:
                for module in added:
                    cloudpickle.register_pickle_by_value(module)
                return cloudpickle.dumps(task), None
            except Exception as exc:
                note = (
                    f"the project's modules could not be sent by value ({type(exc).__name__}: "
                    f"{exc}), so the workers must import them"
                )
            finally:
                for module in added:  # only for this task's payload: the rest stay as they were
                    with contextlib.suppress(ValueError):
                        cloudpickle.unregister_pickle_by_value(module)
        try:
            return cloudpickle.dumps(task), note
        except Exception as exc:
            raise InvalidInputError(
                f"step {task.node} cannot be sent to a Dask worker: its function or arguments "
                f"do not pickle ({type(exc).__name__}: {exc})"
            ) from None

    def _subscribe(self) -> None:
        if not self._subscribed:
            self.client.subscribe_topic(self.topic, self._attempt_event)
            self._subscribed = True

    def _attempt_event(self, event: tuple[float, Any]) -> None:
        """An attempt of a timed step started on a worker (its time limit starts now), or
        ended (the limit no longer applies: the rest is storing its output)."""
        key, what = str(event[1][0]), event[1][1]
        with self._lock:
            entry = self._timed.get(key)
            if entry is None:
                return
            previous = self._timers.pop(key, None)
            if previous is not None:
                previous.cancel()
            if what != "start":
                return
            task, _outer, attempts = entry
            attempts[0] += 1
            timer = threading.Timer(task.timeout or 0.0, self._expire, (key,))
            timer.daemon = True
            self._timers[key] = timer
        timer.start()

    def _expire(self, key: str) -> None:
        with self._lock:
            entry = self._timed.get(key)
            inner = self._futures.get(key)
        if entry is None:
            return
        task, outer, attempts = entry
        timeout = task.timeout or 0.0
        result = TaskResult(
            task.node,
            attempts=attempts[0],
            duration_s=timeout,
            error=f"step {task.node} ran past its timeout of {timeout:g} s",
        )
        _settle(outer, result=result)
        if inner is not None:
            inner.cancel()

    def _done(self, key: str, inner: Any, outer: Future[TaskResult]) -> None:
        """The Dask future ended: its result or error becomes the outer future's."""
        self._forget(key)
        if outer.done():
            return
        status = inner.status
        if status == "finished":
            try:
                _settle(outer, result=inner.result())
            except BaseException as exc:  # the result could not be fetched (worker gone)
                _settle(outer, error=exc)
        elif status == "cancelled":
            _settle(outer, error=RuntimeError("the Dask task was cancelled"))
        else:
            try:
                error = inner.exception()
            except BaseException as exc:
                error = exc
            _settle(outer, error=error or RuntimeError(f"the Dask task ended as {status}"))

    def _cancelled(self, key: str, outer: Future[TaskResult]) -> None:
        """The coordinator gave the step up (or the timer did): release its task."""
        with self._lock:
            inner = self._futures.get(key)
        if inner is not None and outer.cancelled():
            inner.cancel()
        self._forget(key)

    def _forget(self, key: str) -> None:
        with self._lock:
            self._futures.pop(key, None)
            self._timed.pop(key, None)
            timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()

    def close(self) -> None:
        """Release the tasks still running, disconnect, and stop the cluster started here."""

        with self._start_lock:
            self._closed = True
            client, cluster = self._client, self.cluster
        with self._lock:
            futures = list(self._futures.values())
            self._futures.clear()
            timers = list(self._timers.values())
            self._timers.clear()
            self._timed.clear()
        for timer in timers:
            timer.cancel()
        try:
            if client is not None:
                try:
                    if futures:
                        client.cancel(futures)
                    if self._subscribed:
                        client.unsubscribe_topic(self.topic)
                finally:
                    client.close()
        finally:
            if cluster is not None:
                cluster.close()


def _settle(
    outer: Future[TaskResult],
    result: TaskResult | None = None,
    error: BaseException | None = None,
) -> None:
    """Set ``outer`` once: the first of the task's end, its timeout or its cancel wins."""
    try:
        if error is not None:
            outer.set_exception(error)
        elif result is not None:
            outer.set_result(result)
    except InvalidStateError:
        pass


__all__ = ["DaskExecutor"]
