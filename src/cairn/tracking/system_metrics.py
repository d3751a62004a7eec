"""The background sampler of system metrics: CPU, memory, disk, network and GPU use.

One daemon thread per process ("cairn-system-metrics") serves every sampled run: it sleeps on
an event until the next run is due, reads the machine once and logs the reading into each due
run as ``system/*`` metrics at the run's own steps (0, 1, 2, ...). The thread starts with the
first sampled run and exits with the last. ``system/process_cpu_percent`` and ``system/rss_mb``
describe this process, or, for a run of ``cairn run``, the command's whole process tree (the
command and every process under it, whatever language they are written in). A sample is a few
psutil calls (no subprocesses) and, when nvidia-ml-py is installed and a driver answers, two
NVML calls per GPU.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any, NamedTuple, Protocol

import psutil

from cairn.core.errors import CairnError, InvalidInputError
from cairn.core.logging import logger
from cairn.core.threads import start_thread

THREAD_NAME = "cairn-system-metrics"
MIB = 1024.0 * 1024.0
MIN_WINDOW = 0.5  # seconds: CPU use over a shorter window is mostly noise
SLACK = 0.05  # runs due this close together share one reading


class MetricTarget(Protocol):
    """What the sampler logs into; a ``Run`` is one."""

    id: str

    def _append(self, metrics: Mapping[str, Any], step: int) -> None: ...


class _CpuReading(NamedTuple):
    wall: float
    busy: float  # machine CPU seconds spent working, all cores
    total: float  # machine CPU seconds, all cores


def _read_cpu() -> _CpuReading:
    # Our own deltas rather than psutil.cpu_percent(None): that keeps its previous reading per
    # calling thread, and samples are taken on the sampler thread and in stop_sampling's caller.
    times = psutil.cpu_times()
    # Linux counts guest time in user time as well (psutil's own cpu_percent does the same).
    total = sum(times) - getattr(times, "guest", 0.0) - getattr(times, "guest_nice", 0.0)
    idle = times.idle + getattr(times, "iowait", 0.0)
    return _CpuReading(time.monotonic(), total - idle, total)


class _Usage(NamedTuple):
    wall: float
    cpu: float  # CPU seconds of the watched processes
    rss: float | None  # bytes; None where every process has exited (zombies hold no memory)


class _ProcessWatch:
    """CPU and memory use of this process, or of a process and every process under it."""

    def __init__(self, pid: int | None) -> None:
        self._root = psutil.Process(pid)  # raises psutil.NoSuchProcess for a pid that is gone
        self._tree = pid is not None
        first = self._usage()
        # Two readings, as for the machine: a sample soon after the last measures from the one
        # before, so that a final sample never divides by a window of milliseconds.
        self._before = self._last = first if first is not None else _Usage(time.monotonic(), 0, 0)

    def _usage(self) -> _Usage | None:
        if not self._tree:
            own = self._root.cpu_times()
            return _Usage(time.monotonic(), own.user + own.system, self._root.memory_info().rss)
        try:
            processes = [self._root, *self._root.children(recursive=True)]
        except psutil.Error:  # the command has ended (and was reaped)
            return None
        cpu, rss, living = 0.0, 0.0, False
        for process in processes:
            try:
                with process.oneshot():
                    times = process.cpu_times()
                    # A process's reaped children count in its children_* times: the CPU of
                    # short-lived helpers (a shell's commands, a pool's workers) is kept.
                    cpu += times.user + times.system + times.children_user + times.children_system
                    if process.status() != psutil.STATUS_ZOMBIE:
                        rss += process.memory_info().rss
                        living = True
            except psutil.Error:  # it ended between the listing and the reading
                continue
        return _Usage(time.monotonic(), cpu, rss if living else None)

    def read(self) -> dict[str, float]:
        """``system/process_cpu_percent`` and ``system/rss_mb`` now (nothing once it is gone)."""
        now = self._usage()
        if now is None:
            return {}
        if now.wall - self._last.wall >= MIN_WINDOW:
            base = self._last
            self._before, self._last = self._last, now
        else:
            base = self._before
        wall = now.wall - base.wall
        # A process that ended and was not reaped by one of the tree takes its CPU time along:
        # never report a negative share.
        cpu = max(100.0 * (now.cpu - base.cpu) / wall, 0.0) if wall > 0 else 0.0
        values = {"system/process_cpu_percent": cpu}
        if now.rss is not None:  # the final sample of an ended command has CPU time only
            values["system/rss_mb"] = now.rss / MIB
        return values


@dataclass
class _Sampled:
    target: MetricTarget
    interval: float
    due: float  # time.monotonic() of the next sample
    watch: _ProcessWatch
    step: int = 0
    io_base: dict[str, float] | None = None  # disk and network counters at the first sample


def _read_io() -> dict[str, float]:
    values: dict[str, float] = {}
    disk = psutil.disk_io_counters()
    if disk is not None:  # None where the system exposes no disk counters
        values["system/disk_read_mb"] = disk.read_bytes / MIB
        values["system/disk_write_mb"] = disk.write_bytes / MIB
    net = psutil.net_io_counters()
    if net is not None:  # None where there is no network interface
        values["system/net_recv_mb"] = net.bytes_recv / MIB
        values["system/net_sent_mb"] = net.bytes_sent / MIB
    return values


class SystemMetricsSampler:
    """Samples system metrics into every registered run from one daemon thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # guards _runs and _thread
        self._sampling = threading.Lock()  # one sample at a time, so each run's steps stay ordered
        self._wake = threading.Event()
        self._runs: dict[str, _Sampled] = {}
        self._thread: threading.Thread | None = None
        # Two CPU readings: a sample soon after the last one measures from the one before.
        self._cpu_before = self._cpu_last = _read_cpu()
        self._nvml: ModuleType | None = None
        self._gpus: list[Any] = []
        self._gpu_off = False
        self._warned = False

    def start(self, target: MetricTarget, interval: float, pid: int | None = None) -> None:
        """Sample ``target`` every ``interval`` seconds, the first time right away.

        With ``pid``, the process metrics are those of that process and all under it.
        """
        if not interval > 0:
            raise InvalidInputError(f"the sampling interval must be positive, got {interval!r}")
        watch = _ProcessWatch(pid)
        with self._lock:
            if target.id in self._runs:
                return
            self._runs[target.id] = _Sampled(target, interval, time.monotonic(), watch)
            if self._thread is None:
                self._thread = start_thread(self._loop, THREAD_NAME)
        self._wake.set()

    def stop(self, target: MetricTarget) -> None:
        """Take a final sample of ``target`` and stop sampling it."""
        with self._sampling:
            with self._lock:
                sampled = self._runs.pop(target.id, None)
            if sampled is not None:
                self._sample([sampled])
        self._wake.set()  # the thread exits if that was the last run

    def _loop(self) -> None:
        while True:
            with self._lock:
                if not self._runs:
                    self._thread = None
                    return
                wait = min(s.due for s in self._runs.values()) - time.monotonic()
            if wait > 0:
                self._wake.wait(wait)  # start and stop set it, so they take effect at once
                self._wake.clear()
                continue
            with self._sampling:
                with self._lock:
                    now = time.monotonic()
                    due = [s for s in self._runs.values() if s.due <= now + SLACK]
                    for sampled in due:
                        sampled.due = now + sampled.interval
                self._sample(due)

    def _sample(self, runs: list[_Sampled]) -> None:
        try:
            shared = self._read()
            io = _read_io()
        except Exception as exc:  # psutil.Error, OSError...: sampling must never hurt the program
            if not self._warned:
                self._warned = True
                logger.warning("could not sample system metrics (%s); will keep trying", exc)
            return
        for sampled in runs:
            try:
                own = sampled.watch.read()
            except Exception as exc:  # psutil.Error: this run's sample goes without them
                own = {}
                logger.debug("no process metrics for %s: %s", sampled.target.id, exc)
            if sampled.io_base is None:
                sampled.io_base = io
            base = sampled.io_base
            # Counters can go back (a disk or interface removed): never report negative IO.
            deltas = {key: max(value - base.get(key, value), 0.0) for key, value in io.items()}
            try:
                sampled.target._append({**shared, **own, **deltas}, sampled.step)
            except Exception as exc:  # the run ended meanwhile (RunStateError), or worse
                with self._lock:
                    if self._runs.get(sampled.target.id) is sampled:
                        del self._runs[sampled.target.id]
                if not isinstance(exc, CairnError):
                    logger.warning(
                        "stopped sampling system metrics of %s: %s", sampled.target.id, exc
                    )
                continue
            sampled.step += 1

    def _read(self) -> dict[str, float]:
        now = _read_cpu()
        if now.wall - self._cpu_last.wall >= MIN_WINDOW:
            base = self._cpu_last
            self._cpu_before, self._cpu_last = self._cpu_last, now
        else:
            base = self._cpu_before
        total = now.total - base.total
        busy = 100.0 * (now.busy - base.busy) / total if total > 0 else 0.0
        return {
            "system/cpu_percent": min(max(busy, 0.0), 100.0),
            "system/memory_percent": float(psutil.virtual_memory().percent),
            **self._read_gpus(),
        }

    def _read_gpus(self) -> dict[str, float]:
        if self._gpu_off:
            return {}
        values: dict[str, float] = {}
        try:
            if self._nvml is None:
                import pynvml  # optional: pip install 'cairn-mlops[gpu]'

                pynvml.nvmlInit()
                count = pynvml.nvmlDeviceGetCount()
                self._gpus = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
                self._nvml = pynvml
            for i, handle in enumerate(self._gpus):
                used = self._nvml.nvmlDeviceGetMemoryInfo(handle)
                values[f"system/gpu{i}_utilization"] = float(
                    self._nvml.nvmlDeviceGetUtilizationRates(handle).gpu
                )
                values[f"system/gpu{i}_memory_mb"] = used.used / MIB
                if used.total:
                    values[f"system/gpu{i}_memory_percent"] = 100.0 * used.used / used.total
        except Exception as exc:  # not installed, no driver, no GPU, GPU lost: stop asking
            self._gpu_off = True
            # Quiet where GPUs never answered (most machines); heard where one stopped answering.
            level = logging.DEBUG if self._nvml is None else logging.INFO
            logger.log(level, "no GPU metrics from now on: %s", exc)
            return {}
        return values


_sampler = SystemMetricsSampler()


def _reset_after_fork() -> None:
    # A forked child (a DataLoader worker) has no sampler thread and may hold copies of locks
    # taken by it in the parent: start afresh, sampling nothing.
    global _sampler
    _sampler = SystemMetricsSampler()


if hasattr(os, "register_at_fork"):  # not on Windows, which does not fork
    os.register_at_fork(after_in_child=_reset_after_fork)


def start_sampling(run: MetricTarget, interval: float, pid: int | None = None) -> None:
    """Begin sampling system metrics into run (takes a first sample right away).

    ``pid``: sample that process and every process under it rather than this process.
    """
    _sampler.start(run, interval, pid)


def stop_sampling(run: MetricTarget) -> None:
    """Take a final sample for run and stop sampling it (no-op if not sampled)."""
    _sampler.stop(run)
