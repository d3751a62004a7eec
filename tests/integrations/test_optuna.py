"""Optuna: each trial a child run of the study's run, holding what Optuna reports of it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

optuna = pytest.importorskip("optuna")

import cairn  # noqa: E402
from cairn.integrations import failures  # noqa: E402
from cairn.integrations.optuna import CairnCallback, track  # noqa: E402
from cairn.tracking import RunRecord  # noqa: E402
from cairn.tracking.comparison import differing_keys, get_runs  # noqa: E402

pytestmark = pytest.mark.usefixtures("quiet_capture")


@pytest.fixture(autouse=True)
def _quiet_optuna() -> Iterator[None]:
    """Optuna's per-trial INFO lines off; autolog off after every test."""
    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    yield
    optuna.logging.set_verbosity(level)
    cairn.autolog(disable=True)


def objective(trial: Any) -> float:
    """(x - 2)^2, reporting three intermediate values above it (pruned past 50)."""
    x = trial.suggest_float("x", -10, 10)
    trial.suggest_categorical("kind", ["a", "b"])
    for step in range(3):
        trial.report((x - 2) ** 2 + 3 - step, step)
        if trial.should_prune():
            raise optuna.TrialPruned
    return float((x - 2) ** 2)


def new_study(name: str = "sweep") -> Any:
    """A seeded study whose first trial is pruned, second the best until the third."""
    study = optuna.create_study(
        study_name=name,
        sampler=optuna.samplers.RandomSampler(seed=3),
        pruner=optuna.pruners.ThresholdPruner(upper=50),
    )
    study.enqueue_trial({"x": 9.5, "kind": "a"})  # (7.5)^2 + 3 > 50: pruned at step 0
    study.enqueue_trial({"x": 4.0, "kind": "a"})  # value 4: the best until the next one
    study.enqueue_trial({"x": 2.0, "kind": "b"})  # value 0: the best
    return study


def trial_runs(parent_id: str) -> dict[int, RunRecord]:
    """The children of ``parent_id`` by Optuna trial number."""
    frame = cairn.search_runs(f"parent_run_id = '{parent_id}'")
    records = [cairn.get_run(run_id) for run_id in frame["run_id"]]
    return {int(r.tags["optuna.trial_number"]): r for r in records}


def assert_logged_as_reported(study: Any, parent_id: str, metric: str = "value") -> None:
    """Each trial's run holds the trial's params, intermediate values, value and state."""
    runs = trial_runs(parent_id)
    assert sorted(runs) == [t.number for t in study.trials]
    for trial in study.trials:
        record = runs[trial.number]
        assert record.parent_id == parent_id
        assert record.name == f"trial-{trial.number}"
        assert record.params == trial.params
        assert record.tags["optuna.state"] == trial.state.name
        assert record.tags["optuna.study"] == study.study_name
        assert record.status == ("failed" if trial.state.name == "FAIL" else "finished")
        history = [(p.step, p.value) for p in record.metric_history.get(metric, [])]
        expected = sorted(trial.intermediate_values.items())
        if trial.value is not None and (not expected or expected[-1][1] != trial.value):
            expected.append((expected[-1][0] + 1 if expected else 0, trial.value))
        assert history == expected
        assert record.metrics.get(metric) == trial.value
        best = trial.number == study.best_trial.number
        assert record.tags.get("cairn.best", "false") == ("true" if best else "false")
    study_run = cairn.get_run(parent_id)
    assert study_run.metrics["best_value"] == study.best_value
    assert study_run.tags["best.x"] == str(study.best_params["x"])
    assert study_run.tags["best.trial_number"] == str(study.best_trial.number)


def test_each_trial_is_a_child_run_holding_what_optuna_reports(store: Any) -> None:
    """The callback writes each trial as a child of the active run: params, intermediate
    values as history, value, state; the best trial is tagged and the study run describes
    the study."""
    study = new_study()
    with cairn.run(name="study") as parent:
        study.optimize(objective, n_trials=6, callbacks=[CairnCallback()])
    assert {t.state.name for t in study.trials} == {"COMPLETE", "PRUNED"}
    assert_logged_as_reported(study, parent.id)
    study_run = cairn.get_run(parent.id)
    assert study_run.params == {
        "optuna.direction": "minimize",
        "optuna.sampler": "RandomSampler",
        "optuna.pruner": "ThresholdPruner",
    }
    # Trial 0 was pruned: the best value starts with trial 1, then trial 2 took over.
    best = [(p.step, p.value) for p in study_run.metric_history["best_value"]]
    assert best == [(1, 4.0)] + [(n, 0.0) for n in range(2, 6)]
    assert trial_runs(parent.id)[1].tags["cairn.best"] == "false"  # moved on to trial 2
    assert len(cairn.search_runs()) == 7


def test_track_owns_the_study_run_and_makes_each_trial_run_active(project: Path) -> None:
    """track() starts a run named after the study, ends it with the block, and logging inside
    the objective goes to the trial's run; threads (n_jobs=2) keep the same tree."""

    def logging_objective(trial: Any) -> float:
        cairn.log({"inside": trial.number})
        return objective(trial)

    study = new_study("tracked")
    with track(study, metric_name="loss") as run:
        study.optimize(logging_objective, n_trials=8, n_jobs=2)
        assert cairn.active_run() is run
    assert cairn.active_run() is None
    record = cairn.get_run(run.id)
    assert (record.name, record.status, record.parent_id) == ("tracked", "finished", None)
    assert_logged_as_reported(study, run.id, metric="loss")
    for number, child in trial_runs(run.id).items():
        assert child.metrics["inside"] == number
    assert "optimize" not in vars(study)  # the instance is as it was


def test_a_failing_trial_fails_its_run_and_cairn_failures_stay_out(project: Path) -> None:
    """An objective that raises (caught by Optuna) leaves its run failed and tagged FAIL; a
    value cairn cannot record is counted, never raised into the study."""

    def flaky(trial: Any) -> float:
        x = trial.suggest_float("x", -10, 10)
        trial.set_user_attr("k" * 600, 1)  # a tag key too long for cairn to record
        if trial.number == 1:
            raise ValueError("diverged")
        return float((x - 2) ** 2)

    before = failures().get("optuna", 0)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    with track(study) as run:
        study.optimize(flaky, n_trials=3, catch=(ValueError,))
    assert [t.state.name for t in study.trials] == ["COMPLETE", "FAIL", "COMPLETE"]
    runs = trial_runs(run.id)
    assert runs[1].status == "failed" and runs[1].tags["optuna.state"] == "FAIL"
    assert runs[1].error == "ValueError: diverged"
    assert "value" not in runs[1].metrics
    assert runs[0].status == runs[2].status == "finished"
    assert failures()["optuna"] >= before + 3
    assert runs[0].tags["cairn.autolog.failures"] == "1"


def test_an_exception_optuna_does_not_catch_still_ends_the_trial_run(project: Path) -> None:
    """A trial whose error stops the study gets its run recorded as failed, the study's run too."""

    def broken(trial: Any) -> float:
        trial.suggest_int("n", 1, 3)
        raise KeyError("missing column")

    study = optuna.create_study()
    with pytest.raises(KeyError), track(study) as run:
        study.optimize(broken, n_trials=2)
    assert cairn.get_run(run.id).status == "failed"
    (child,) = trial_runs(run.id).values()
    assert (child.status, child.tags["optuna.state"]) == ("failed", "FAIL")
    assert child.error == "KeyError: 'missing column'"


def test_trial_runs_compare_like_any_runs(project: Path) -> None:
    """The comparison behind cairn runs compare reads trial runs' params and values."""
    study = new_study()
    with cairn.run() as parent:
        study.optimize(objective, n_trials=4, callbacks=[CairnCallback()])
    ids = [r.id for r in trial_runs(parent.id).values()]
    records = get_runs(ids)
    assert {r.id for r in records} == set(ids)
    assert differing_keys(records, "params") == ["kind", "x"]
    assert "value" in differing_keys(records, "metrics")


def test_without_autolog_or_callback_nothing_is_logged(project: Path) -> None:
    """A plain optimize call records no run."""
    new_study().optimize(objective, n_trials=3)
    assert len(cairn.search_runs()) == 0


def test_under_autolog_a_fit_inside_the_objective_logs_to_the_trial_run(project: Path) -> None:
    """Autolog gives optimize a study run (ended when it returns) and each objective runs in
    its trial's run, where a scikit-learn fit inside it logs."""
    pytest.importorskip("sklearn")
    from sklearn.linear_model import Ridge

    cairn.autolog(log_models=False)
    X = [[0.0], [1.0], [2.0], [3.0]]
    y = [0.1, 1.1, 1.9, 3.2]

    def fitting(trial: Any) -> float:
        alpha = trial.suggest_float("alpha", 0.01, 1.0)
        return float(Ridge(alpha=alpha).fit(X, y).score(X, y))

    study = optuna.create_study(study_name="ridge", direction="maximize")
    study.optimize(fitting, n_trials=3)
    frame = cairn.search_runs("run_name = 'ridge'")
    assert len(frame) == 1 and frame.iloc[0]["status"] == "finished"
    assert cairn.active_run() is None
    runs = trial_runs(str(frame.iloc[0]["run_id"]))
    assert len(runs) == 3 and len(cairn.search_runs()) == 4  # no run of a fit's own
    for number, record in runs.items():
        assert record.params["alpha"] == study.trials[number].params["alpha"]
        assert record.tags["cairn.autolog"] == "sklearn"  # the fit logged here
        assert record.params["fit_intercept"] is True


def test_under_autolog_an_explicit_callback_is_not_doubled(project: Path) -> None:
    """With autolog on and a CairnCallback passed, each trial still has exactly one run."""
    cairn.autolog()
    study = new_study()
    with cairn.run() as parent:
        study.optimize(objective, n_trials=4, callbacks=[CairnCallback()])
    assert_logged_as_reported(study, parent.id)
    assert len(cairn.search_runs()) == 5
    tracked = new_study("tracked")
    with track(tracked) as run:
        tracked.optimize(objective, n_trials=3)
    assert_logged_as_reported(tracked, run.id)
    assert len(cairn.search_runs()) == 5 + 4


def test_with_no_active_run_the_callback_starts_the_study_run_and_leaves_it(
    project: Path,
) -> None:
    """A callback used outside any run starts a run named after the study on the first trial
    and leaves it active, for the program to end (or its exit)."""
    study = new_study("lonely")
    callback = CairnCallback()
    assert callback.run is None
    study.optimize(objective, n_trials=3, callbacks=[callback])
    run = cairn.active_run()
    assert run is not None and run is callback.run and run.name == "lonely"
    study.optimize(objective, n_trials=2, callbacks=[callback])  # the same study run goes on
    cairn.end_run()
    assert cairn.get_run(run.id).status == "finished"
    assert_logged_as_reported(study, run.id)


STUDY_SCRIPT = """
import json
import optuna
optuna.logging.set_verbosity(optuna.logging.WARNING)
import cairn
from cairn.integrations.optuna import CairnCallback
from cairn.tracking import current_seed

def objective(trial):
    x = trial.suggest_float("x", -10, 10)
    trial.report(abs(x), 0)
    return (x - 2) ** 2

study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=current_seed()))
callbacks = [CairnCallback()] if current_seed() == 2 else []  # seed 1: autolog alone
study.optimize(objective, n_trials=3, callbacks=callbacks)
print(json.dumps({"run": cairn.active_run().id, "best": study.best_value}))
"""


LAUNCH = [sys.executable, "-m", "cairn", "run", "--seeds", "1,2", "--name", "sweep", "--"]


def test_under_cairn_run_seeds_trials_are_children_of_each_seed_run(project: Path) -> None:
    """Under cairn run --seeds the study's run is each seed's run and its trials are its
    children, with autolog alone (seed 1) or with an explicit callback too (seed 2: never two
    runs per trial)."""
    (project / "study.py").write_text(STUDY_SCRIPT)
    done = subprocess.run(
        [*LAUNCH, sys.executable, "study.py"],
        cwd=project,
        env={**os.environ},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    seen = [json.loads(line) for line in done.stdout.splitlines()]
    parent = cairn.search_runs("run_name = 'sweep'").iloc[0]
    seeds = cairn.search_runs(f"parent_run_id = '{parent['run_id']}'")
    assert sorted(seeds["run_id"]) == sorted(s["run"] for s in seen)
    for item in seen:
        seed_run = cairn.get_run(item["run"])
        assert seed_run.metrics["best_value"] == item["best"]
        assert seed_run.params["optuna.direction"] == "minimize"
        trials = trial_runs(seed_run.id)
        assert sorted(trials) == [0, 1, 2]
        assert all(r.status == "finished" for r in trials.values())
    assert len(cairn.search_runs()) == 1 + 2 + 6
    assert parent["metrics.best_value.mean"] == pytest.approx(sum(s["best"] for s in seen) / 2)


def test_a_bad_metric_name_is_refused() -> None:
    """metric_name must be a non-empty name or list of names."""
    with pytest.raises(cairn.core.errors.InvalidInputError, match="metric_name"):
        CairnCallback(metric_name="")


def test_a_multi_objective_study_logs_each_value_and_tags_the_pareto_front(
    project: Path,
) -> None:
    """Several objectives are metrics value_0, value_1...; every Pareto-optimal trial's run
    is tagged best."""

    def two(trial: Any) -> tuple[float, float]:
        x = trial.suggest_float("x", 0, 4)
        return x, (x - 3) ** 2

    study = optuna.create_study(
        directions=["minimize", "minimize"], sampler=optuna.samplers.RandomSampler(seed=1)
    )
    with track(study) as run:
        study.optimize(two, n_trials=5)
    assert cairn.get_run(run.id).params["optuna.directions"] == "minimize,minimize"
    front = {t.number for t in study.best_trials}
    for number, record in trial_runs(run.id).items():
        assert [record.metrics["value_0"], record.metrics["value_1"]] == study.trials[number].values
        assert record.tags.get("cairn.best", "false") == ("true" if number in front else "false")
