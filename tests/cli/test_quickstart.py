"""cairn quickstart trains a tracked model through a pipeline in a fresh folder, shows the runs."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

import cairn
from cairn.cli.quickstart import (
    DATA_DESCRIPTION,
    DATA_SOURCE,
    REPORT,
    SHIFTED,
    WINDOW_ROWS,
    _dataset,
)
from cairn.core.user import current_user
from cairn.data import show_dataset
from cairn.monitoring import monitor_history
from cairn.tracking import RunRecord, find_runs
from tests.records import own_metrics

STEPS = [
    "load",
    "validate",
    "featurize",
    "train[0]",
    "train[1]",
    "train[2]",
    "evaluate",
    "register",
]


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The quickstart run once in a fresh folder: the project and what it printed."""
    where = tmp_path_factory.mktemp("quickstart")
    # Links planted where quickstart writes its files: they must be replaced, not followed.
    (where / "demo").mkdir()
    (where / "outside").mkdir()
    (where / "demo" / "pipeline.py").symlink_to(where / "outside" / "pipeline.py")
    (where / "demo" / "cairn.yaml").symlink_to(where / "outside" / "cairn.yaml")
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


def test_quickstart_never_writes_through_a_link(quickstart: tuple[Path, str]) -> None:
    """Dangling links planted at the quickstart's file names are replaced, never followed."""
    demo, _ = quickstart
    assert list((demo.parent / "outside").iterdir()) == []
    for name in ("pipeline.py", "cairn.yaml"):
        assert (demo / name).is_file() and not (demo / name).is_symlink()


def _pipeline_runs(demo: Path) -> list[tuple[RunRecord, dict[str, RunRecord]]]:
    """The quickstart's pipeline runs, oldest first, each with its step runs by node."""
    cairn.configure(root=str(demo))
    runs = sorted(find_runs("tags.cairn.pipeline = 'training'"), key=lambda r: r.start_ms)
    return [
        (run, {c.tags["cairn.step"]: c for c in find_runs(f"parent_run_id = '{run.id}'")})
        for run in runs
    ]


def test_quickstart_end_to_end(quickstart: tuple[Path, str]) -> None:
    """The quickstart writes the pipeline, runs it, and trains one model per seed in it."""
    demo, output = quickstart
    assert "$ cairn pipeline run pipeline:training" in output and "next" in output
    assert (demo / "pipeline.py").exists() and (demo / "train_seeded.py").exists()
    runs = _pipeline_runs(demo)
    assert len(runs) == 3 and all(run.status == "finished" for run, _ in runs)
    first, steps = runs[0]
    assert first.tags["cairn.pipeline.target"] == "pipeline:training"
    assert first.params["model.max_depth"] == 4 and first.experiment == "quickstart"
    assert sorted(steps) == sorted(STEPS)
    trained = [steps[f"train[{i}]"] for i in range(3)]
    assert sorted(t.params["seed"] for t in trained) == [1, 2, 3]  # the fan-out, one per seed
    assert all(t.params["max_depth"] == 4 and t.metrics["auc"] > 0.9 for t in trained)
    best = cairn.get_run(trained[0].id)
    assert len(best.metric_history["auc"]) == 10  # the learning curve: 10 to 100 trees
    assert "cairn pipeline show pipeline:training" in output
    assert "register <- evaluate" in output


def test_quickstart_second_run_is_all_cached(quickstart: tuple[Path, str]) -> None:
    """Run again unchanged, every step comes from the cache, each from the first run's step."""
    demo, output = quickstart
    (_, made), (second, steps) = _pipeline_runs(demo)[:2]
    assert {node: s.status for node, s in steps.items()} == dict.fromkeys(STEPS, "cached")
    for node, step in steps.items():
        assert step.tags["cairn.step.cached_from"] == made[node].id
    assert f"pipeline run {second.id} finished (8 cached)" in output
    assert "all 8 steps cached: nothing ran" in output
    assert "ran nothing: all 8 steps cached" in output  # the summary
    versions = cairn.registry.list_versions("breast-cancer-rf")
    assert {v.run_id for v in versions} == {
        made["register"].id,
        _pipeline_runs(demo)[2][1]["register"].id,
    }  # no version registered by the cached run


def test_quickstart_changed_param_reruns_only_the_steps_below_it(
    quickstart: tuple[Path, str],
) -> None:
    """--set model.max_depth=2 re-runs train, evaluate and register; load, validate and
    featurize stay cached."""
    demo, output = quickstart
    (first, _), _, (third, steps) = _pipeline_runs(demo)
    assert third.params["model.max_depth"] == 2 and first.params["model.max_depth"] == 4
    below = ["train[0]", "train[1]", "train[2]", "evaluate", "register"]
    assert {node: s.status for node, s in steps.items()} == {
        "load": "cached",
        "validate": "cached",
        "featurize": "cached",
        **dict.fromkeys(below, "finished"),
    }
    assert all(steps[f"train[{i}]"].params["max_depth"] == 2 for i in range(3))
    assert "$ cairn pipeline run pipeline:training --set model.max_depth=2" in output
    status = output.split("$ cairn pipeline status pipeline:training --set model.max_depth=2")[1]
    assert "params changed" in status.split("$ cairn pipeline run")[0]
    assert f"ran {', '.join(below)}; cached load, validate, featurize" in output  # the summary
    assert "cairn pipeline status pipeline:training" in output.split("the pipeline, three runs")[1]
    assert "cairn pipeline ls" in output.split("the pipeline, three runs")[1]


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
    # auc and accuracy from the script; the training score from autolog (on under cairn run)
    assert set(first) == {"auc", "accuracy", "training_accuracy_score"}
    assert first == second  # exactly, not approximately
    record = cairn.get_run(seeded[0].id)
    assert record.tags["cairn.autolog"] == "sklearn" and record.params["n_estimators"] == 100
    assert "autologged (no log call in train_seeded.py): RandomForestClassifier's" in output
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


def test_quickstart_adds_the_dataset_every_training_run_reads(
    quickstart: tuple[Path, str],
) -> None:
    """breast-cancer@v1 has its catalog fields and is an input of the pipeline steps that read it
    and of every seeded run."""
    demo, output = quickstart
    cairn.configure(root=str(demo))
    detail = show_dataset("breast-cancer")
    found = detail.dataset
    assert found.description == DATA_DESCRIPTION and found.source == DATA_SOURCE
    assert found.owner == (current_user() or "you@example.com") and found.frequency == "monthly"
    assert [v.number for v in detail.versions] == [1]
    facts = detail.tables[1]["breast_cancer.csv"]
    assert facts.rows == 569 and ("target", "int64") in facts.columns
    (_, first), _, (_, third) = _pipeline_runs(demo)
    # load reads it once (then cached); register reads its input example in each run it ran.
    steps = [first["load"], first["register"], third["register"]]
    seeded = find_runs("tags.cairn.seed IS NOT NULL", experiment="quickstart-seeds")
    assert len(seeded) == 5  # seed 42 twice, seeds 1, 2 and 3
    readers = {use.run_id for use in detail.uses[1] if use.relation == "input"}
    assert readers == {r.id for r in [*steps, *seeded]}
    assert "$ cairn data add data --name breast-cancer --description " in output
    assert "added breast-cancer@v1: 1 file" in output
    assert "$ cairn data ls" in output and "$ cairn data show breast-cancer" in output
    assert "cairn data show breast-cancer   # " in output  # among the next steps


def test_quickstart_again_leaves_the_dataset_unchanged(
    quickstart: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Adding the dataset again in the same project keeps the table and makes no new version."""
    demo, _ = quickstart
    table = demo / "data" / "breast_cancer.csv"
    written = table.stat().st_mtime_ns
    cairn.configure(root=str(demo))
    _dataset(demo)
    assert "breast-cancer is unchanged: same content as breast-cancer@v1" in capsys.readouterr().out
    assert table.stat().st_mtime_ns == written
    assert [v.number for v in show_dataset("breast-cancer").versions] == [1]


def test_quickstart_registers_a_champion_and_prints_its_lineage(
    quickstart: tuple[Path, str],
) -> None:
    """Each pipeline run that trained registers a version; the best becomes champion, loads,
    and its lineage leads to the data."""
    demo, output = quickstart
    cairn.configure(root=str(demo))
    champion = cairn.registry.get_model_version("breast-cancer-rf@champion")
    best = cairn.get_run(str(champion.run_id))
    assert best.metrics["auc"] == max(
        cairn.get_run(str(v.run_id)).metrics["auc"]
        for v in cairn.registry.list_versions("breast-cancer-rf")
    )
    assert champion.run_id in {steps["register"].id for _, steps in _pipeline_runs(demo)}
    assert len(cairn.registry.list_versions("breast-cancer-rf")) == 2
    assert "cairn models lineage breast-cancer-rf@champion" in output
    assert "breast-cancer@v1" in output.split("cairn models lineage")[1]
    loaded = cairn.load_model("models:/breast-cancer-rf@champion")
    assert loaded.version == champion.version and loaded.signature is not None


def test_quickstart_serves_the_champion_and_logs_its_predictions(
    quickstart: tuple[Path, str],
) -> None:
    """The quickstart serves the champion, sends it requests, and shows metrics and the log;
    every row it sent (two monitoring windows' worth) is in the log."""
    demo, output = quickstart
    assert output.count("POST /predict ->") == 3
    assert 'cairn_requests_total{model="breast-cancer-rf",status="200"} 3.0' in output
    cairn.configure(root=str(demo))
    log = cairn.serving.read_prediction_log("breast-cancer-rf")
    assert len(log) == 2 * WINDOW_ROWS and set(log["_version"]) == {
        cairn.registry.get_model_version("breast-cancer-rf@champion").version
    }
    assert log["_proba_1"].notna().all()


def test_quickstart_monitoring_flags_the_shifted_feature_and_no_other(
    quickstart: tuple[Path, str],
) -> None:
    """Monitoring the served traffic against the training data flags the shifted feature in
    the shifted window and nothing else; the windows are stored and the report is written."""
    demo, output = quickstart
    section = output.split("8. drift: the served traffic")[1].split("9. the same seed")[0]
    assert f"$ cairn monitor run breast-cancer-rf --window {WINDOW_ROWS}" in section
    assert "window 1: 300 rows of version " in section
    assert ": 0 of 31 columns drifted" in section
    assert f": 1 of 31 columns drifted: {SHIFTED} (effect " in section
    assert f"drift flagged on {SHIFTED} only" in section and "unexpected" not in section
    cairn.configure(root=str(demo))
    windows = monitor_history("breast-cancer-rf")
    assert [w.result["drifted_columns"] for w in windows] == [[], [SHIFTED]]
    assert [w.rows for w in windows] == [WINDOW_ROWS, WINDOW_ROWS]
    assert f"$ cairn monitor report breast-cancer-rf -o {REPORT}" in section
    assert (demo / REPORT).read_text().startswith("<!doctype html>")


def test_quickstart_profiles_its_data_and_refuses_a_broken_batch(
    quickstart: tuple[Path, str],
) -> None:
    """The quickstart profiles its dataset, passes a fresh batch and refuses a broken one."""
    demo, output = quickstart
    section = output.split("2. expectations from the data")[1].split("3. a training pipeline")[0]
    assert "breast-cancer: passed" in section and "breast-cancer: FAILED" in section
    assert "null_rate(mean texture)" in section and "exit 3" in section
    assert (demo / "batches" / "report.html").read_text().startswith("<!doctype html>")
    cairn.configure(root=str(demo))
    _, version = cairn.validation.load_suite("breast-cancer")
    assert version is not None and version.source == "breast-cancer@v1"


def test_quickstart_promote_hint_runs(quickstart: tuple[Path, str]) -> None:
    """The printed 'cairn models promote ... --from challenger' hint runs: the runner-up is the
    challenger, and the rule refuses it with one clear reason (the champion is the best)."""
    demo, output = quickstart
    assert "cairn models promote breast-cancer-rf --from challenger" in output  # the default
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAIRN_")}
    rule = ["--require", "metrics.auc > champion.metrics.auc"]
    done = subprocess.run(
        [sys.executable, "-m", "cairn", "models", "promote", "breast-cancer-rf", *rule],
        cwd=demo,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1 and "has no alias" not in done.stderr
    assert "not promoted" in done.stderr and "Traceback" not in done.stderr


def test_quickstart_shows_team_mode_and_the_spool(quickstart: tuple[Path, str]) -> None:
    """The quickstart logs from a "laptop" to a cairn server with a token; with the server
    stopped the run waits in the spool, and cairn sync delivers it once the server is back."""
    _demo, output = quickstart
    section = output.split("11. team mode")[1].split("the pipeline, three runs")[0]
    assert "logged to the server" in section
    assert "1 spool file(s) in laptop/.cairn/spool" in section
    assert "the spool is empty" in section
    listing = section.split("$ cairn runs ls")[1]
    assert " online " in listing and " offline " in listing
