"""XGBoost autologging: what a training logs equals what XGBoost itself reports, through
``xgboost.train`` and the scikit-learn API, without ever stopping a training."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import cairn
from cairn.core.settings import configure
from cairn.integrations import failures
from cairn.tracking import find_runs

xgb = pytest.importorskip("xgboost")

ROUNDS = 20
PARAMS = {"objective": "reg:squarederror", "max_depth": 2, "eta": 0.3, "nthread": 1}


@pytest.fixture
def autolog(quiet_capture: None) -> Iterator[None]:
    """XGBoost autologged for the test, put back after it."""
    cairn.autolog(frameworks=["xgboost"])
    yield
    cairn.autolog(frameworks=["xgboost"], disable=True)


def _data(rows: int = 200) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    features = rng.normal(size=(rows, 4))
    return features, features[:, 0] * 2 + rng.normal(scale=0.1, size=rows)


def _matrices() -> tuple[Any, Any, np.ndarray]:
    features, target = _data()
    names = ["a", "b", "c", "d"]
    train = xgb.DMatrix(features[:150], target[:150], feature_names=names)
    valid = xgb.DMatrix(features[150:], target[150:], feature_names=names)
    return train, valid, features


def _history(run_id: str) -> dict[str, list[tuple[int, float]]]:
    record = cairn.get_run(run_id)
    return {k: [(p.step, p.value) for p in v] for k, v in record.metric_history.items()}


def _only_run() -> Any:
    runs = find_runs()
    assert len(runs) == 1
    return cairn.get_run(runs[0].id)


def test_train_logs_what_xgboost_reports(autolog: None, store_url: str, tmp_path: Path) -> None:
    """xgboost.train logs its params, every eval set's metrics at each iteration exactly as
    evals_result holds them, both importances and a model that predicts the same."""
    configure(store=store_url)
    train, valid, features = _matrices()
    recorded: dict[str, Any] = {}
    params = {**PARAMS, "eval_metric": ["rmse", "mae"]}
    booster = xgb.train(
        params,
        train,
        ROUNDS,
        evals=[(train, "train"), (valid, "valid")],
        evals_result=recorded,
        verbose_eval=False,
    )
    run = _only_run()
    assert run.status == "finished" and run.tags["cairn.autolog"] == "xgboost"
    assert run.params == {**PARAMS, "eval_metric": "['rmse', 'mae']", "num_boost_round": ROUNDS}
    history = _history(run.id)
    assert len(recorded) == 2 and len(recorded["valid"]) == 2
    for data, metrics in recorded.items():
        for metric, values in metrics.items():
            assert history[f"{data}-{metric}"] == list(enumerate(values))
    assert "best_iteration" not in run.metrics  # no early stopping
    for kind in ("weight", "gain"):
        path = cairn.download_artifacts(run.id, f"feature_importance_{kind}.json", tmp_path)
        assert json.loads(path.read_text()) == booster.get_score(importance_type=kind)
    loaded = cairn.load_model(f"runs:/{run.id}/model")
    expected = booster.predict(xgb.DMatrix(features[:10], feature_names=["a", "b", "c", "d"]))
    import pandas as pd

    inputs = pd.DataFrame(features[:10], columns=["a", "b", "c", "d"])
    np.testing.assert_allclose(loaded.predict(inputs), expected, rtol=1e-6)
    assert loaded.signature is not None
    assert [c.name for c in loaded.signature.columns] == ["a", "b", "c", "d"]


def test_early_stopping_logs_the_best_iteration(autolog: None) -> None:
    """With early stopping, the run holds XGBoost's best iteration and score and the
    stopping rounds, and every iteration trained."""
    train, valid, _ = _matrices()
    recorded: dict[str, Any] = {}
    booster = xgb.train(
        {**PARAMS, "eta": 0.9},
        train,
        200,
        evals=[(valid, "valid")],
        early_stopping_rounds=3,
        evals_result=recorded,
        verbose_eval=False,
    )
    assert booster.best_iteration < 199
    run = _only_run()
    assert run.metrics["best_iteration"] == booster.best_iteration
    assert run.metrics["best_score"] == pytest.approx(booster.best_score)
    assert run.params["early_stopping_rounds"] == 3
    assert _history(run.id)["valid-rmse"] == list(enumerate(recorded["valid"]["rmse"]))


def test_the_scikit_learn_api_logs_iterations_and_the_estimator(autolog: None) -> None:
    """XGBClassifier.fit logs its params, each iteration of its eval sets and the estimator
    itself, in one run (the train inside logs nothing of its own)."""
    features, target = _data()
    labels = (target > 0).astype(int)
    model = xgb.XGBClassifier(n_estimators=ROUNDS, max_depth=2, n_jobs=1)
    model.fit(features, labels, eval_set=[(features[150:], labels[150:])], verbose=False)
    run = _only_run()
    assert run.name == "XGBClassifier.fit"
    assert run.params["n_estimators"] == ROUNDS and run.params["max_depth"] == 2
    history = _history(run.id)
    expected = model.evals_result()["validation_0"]["logloss"]
    assert history["validation_0-logloss"] == list(enumerate(expected))
    loaded = cairn.load_model(f"runs:/{run.id}/model")
    np.testing.assert_allclose(
        loaded.predict_proba(features[:10]), model.predict_proba(features[:10]), rtol=1e-6
    )


def test_with_scikit_learn_autolog_too_xgboost_speaks_for_its_estimators(
    quiet_capture: None,
) -> None:
    """With scikit-learn autologged as well, an XGBRegressor fit is still one run with its
    per-iteration metrics."""
    cairn.autolog(frameworks=["sklearn", "xgboost"])
    try:
        features, target = _data()
        model = xgb.XGBRegressor(n_estimators=ROUNDS, n_jobs=1)
        model.fit(features, target, eval_set=[(features, target)], verbose=False)
    finally:
        cairn.autolog(frameworks=["sklearn", "xgboost"], disable=True)
    run = _only_run()
    assert run.tags["cairn.autolog"] == "xgboost"
    assert len(_history(run.id)["validation_0-rmse"]) == ROUNDS


def test_a_failure_of_cairn_never_stops_the_training(autolog: None) -> None:
    """The run ending under a training (a user's callback ends it) makes cairn's logging
    fail: the training goes on to its last iteration, the user's callbacks all run, and the
    failures are counted."""
    train, valid, _ = _matrices()
    before = failures().get("xgboost", 0)
    seen: list[int] = []

    class EndTheRun(xgb.callback.TrainingCallback):
        def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
            seen.append(epoch)
            if epoch == 4:
                cairn.end_run()
            return False

    booster = xgb.train(
        PARAMS, train, ROUNDS, evals=[(valid, "valid")], callbacks=[EndTheRun()], verbose_eval=False
    )
    assert booster.num_boosted_rounds() == ROUNDS
    assert seen == list(range(ROUNDS))
    assert failures()["xgboost"] > before
    run = _only_run()
    # Ours runs first in each iteration: step 4 was logged before the user's callback ended it.
    assert [step for step, _ in _history(run.id)["valid-rmse"]] == [0, 1, 2, 3, 4]


def test_nothing_is_logged_once_autolog_is_off(quiet_capture: None) -> None:
    """After autolog(disable=True), trainings create no runs."""
    cairn.autolog(frameworks=["xgboost"])
    cairn.autolog(frameworks=["xgboost"], disable=True)
    train, valid, _ = _matrices()
    xgb.train(PARAMS, train, 3, evals=[(valid, "valid")], verbose_eval=False)
    xgb.XGBRegressor(n_estimators=3, n_jobs=1).fit(*_data())
    assert find_runs() == []
