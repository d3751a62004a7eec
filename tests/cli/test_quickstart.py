"""cairn quickstart trains a tracked model in a fresh folder and shows the runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cairn


def test_quickstart_end_to_end(tmp_path: Path) -> None:
    """The quickstart creates the project, records a sweep of runs and prints next steps."""
    env = {**os.environ, "COLUMNS": "200"}  # the project fixture cleared CAIRN_*
    done = subprocess.run(
        [sys.executable, "-m", "cairn.cli.main", "quickstart", "demo"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "cairn runs ls" in done.stdout and "next" in done.stdout
    assert (tmp_path / "demo" / "train.py").exists()
    cairn.configure(root=str(tmp_path / "demo"))
    runs = cairn.search_runs(experiment="quickstart")
    assert len(runs) == 4  # the sweep and its three children
    children = runs[runs["parent_run_id"].notna()]
    assert sorted(children["params.model.max_depth"]) == [2, 4, 8]
    assert (children["metrics.auc"] > 0.9).all()
    best = cairn.get_run(children.sort_values("metrics.auc").iloc[-1]["run_id"])
    assert len(best.metric_history["auc"]) == 10
    assert {"features.json", "cairn/packages.txt"} <= {a.path for a in best.artifacts}
