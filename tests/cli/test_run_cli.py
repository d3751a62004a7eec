"""cairn run: a command launched as a seeded, tracked run, once or once per seed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cairn
from tests.records import own_metrics

SCRIPT = """
import json, os, random, sys
import cairn
with cairn.run() as run:
    cairn.log({"score": random.random(), "hashed": hash("cairn") % 1000})
    print(json.dumps({
        "run": run.id,
        "hashseed": os.environ.get("PYTHONHASHSEED"),
        "params": cairn.config.params.to_dict(),
        "seed": cairn.tracking.current_seed(),
    }))
sys.exit(int(os.environ.get("EXIT_WITH", "0")))
"""


def _cairn_run(project: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    (project / "script.py").write_text(SCRIPT)
    child_env = {**os.environ, **env}  # the project fixture cleared CAIRN_*
    return subprocess.run(
        [sys.executable, "-m", "cairn", "run", *args, "--", sys.executable, "script.py"],
        cwd=project,
        env=child_env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_seed_and_overrides_reach_the_program(project: Path) -> None:
    """--seed sets PYTHONHASHSEED and cairn's seed; --set overrides params; logging attaches."""
    (project / "cairn.yaml").write_text(
        "params:\n  lr: 0.1\n  model:\n    depth: 2\n    width: 8\n"
    )
    done = _cairn_run(project, "--seed", "7", "--set", "lr=0.5", "--set", "model.depth=3")
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.splitlines()[0])
    assert seen["hashseed"] == "7" and seen["seed"] == 7
    assert seen["params"] == {"lr": 0.5, "model": {"depth": 3, "width": 8}}
    record = cairn.get_run(seen["run"])
    assert record.status == "finished"
    assert record.params == {"lr": 0.5, "model.depth": 3, "model.width": 8}
    assert record.tags["cairn.seed"] == "7"
    assert set(own_metrics(record)) == {"score", "hashed"}
    again = _cairn_run(project, "--seed", "7")
    first_run = cairn.get_run(json.loads(again.stdout.splitlines()[0])["run"])
    assert own_metrics(first_run) == own_metrics(record)  # same seed: same random draws and hashes


def test_several_seeds_aggregate_on_the_parent(project: Path) -> None:
    """--seeds runs one child per seed and stores mean, std, min and max on the parent."""
    done = _cairn_run(project, "--seeds", "1,2,3", "--name", "sweep")
    assert done.returncode == 0, done.stderr
    assert "across seeds" in done.stdout
    parent = cairn.search_runs("run_name = 'sweep'").iloc[0]
    children = cairn.search_runs(f"parent_run_id = '{parent['run_id']}'")
    assert sorted(children["tags.cairn.seed"]) == ["1", "2", "3"]
    scores = list(children["metrics.score"])
    import statistics

    assert abs(parent["metrics.score.mean"] - statistics.fmean(scores)) < 1e-12
    assert abs(parent["metrics.score.std"] - statistics.stdev(scores)) < 1e-12
    assert parent["metrics.score.min"] == min(scores)
    assert parent["metrics.score.max"] == max(scores)
    assert not any(str(c).startswith("metrics.system/") and ".mean" in str(c) for c in parent.index)
    assert "tags.cairn.seed" not in parent.index or str(parent["tags.cairn.seed"]) == "nan"
    # Each program seeded every installed library itself (NumPy, not imported by it, on import).
    assert all("numpy (on import)" in s.split(",") for s in children["tags.cairn.seeded"])


def test_failing_command_fails_the_run(project: Path) -> None:
    """A command exiting non-zero passes its status on and leaves the run failed."""
    done = _cairn_run(project, "--seed", "1", EXIT_WITH="3")
    assert done.returncode == 3
    run_id = json.loads(done.stdout.splitlines()[0])["run"]
    record = cairn.get_run(run_id)  # the program ended its own run, then exited with 3
    assert record.status == "failed"
    assert record.error == "the command exited with status 3"
    frame = cairn.search_runs()
    assert len(frame) == 1


def test_bad_input_is_one_message(project: Path) -> None:
    """--set without '=', unknown commands and bad seeds exit 1 without a traceback."""
    for args, message in (
        (["--set", "lr", "--", sys.executable, "-c", "pass"], "--set takes key=value"),
        (["--", "no-such-command-here"], "was not found"),
        (["--seeds", "1,x", "--", sys.executable, "-c", "pass"], "--seeds takes"),
        (["--seed", "1", "--seeds", "2", "--", sys.executable, "-c", "pass"], "either --seed"),
    ):
        done = subprocess.run(
            [sys.executable, "-m", "cairn", "run", *args],
            cwd=project,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 1, (args, done.stderr)
        assert message in done.stderr and "Traceback" not in done.stderr
