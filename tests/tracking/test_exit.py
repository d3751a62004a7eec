"""Runs a program leaves open end when it exits: after its own threads, never waiting on pools."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cairn
from tests.records import own_metrics

LATE_THREAD = """
import threading, time
import cairn

def later():
    time.sleep(0.5)
    cairn.log({"late": 1.0})

cairn.log({"early": 1.0})
threading.Thread(target=later).start()  # not a daemon: the program waits for it
"""

OPEN_POOLS = """
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
import cairn

threads = ThreadPoolExecutor(2)
threads.submit(sum, [1, 2]).result()
processes = ProcessPoolExecutor(1)
processes.submit(sum, [1, 2]).result()
cairn.log({"done": 1.0})
"""


def _run(project: Path, source: str) -> subprocess.CompletedProcess[str]:
    (project / "program.py").write_text(source)
    return subprocess.run(
        [sys.executable, "program.py"], cwd=project, capture_output=True, text=True, timeout=120
    )


def test_a_thread_still_logging_at_exit_logs_into_the_run(project: Path) -> None:
    """A non-daemon thread logging after the main thread returns logs into the same run."""
    done = _run(project, LATE_THREAD)
    assert done.returncode == 0, done.stderr
    (run_id,) = cairn.search_runs()["run_id"]
    record = cairn.get_run(run_id)
    assert record.status == "finished"
    assert set(own_metrics(record)) == {"early", "late"}


def test_pools_left_open_do_not_keep_the_program_from_ending(project: Path) -> None:
    """Thread and process pools left open neither hang the exit nor keep the run open."""
    done = _run(project, OPEN_POOLS)  # the timeout fails the test if the exit hangs
    assert done.returncode == 0, done.stderr
    (run_id,) = cairn.search_runs()["run_id"]
    record = cairn.get_run(run_id)
    assert record.status == "finished" and set(own_metrics(record)) == {"done"}
