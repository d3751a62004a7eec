"""cairn quickstart trains a tracked model in a fresh folder and shows the runs."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

import cairn
from cairn.tracking import find_runs
from tests.records import own_metrics


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The quickstart run once in a fresh folder: the project and what it printed."""
    where = tmp_path_factory.mktemp("quickstart")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAIRN_")}
    done = subprocess.run(
        [sys.executable, "-m", "cairn.cli.main", "quickstart", "demo"],
        cwd=where,
        env={**env, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    return where / "demo", done.stdout


def test_quickstart_end_to_end(quickstart: tuple[Path, str]) -> None:
    """The quickstart creates the project, records a sweep of runs and prints next steps."""
    demo, output = quickstart
    assert "cairn runs ls" in output and "next" in output
    assert (demo / "train.py").exists() and (demo / "train_seeded.py").exists()
    cairn.configure(root=str(demo))
    runs = cairn.search_runs(experiment="quickstart")
    assert len(runs) == 4  # the sweep and its three children
    children = runs[runs["parent_run_id"].notna()]
    assert sorted(children["params.model.max_depth"]) == [2, 4, 8]
    assert (children["metrics.auc"] > 0.9).all()
    best = cairn.get_run(children.sort_values("metrics.auc").iloc[-1]["run_id"])
    assert len(best.metric_history["auc"]) == 10
    assert {"features.json", "cairn/packages.txt"} <= {a.path for a in best.artifacts}


def test_quickstart_same_seed_twice_gives_identical_metrics(
    quickstart: tuple[Path, str],
) -> None:
    """Two `cairn run --seed 42` runs of the seeded script log bit-identical metrics."""
    demo, output = quickstart
    script = (demo / "train_seeded.py").read_text()
    drawn = "random_state=int(rng.integers(2**31))"  # from cairn.rng(): cairn's seed alone
    assert script.count("random_state=") == script.count(drawn) == 2
    cairn.configure(root=str(demo))
    seeded = find_runs("tags.cairn.seed = '42'", experiment="quickstart-seeds")
    assert len(seeded) == 2 and all(r.status == "finished" for r in seeded)
    first, second = (own_metrics(r) for r in seeded)
    assert set(first) == {"auc", "accuracy"} and first == second  # exactly, not approximately
    assert "$ cairn run -e quickstart-seeds --seed 42 -- python train_seeded.py" in output
    assert "same seed, same result" in output and "bit-identical" in output
    assert "different results" not in output
    assert "do not differ in seed, params, code, packages or environment" in output


def test_quickstart_several_seeds_aggregate_on_the_parent(quickstart: tuple[Path, str]) -> None:
    """`cairn run --seeds 1,2,3` leaves a parent whose auc mean and std are its children's."""
    demo, output = quickstart
    cairn.configure(root=str(demo))
    parents = find_runs("tags.cairn.seeds = '3'", experiment="quickstart-seeds")
    assert len(parents) == 1
    parent = parents[0]
    children = find_runs(f"parent_run_id = '{parent.id}'", experiment="quickstart-seeds")
    assert sorted(int(c.tags["cairn.seed"]) for c in children) == [1, 2, 3]
    aucs = [c.metrics["auc"] for c in children]
    assert len(set(aucs)) > 1  # different seeds, different splits and forests
    assert parent.metrics["auc.mean"] == pytest.approx(statistics.fmean(aucs), rel=1e-12)
    assert parent.metrics["auc.std"] == pytest.approx(statistics.stdev(aucs), rel=1e-12)
    assert parent.metrics["auc.min"] == min(aucs) and parent.metrics["auc.max"] == max(aucs)
    assert f"$ cairn runs show {parent.id}" in output
    assert f"auc over 3 seeds: mean {parent.metrics['auc.mean']:.4f} ± " in output
