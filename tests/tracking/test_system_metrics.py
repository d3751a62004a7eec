"""The system metrics sampler: one background thread, steps per run, real psutil readings."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import psutil
import pytest

import cairn
from cairn.core.errors import InvalidInputError, RunStateError
from cairn.core.settings import configure
from cairn.tracking.system_metrics import THREAD_NAME, start_sampling, stop_sampling

BASE_KEYS = {
    "system/cpu_percent",
    "system/process_cpu_percent",
    "system/rss_mb",
    "system/memory_percent",
}
IO_KEYS = {
    "system/disk_read_mb",
    "system/disk_write_mb",
    "system/net_recv_mb",
    "system/net_sent_mb",
}


class FakeTarget:
    """A stand-in for a run that records what the sampler logs into it."""

    def __init__(self, uid: str) -> None:
        self.id = uid
        self.calls: list[tuple[dict[str, Any], int]] = []

    def _append(self, metrics: Mapping[str, Any], step: int) -> None:
        self.calls.append((dict(metrics), step))

    @property
    def steps(self) -> list[int]:
        return [step for _, step in self.calls]


class RefusingTarget(FakeTarget):
    """A target that refuses every append with the given exception."""

    def __init__(self, uid: str, error: Exception) -> None:
        super().__init__(uid)
        self.error = error

    def _append(self, metrics: Mapping[str, Any], step: int) -> None:
        super()._append(metrics, step)
        raise self.error


def _wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll until condition holds, failing after timeout seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def _sampler_threads() -> list[threading.Thread]:
    """The live sampler threads of this process."""
    return [t for t in threading.enumerate() if t.name == THREAD_NAME and t.is_alive()]


def _wait_for_no_thread() -> None:
    """Wait until the sampler thread has exited."""
    for thread in _sampler_threads():
        thread.join(timeout=5)
    assert _sampler_threads() == []


def test_first_sample_is_taken_at_once_with_every_metric() -> None:
    """Starting takes a first sample right away, holding the CPU, memory and IO metrics."""
    target = FakeTarget("first")
    start_sampling(target, 3600)
    _wait_for(lambda: len(target.calls) >= 1)
    stop_sampling(target)
    metrics, step = target.calls[0]
    assert step == 0
    expected = set(BASE_KEYS)
    if psutil.disk_io_counters() is not None:
        expected |= {"system/disk_read_mb", "system/disk_write_mb"}
    if psutil.net_io_counters() is not None:
        expected |= {"system/net_recv_mb", "system/net_sent_mb"}
    assert expected <= metrics.keys()
    assert all(k.startswith("system/") for k in metrics)
    assert all(type(v) is float for v in metrics.values())
    assert 0.0 <= metrics["system/cpu_percent"] <= 100.0
    assert metrics["system/process_cpu_percent"] >= 0.0
    assert 0.0 < metrics["system/memory_percent"] <= 100.0
    assert metrics["system/rss_mb"] > 1.0


def test_stop_takes_a_final_sample_and_then_nothing_more() -> None:
    """Stopping logs a last sample at the next step; a second stop or an unknown run is a no-op."""
    target = FakeTarget("final")
    start_sampling(target, 3600)
    _wait_for(lambda: len(target.calls) >= 1)
    stop_sampling(target)
    assert target.steps == [0, 1]
    stop_sampling(target)
    stop_sampling(FakeTarget("never-sampled"))
    time.sleep(0.2)
    assert target.steps == [0, 1]


def test_steps_count_per_run_independently() -> None:
    """Each run has its own step counter and its own interval."""
    fast, slow = FakeTarget("fast"), FakeTarget("slow")
    start_sampling(fast, 0.1)
    start_sampling(slow, 0.4)
    time.sleep(1.0)
    stop_sampling(fast)
    stop_sampling(slow)
    assert fast.steps == list(range(len(fast.calls)))
    assert slow.steps == list(range(len(slow.calls)))
    assert len(slow.calls) >= 3
    assert len(fast.calls) > len(slow.calls)


def test_one_thread_serves_every_run_and_exits_after_the_last() -> None:
    """A single sampler thread serves all runs and is gone once none is sampled."""
    _wait_for_no_thread()  # left by an earlier test, if any
    targets = [FakeTarget(f"run-{i}") for i in range(3)]
    for target in targets:
        start_sampling(target, 0.1)
    assert len(_sampler_threads()) == 1
    _wait_for(lambda: all(len(t.calls) >= 2 for t in targets))
    for target in targets:
        stop_sampling(target)
    _wait_for_no_thread()
    counts = [len(t.calls) for t in targets]
    time.sleep(0.3)
    assert [len(t.calls) for t in targets] == counts


@pytest.mark.parametrize("error", [RunStateError("run ended"), ValueError("a bug")])
def test_a_run_that_refuses_samples_is_dropped(error: Exception) -> None:
    """A target whose append raises is dropped while the others keep being sampled."""
    ended, alive = RefusingTarget("ended", error), FakeTarget("alive")
    start_sampling(ended, 0.1)
    start_sampling(alive, 0.1)
    _wait_for(lambda: len(alive.calls) >= 4)
    stop_sampling(ended)  # no longer sampled: no final sample
    stop_sampling(alive)
    assert ended.steps == [0]
    assert alive.steps == list(range(len(alive.calls)))


@pytest.mark.parametrize("interval", [0.0, -1.0, float("nan")])
def test_an_interval_that_is_not_positive_is_refused(interval: float) -> None:
    """Sampling needs a positive interval (zero would make the thread spin)."""
    with pytest.raises(InvalidInputError, match="interval"):
        start_sampling(FakeTarget("bad"), interval)


def test_disk_and_network_io_count_from_the_start_and_never_go_negative(tmp_path: Any) -> None:
    """Disk and network IO are totals since the run's first sample: zero there, never negative."""
    target = FakeTarget("io")
    start_sampling(target, 0.1)
    (tmp_path / "blob").write_bytes(os.urandom(1 << 20))
    _wait_for(lambda: len(target.calls) >= 4)
    stop_sampling(target)
    first, _ = target.calls[0]
    assert all(first[k] == 0.0 for k in IO_KEYS & first.keys())
    for metrics, _ in target.calls:
        assert all(metrics[k] >= 0.0 for k in IO_KEYS & metrics.keys())


def test_a_real_run_records_system_metrics() -> None:
    """Samples land in a real run's metric history at steps 0, 1, 2, ..."""
    configure(capture={"system_metrics": False})  # only this test's sampling, at its interval
    run = cairn.tracking.start_run()
    start_sampling(run, 0.5)
    time.sleep(1.2)
    stop_sampling(run)
    run.end()
    history = cairn.tracking.get_run(run.id).metric_history
    for key in BASE_KEYS:
        steps = [p.step for p in history[key]]
        assert len(steps) >= 2
        assert steps == list(range(len(steps)))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_samples_nothing_until_told() -> None:
    """After fork the child samples none of the parent's runs, and can sample its own."""
    parent = FakeTarget("parent")
    start_sampling(parent, 0.05)
    _wait_for(lambda: len(parent.calls) >= 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads (Python 3.12+)
        pid = os.fork()
    if pid == 0:  # the child: report through the exit status, never return into pytest
        code = 1
        try:
            before = len(parent.calls)
            time.sleep(0.3)
            stop_sampling(parent)  # not sampled here: no final sample
            child = FakeTarget("child")
            start_sampling(child, 0.05)
            _wait_for(lambda: len(child.calls) >= 2, timeout=5)
            stop_sampling(child)
            code = 0 if len(parent.calls) == before else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    stop_sampling(parent)
    assert os.waitstatus_to_exitcode(status) == 0


BUSY = "import time\nend = time.time() + 2\nwhile time.time() < end: pass"


def test_a_process_tree_is_sampled_as_a_whole() -> None:
    """With a pid, CPU and memory are the tree's: a shell's busy Python grandchild counts."""
    shell = subprocess.Popen(["sh", "-c", f"{sys.executable} -c '{BUSY}'; true"])
    _wait_for(lambda: bool(psutil.Process(shell.pid).children()))  # the interpreter started
    target = FakeTarget("tree")
    start_sampling(target, 0.5, pid=shell.pid)
    _wait_for(lambda: len(target.calls) >= 3)
    shell.wait()
    stop_sampling(target)
    # Samples while the tree lived (the sampler may also have caught it ended, before stop).
    during = [metrics for metrics, _ in target.calls[:-1] if "system/rss_mb" in metrics]
    # The grandchild busy (sh alone would be near 0), on a machine it may share with others.
    assert max(m["system/process_cpu_percent"] for m in during[1:]) > 5, target.calls
    assert max(m["system/rss_mb"] for m in during) > 5, target.calls  # more than sh alone
    final = target.calls[-1][0]  # the tree is gone: machine metrics only, no memory claimed
    assert "system/cpu_percent" in final and "system/rss_mb" not in final
