"""Run status you can trust: crashed runs are told apart from running ones, nothing is lost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import update

import cairn
from cairn.core.ids import now_ms
from cairn.store import Store
from cairn.store.db.schema import runs
from cairn.tracking import _liveness

LOGGER = """
import sys, time
import cairn
run = cairn.run()
print(run.id, flush=True)
step = 0
while True:
    cairn.log({"x": float(step)}, step=step)
    print(step, flush=True)
    step += 1
    time.sleep(0.01)
"""


def _child_env(store: Store) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAIRN_")}
    env["CAIRN_STORE"] = store.db.url
    return env


def test_sigkilled_run_reads_crashed_and_keeps_flushed_points(project: Path, store: Store) -> None:
    """A run whose process was SIGKILLed reads as crashed and lost at most ~1 s of points."""
    script = project / "logger.py"
    script.write_text(LOGGER)
    with subprocess.Popen(
        [sys.executable, str(script)],
        cwd=project,
        env=_child_env(store),
        stdout=subprocess.PIPE,
        text=True,
    ) as proc:
        assert proc.stdout is not None
        run_id = proc.stdout.readline().strip()
        started = time.monotonic()
        last = -1
        while time.monotonic() - started < 3.0:
            last = int(proc.stdout.readline())
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    record = cairn.get_run(run_id)
    assert record.status == "crashed"
    steps = [p.step for p in record.metric_history["x"]]
    assert steps == list(range(len(steps)))  # no gaps
    # Logged every ~10 ms and flushed every second: at most about one second is missing.
    assert last - steps[-1] <= 150, (last, steps[-1])
    assert [r.id for r in cairn.tracking.find_runs("status = 'crashed'")] == [run_id]
    assert cairn.tracking.find_runs("status = 'running'") == []


def test_sigint_flushes_and_ends_the_run_killed(project: Path, store: Store) -> None:
    """Ctrl-C (SIGINT) writes every logged point and ends the run killed."""
    script = project / "logger.py"
    script.write_text(LOGGER)
    with subprocess.Popen(
        [sys.executable, str(script)],
        cwd=project,
        env=_child_env(store),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as proc:
        assert proc.stdout is not None
        run_id = proc.stdout.readline().strip()
        for _ in range(50):
            last = int(proc.stdout.readline())
        proc.send_signal(signal.SIGINT)
        rest = proc.stdout.read().split()
        proc.wait(timeout=30)
    last = int(rest[-1]) if rest else last
    record = cairn.get_run(run_id)
    assert record.status == "killed"
    assert [p.step for p in record.metric_history["x"]][-1] >= last


def test_live_run_reads_running(store: Store) -> None:
    """A run whose process is alive and beating reads as running."""
    with cairn.run() as run:
        assert cairn.get_run(run.id).status == "running"
        assert [r.id for r in cairn.tracking.find_runs("status = 'running'")] == [run.id]
    assert cairn.get_run(run.id).status == "finished"


def _set(store: Store, run_id: str, **values: object) -> None:
    store.db.transact(
        lambda conn: conn.execute(update(runs).where(runs.c.uid == run_id).values(**values))
    )


def test_silent_heartbeat_reads_crashed_until_it_resumes(store: Store) -> None:
    """A run on another host whose heartbeat stopped reads crashed, and running once it beats."""
    run = cairn.run()
    try:
        stale = now_ms() - _liveness.STALE_MS - 1000
        _set(store, run.id, host="another-host", pid=1, heartbeat_ms=stale)
        assert cairn.get_run(run.id).status == "crashed"
        _set(store, run.id, heartbeat_ms=now_ms())
        assert cairn.get_run(run.id).status == "running"
    finally:
        run.end()
    assert cairn.get_run(run.id).status == "finished"


def test_reused_pid_is_not_the_run_process(store: Store) -> None:
    """A pid now held by a process started after the run's last heartbeat means a crash."""
    run = cairn.run()
    beat = now_ms() - 5_000  # recent: not stale, but older than the process below
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) as other:
        try:
            _set(store, run.id, pid=other.pid, heartbeat_ms=beat)
            assert cairn.get_run(run.id).status == "crashed"
            _set(store, run.id, heartbeat_ms=now_ms())
            assert cairn.get_run(run.id).status == "running"
        finally:
            other.kill()
            run.end()


def test_heartbeat_is_sent_while_the_run_lives(
    project: Path, monkeypatch: pytest.MonkeyPatch, store: Store
) -> None:
    """The metric writer's thread refreshes the heartbeat of live runs."""
    monkeypatch.setattr("cairn.tracking._sink.HEARTBEAT_S", 0.2)
    run = cairn.run()
    try:
        _set(store, run.id, heartbeat_ms=5)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with store.db.read() as conn:
                beat = conn.execute(runs.select().where(runs.c.uid == run.id)).one().heartbeat_ms
            if beat > 5:
                break
            time.sleep(0.1)
        assert beat > now_ms() - 60_000
    finally:
        run.end()


SHIFTED_CLOCK = """
import time
_real = time.time_ns
time.time_ns = lambda: _real() + {shift_ms} * 1_000_000
time.time = lambda: time.time_ns() / 1e9
import cairn
"""


def test_liveness_is_judged_on_the_database_clock(project: Path, store: Store) -> None:
    """A writer and a reader whose clocks are 10 minutes off (either way) still see a live run."""
    shift = 10 * 60_000  # far beyond STALE_MS
    writer = project / "writer.py"
    writer.write_text(
        SHIFTED_CLOCK.format(shift_ms=-shift)
        + "run = cairn.run()\nprint(run.id, flush=True)\ntime.sleep(120)\n"
    )
    reader = project / "reader.py"
    reader.write_text(
        SHIFTED_CLOCK.format(shift_ms=shift)
        + "import sys\nprint(cairn.get_run(sys.argv[1]).status)\n"
    )
    with subprocess.Popen(
        [sys.executable, str(writer)],
        cwd=project,
        env=_child_env(store),
        stdout=subprocess.PIPE,
        text=True,
    ) as proc:
        assert proc.stdout is not None
        try:
            run_id = proc.stdout.readline().strip()
            assert cairn.get_run(run_id).status == "running"  # the writer's clock is 10 min slow
            done = subprocess.run(
                [sys.executable, str(reader), run_id],
                cwd=project,
                env=_child_env(store),
                capture_output=True,
                text=True,
                check=True,
            )
            assert done.stdout.strip() == "running"  # the reader's clock is 10 min fast
        finally:
            proc.kill()
