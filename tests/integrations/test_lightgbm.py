"""LightGBM autologging: what a training logs equals what LightGBM itself reports, through
``lightgbm.train`` and the scikit-learn API, without ever stopping a training."""

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

lgb = pytest.importorskip("lightgbm")

ROUNDS = 20
PARAMS = {"objective": "regression", "num_leaves": 7, "verbose": -1, "seed": 1}


@pytest.fixture
def autolog(quiet_capture: None) -> Iterator[None]:
    """LightGBM autologged for the test, put back after it."""
    cairn.autolog(frameworks=["lightgbm"])
    yield
    cairn.autolog(frameworks=["lightgbm"], disable=True)


def _data(rows: int = 200) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    features = rng.normal(size=(rows, 4))
    return features, features[:, 0] * 2 + rng.normal(scale=0.1, size=rows)


def _datasets() -> tuple[Any, Any, np.ndarray]:
    features, target = _data()
    train = lgb.Dataset(features[:150], target[:150])
    valid = lgb.Dataset(features[150:], target[150:], reference=train)
    return train, valid, features


def _history(run_id: str) -> dict[str, list[tuple[int, float]]]:
    record = cairn.get_run(run_id)
    return {k: [(p.step, p.value) for p in v] for k, v in record.metric_history.items()}


def _artifact(run_id: str, name: str, dest: Path) -> Any:
    return json.loads(cairn.download_artifacts(run_id, name, dest).read_text())


def _only_run() -> Any:
    runs = find_runs()
    assert len(runs) == 1
    return cairn.get_run(runs[0].id)


def test_train_logs_what_lightgbm_reports(autolog: None, store_url: str, tmp_path: Path) -> None:
    """lightgbm.train logs its params, every eval set's metric at each iteration exactly as
    record_evaluation holds it, both importances and a model that predicts the same."""
    configure(store=store_url)
    train, valid, features = _datasets()
    recorded: dict[str, Any] = {}
    booster = lgb.train(
        PARAMS,
        train,
        ROUNDS,
        valid_sets=[train, valid],
        valid_names=["train", "valid"],
        callbacks=[lgb.record_evaluation(recorded)],
    )
    run = _only_run()
    assert run.status == "finished" and run.tags["cairn.autolog"] == "lightgbm"
    assert run.params == {**PARAMS, "num_boost_round": ROUNDS}
    history = _history(run.id)
    for data, metrics in recorded.items():
        for metric, values in metrics.items():
            assert history[f"{data}-{metric}"] == list(enumerate(values))
    assert len(history["valid-l2"]) == ROUNDS
    assert "best_iteration" not in run.metrics  # no early stopping
    names = booster.feature_name()
    for kind in ("split", "gain"):
        expected = dict(
            zip(names, booster.feature_importance(importance_type=kind).tolist(), strict=True)
        )
        assert _artifact(run.id, f"feature_importance_{kind}.json", tmp_path) == expected
    loaded = cairn.load_model(f"runs:/{run.id}/model")
    np.testing.assert_allclose(loaded.predict(features[:10]), booster.predict(features[:10]))
    assert loaded.signature is not None and loaded.signature.outputs is not None


def test_early_stopping_logs_the_best_iteration_and_scores(autolog: None) -> None:
    """With early stopping, the run holds LightGBM's best iteration, its scores and the
    stopping settings."""
    train, valid, _ = _datasets()
    recorded: dict[str, Any] = {}
    booster = lgb.train(
        {**PARAMS, "learning_rate": 0.5},
        train,
        200,
        valid_sets=[valid],
        callbacks=[lgb.early_stopping(3, verbose=False), lgb.record_evaluation(recorded)],
    )
    assert 0 < booster.best_iteration < 200
    run = _only_run()
    assert run.metrics["best_iteration"] == booster.best_iteration
    assert run.metrics["best_valid_0-l2"] == booster.best_score["valid_0"]["l2"]
    assert run.params["early_stopping_rounds"] == 3
    # Every iteration trained is logged, up to the one early stopping stopped at.
    assert _history(run.id)["valid_0-l2"] == list(enumerate(recorded["valid_0"]["l2"]))


def test_the_scikit_learn_api_logs_iterations_and_the_estimator(autolog: None) -> None:
    """LGBMRegressor.fit logs its params, each iteration of its eval sets and the estimator
    itself, in one run (the train inside logs nothing of its own)."""
    features, target = _data()
    model = lgb.LGBMRegressor(n_estimators=ROUNDS, num_leaves=7, verbose=-1)
    model.fit(features, target, eval_X=(features[150:],), eval_y=(target[150:],))
    run = _only_run()
    assert run.name == "LGBMRegressor.fit"
    assert run.params["n_estimators"] == ROUNDS and run.params["num_leaves"] == 7
    history = _history(run.id)
    assert history["valid_0-l2"] == list(enumerate(model.evals_result_["valid_0"]["l2"]))
    loaded = cairn.load_model(f"runs:/{run.id}/model")
    np.testing.assert_allclose(loaded.predict(features[:10]), model.predict(features[:10]))


def test_a_classifier_is_saved_with_its_labels(autolog: None) -> None:
    """LGBMClassifier.fit saves the estimator: the loaded model answers its class labels."""
    features, target = _data()
    labels = np.where(target > 0, "high", "low")
    model = lgb.LGBMClassifier(n_estimators=5, verbose=-1).fit(features, labels)
    run = _only_run()
    loaded = cairn.load_model(f"runs:/{run.id}/model")
    assert list(loaded.predict(features[:10])) == list(model.predict(features[:10]))
    assert loaded.signature is not None and loaded.signature.outputs is not None


def test_with_scikit_learn_autolog_too_lightgbm_speaks_for_its_estimators(
    quiet_capture: None,
) -> None:
    """With scikit-learn autologged as well, an LGBMRegressor fit is still one run with its
    per-iteration metrics."""
    cairn.autolog(frameworks=["sklearn", "lightgbm"])
    try:
        features, target = _data()
        model = lgb.LGBMRegressor(n_estimators=ROUNDS, verbose=-1)
        model.fit(features, target, eval_X=(features[150:],), eval_y=(target[150:],))
    finally:
        cairn.autolog(frameworks=["sklearn", "lightgbm"], disable=True)
    run = _only_run()
    assert run.tags["cairn.autolog"] == "lightgbm"
    assert len(_history(run.id)["valid_0-l2"]) == ROUNDS


def test_a_failure_of_cairn_never_stops_the_training(autolog: None) -> None:
    """The run ending under a training (a user's callback ends it) makes cairn's logging
    fail: the training goes on to its last iteration, the user's callbacks all run, and the
    failures are counted."""
    train, valid, _ = _datasets()
    before = failures().get("lightgbm", 0)
    seen: list[int] = []

    def end_the_run(env: Any) -> None:
        seen.append(env.iteration)
        if env.iteration == 4:
            cairn.end_run()

    booster = lgb.train(PARAMS, train, ROUNDS, valid_sets=[valid], callbacks=[end_the_run])
    assert booster.current_iteration() == ROUNDS
    assert seen == list(range(ROUNDS))
    assert failures()["lightgbm"] > before
    run = _only_run()
    # The user's callback runs first (LightGBM's order): it ended the run before ours logged 4.
    assert [step for step, _ in _history(run.id)["valid_0-l2"]] == [0, 1, 2, 3]


def test_nothing_is_logged_once_autolog_is_off(quiet_capture: None) -> None:
    """After autolog(disable=True), trainings create no runs."""
    cairn.autolog(frameworks=["lightgbm"])
    cairn.autolog(frameworks=["lightgbm"], disable=True)
    train, valid, _ = _datasets()
    lgb.train(PARAMS, train, 3, valid_sets=[valid])
    lgb.LGBMRegressor(n_estimators=3, verbose=-1).fit(*_data())
    assert find_runs() == []


def test_a_fit_wrapped_before_is_replaced_so_lightgbm_stays_outermost(quiet_capture: None) -> None:
    """A fit another patch wrapped first (marked __cairn_original__) is wrapped at its
    original instead, and everything is put back on disable."""
    from cairn.integrations._training import Patches

    original = vars(lgb.LGBMRegressor)["fit"]
    other = Patches()

    def wrap(fit: Any) -> Any:
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            return fit(self, *args, **kwargs)

        return wrapper

    other.wrap(lgb.LGBMRegressor, "fit", wrap)
    try:
        cairn.autolog(frameworks=["lightgbm"])
        wrapper = vars(lgb.LGBMRegressor)["fit"]
        assert wrapper.__cairn_autolog__ == "lightgbm"
        assert wrapper.__cairn_original__ is original
    finally:
        cairn.autolog(frameworks=["lightgbm"], disable=True)
        other.restore()
    assert vars(lgb.LGBMRegressor)["fit"] is original


def test_a_metric_that_is_not_finite_is_left_out_and_the_rest_kept(autolog: None) -> None:
    """A custom metric that is NaN at some iterations is left out there; the other metrics
    of those iterations are logged, and nothing counts as a failure."""
    train, valid, _ = _datasets()
    before = failures().get("lightgbm", 0)

    def odd_nan(preds: np.ndarray, data: Any) -> tuple[str, float, bool]:
        odd = len(seen) % 2 == 1
        seen.append(odd)
        return "custom", float("nan") if odd else 1.0, False

    seen: list[bool] = []
    lgb.train(PARAMS, train, 6, valid_sets=[valid], feval=odd_nan)
    history = _history(_only_run().id)
    assert [step for step, _ in history["valid_0-l2"]] == list(range(6))
    assert [step for step, _ in history["valid_0-custom"]] == [0, 2, 4]
    assert failures().get("lightgbm", 0) == before
