"""Many processes logging to one SQLite store at once lose nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import cairn
from cairn.store import get_store
from tests.records import own_metrics

WORKER = """
import sys
import cairn
from cairn.store import get_store
with cairn.run(name=f"worker-{sys.argv[1]}", experiment="concurrency") as run:
    for step in range(10_000):
        cairn.log({"loss": step * 0.5, "acc": float(sys.argv[1])}, step=step)
        if step % 2000 == 0:
            cairn.log_params({f"p{step}": step})
print(run.id)
"""


@pytest.mark.exclusive  # eight writers and their lock waits: timed by SQLite's busy timeout
def test_eight_processes_one_sqlite_store(project: Path) -> None:
    """Eight processes logging 10,000 points each: no error and every point stored."""
    script = project / "worker.py"
    script.write_text(WORKER)
    get_store()  # the store exists before the workers start, as in a team set-up
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(i)],
            cwd=project,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(8)
    ]
    run_ids = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        run_ids.append(out.strip())
    for i, run_id in enumerate(run_ids):
        record = cairn.get_run(run_id)
        assert record.status == "finished"
        assert [p.step for p in record.metric_history["loss"]] == list(range(10_000))
        assert {p.value for p in record.metric_history["acc"]} == {float(i)}
        assert own_metrics(record) == {"acc": float(i), "loss": 9999 * 0.5}
        assert len(record.params) == 5
