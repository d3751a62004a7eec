"""score_model: a registered model scored on held-out labelled data (a frame or a catalog
dataset version), its metrics checked against scikit-learn's, its latency measured."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    mean_absolute_error,
    mean_squared_error,
    roc_auc_score,
)
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

import cairn
from cairn.core.errors import InvalidInputError, NotFoundError
from cairn.monitoring import SCORE_KEYS, ModelScores, score_model
from cairn.store import Store

LATENCY = ("latency_p50_ms", "latency_p99_ms")


def _split(frame: pd.DataFrame, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A shuffled 70/30 train and held-out split."""
    shuffled = frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    cut = int(len(shuffled) * 0.7)
    return shuffled.iloc[:cut], shuffled.iloc[cut:].reset_index(drop=True)


def _register(model: Any, name: str, train: pd.DataFrame, target: str) -> Any:
    """Fit ``model`` on ``train`` and log it as the next version of ``name``."""
    x = train.drop(columns=[target])
    model.fit(x, train[target])
    with cairn.run():
        cairn.log_model(model, name, input_example=x.head(3))
    return model


def _wine(labels_as_text: bool = False) -> pd.DataFrame:
    """The wine data (3 classes), its classes as numbers or as names."""
    frame: pd.DataFrame = load_wine(as_frame=True).frame
    if labels_as_text:
        frame["target"] = frame["target"].map({0: "barolo", 1: "grignolino", 2: "barbera"})
    return frame


def _check_latency(scores: ModelScores) -> None:
    assert all(scores.metrics[key] > 0 for key in LATENCY)
    assert scores.metrics["latency_p99_ms"] >= scores.metrics["latency_p50_ms"]


def test_a_binary_classifier_matches_sklearn(store: Store) -> None:
    """A binary classifier's accuracy, F1 and ROC AUC (from its probabilities) are
    scikit-learn's, and latency is measured on single rows."""
    frame = load_breast_cancer(as_frame=True).frame
    train, holdout = _split(frame)
    model = _register(
        make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)), "cancer", train, "target"
    )
    scores = score_model("models:/cancer/1", holdout, "target", latency_rows=20)
    x, y = holdout.drop(columns=["target"]), holdout["target"]
    predicted = model.predict(x)
    assert (scores.model, scores.data, scores.rows, scores.task) == (
        "cancer/1",
        None,
        len(holdout),
        "classification",
    )
    assert scores.metrics["accuracy"] == pytest.approx(accuracy_score(y, predicted))
    assert scores.metrics["f1"] == pytest.approx(f1_score(y, predicted))
    assert scores.metrics["roc_auc"] == pytest.approx(
        roc_auc_score(y, model.predict_proba(x)[:, 1])
    )
    assert set(scores.metrics) == {"accuracy", "f1", "roc_auc", *LATENCY}
    _check_latency(scores)
    assert json.loads(json.dumps(scores.to_dict()))["metrics"] == scores.metrics


@pytest.mark.parametrize("labels_as_text", [False, True], ids=["numbers", "names"])
def test_a_three_class_classifier_matches_sklearn_macro(store: Store, labels_as_text: bool) -> None:
    """A 3-class classifier (wine) gets scikit-learn's accuracy, macro F1 and one-vs-rest macro
    ROC AUC, whether its classes are numbers or names; short refs and aliases resolve."""
    train, holdout = _split(_wine(labels_as_text))
    model = _register(
        make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)), "wine", train, "target"
    )
    cairn.registry.set_alias("wine", "champion", 1)
    x, y = holdout.drop(columns=["target"]), holdout["target"]
    predicted = model.predict(x)
    expected = {
        "accuracy": accuracy_score(y, predicted),
        "f1": f1_score(y, predicted, average="macro"),
        "roc_auc": roc_auc_score(
            y, model.predict_proba(x), multi_class="ovr", average="macro", labels=model.classes_
        ),
    }
    for ref in ("wine/1", "models:/wine/1", "wine@champion"):
        scores = score_model(ref, holdout, "target", latency_rows=5)
        assert scores.model == "wine/1"
        assert scores.task == "classification"
        for key, value in expected.items():
            assert scores.metrics[key] == pytest.approx(value), key
        assert any("macro over 3 classes" in note for note in scores.notes)


def test_a_regressor_matches_sklearn(store: Store) -> None:
    """A regressor's RMSE and MAE are scikit-learn's, and it has no classification metric."""
    train, holdout = _split(load_diabetes(as_frame=True).frame)
    model = _register(LinearRegression(), "diabetes", train, "target")
    scores = score_model("diabetes/1", holdout, "target", latency_rows=10)
    x, y = holdout.drop(columns=["target"]), holdout["target"]
    predicted = model.predict(x)
    assert scores.task == "regression"
    assert scores.metrics["rmse"] == pytest.approx(math.sqrt(mean_squared_error(y, predicted)))
    assert scores.metrics["mae"] == pytest.approx(mean_absolute_error(y, predicted))
    assert set(scores.metrics) == {"rmse", "mae", *LATENCY}
    _check_latency(scores)


def test_a_classifier_without_probabilities_has_no_roc_auc(store: Store) -> None:
    """A classifier that gives no probabilities is scored on accuracy and F1 only."""
    train, holdout = _split(load_breast_cancer(as_frame=True).frame)
    model = _register(make_pipeline(StandardScaler(), LinearSVC()), "svc", train, "target")
    scores = score_model("svc/1", holdout, "target", latency_rows=0)
    y, predicted = holdout["target"], model.predict(holdout.drop(columns=["target"]))
    assert set(scores.metrics) == {"accuracy", "f1"}
    assert scores.metrics["accuracy"] == pytest.approx(accuracy_score(y, predicted))
    assert any("latency not measured" in note for note in scores.notes)


def test_a_dataset_ref_is_read_and_the_version_recorded(store: Store, project: Path) -> None:
    """A catalog ref is read, and the version read is recorded: the latest for a bare name,
    the one asked for with @vN; the metrics are those of the same rows given as a frame."""
    train, holdout = _split(_wine())
    _register(LogisticRegression(max_iter=5000), "wine", train, "target")
    folder = project / "holdout"
    folder.mkdir()
    holdout.to_parquet(folder / "holdout.parquet")
    cairn.data.add(folder, "wine-holdout")
    holdout.head(30).to_parquet(folder / "holdout.parquet")
    cairn.data.add(folder, "wine-holdout")

    first = score_model("wine/1", "wine-holdout@v1", "target", latency_rows=3)
    latest = score_model("wine/1", "wine-holdout", "target", latency_rows=3)
    as_frame = score_model("wine/1", holdout, "target", latency_rows=3)
    assert (first.data, first.rows) == ("wine-holdout@v1", len(holdout))
    assert (latest.data, latest.rows) == ("wine-holdout@v2", 30)
    for key in ("accuracy", "f1", "roc_auc"):
        assert first.metrics[key] == pytest.approx(as_frame.metrics[key])
    with pytest.raises(NotFoundError):
        score_model("wine/1", "no-such-holdout", "target")


def test_rows_without_a_label_are_left_out_and_said(store: Store) -> None:
    """Rows whose label is missing are not scored, and a note says how many."""
    train, holdout = _split(load_diabetes(as_frame=True).frame)
    model = _register(LinearRegression(), "diabetes", train, "target")
    gappy = holdout.copy()
    gappy.loc[:9, "target"] = np.nan
    scores = score_model("diabetes/1", gappy, "target", latency_rows=1)
    kept = holdout.iloc[10:]
    predicted = model.predict(kept.drop(columns=["target"]))
    assert scores.rows == len(holdout) - 10
    assert scores.metrics["mae"] == pytest.approx(mean_absolute_error(kept["target"], predicted))
    assert any("10 rows without a label" in note for note in scores.notes)


def test_unusable_data_is_refused_with_what_to_do(store: Store) -> None:
    """A missing target (its columns named), no rows, no label at all, a wrong data type or
    latency_rows are refused with InvalidInputError."""
    train, holdout = _split(load_diabetes(as_frame=True).frame)
    _register(LinearRegression(), "diabetes", train, "target")
    with pytest.raises(InvalidInputError, match=r"no target column 'label'.*'age'"):
        score_model("diabetes/1", holdout, "label")
    with pytest.raises(InvalidInputError, match="no rows"):
        score_model("diabetes/1", holdout.iloc[:0], "target")
    unlabelled = holdout.assign(target=np.nan)
    with pytest.raises(InvalidInputError, match="every value of the target column"):
        score_model("diabetes/1", unlabelled, "target")
    with pytest.raises(InvalidInputError, match="DataFrame or a catalog dataset ref"):
        score_model("diabetes/1", holdout.to_dict("records"), "target")
    with pytest.raises(InvalidInputError, match="latency_rows"):
        score_model("diabetes/1", holdout, "target", latency_rows=-1)
    with pytest.raises(InvalidInputError, match="target"):
        score_model("diabetes/1", holdout, "")


def test_score_keys_name_every_metric_produced() -> None:
    """SCORE_KEYS holds the quality and latency metrics a promotion rule may name."""
    assert set(SCORE_KEYS) == {
        "accuracy",
        "f1",
        "roc_auc",
        "rmse",
        "mae",
        "latency_p50_ms",
        "latency_p99_ms",
    }


def test_a_regressor_of_whole_numbers_is_scored_as_a_regressor(store: Store) -> None:
    """A regressor whose labels and predictions are all whole numbers is scored as the
    regressor it declares itself, not taken for a classifier from its values."""
    from sklearn.dummy import DummyRegressor

    frame = pd.DataFrame({"x": [float(i) for i in range(10)], "y": [float(i) for i in range(10)]})
    _register(DummyRegressor(strategy="constant", constant=4.0), "counts", frame, "y")
    scores = score_model("counts/1", frame, "y", latency_rows=2)
    assert scores.task == "regression"
    assert scores.metrics["mae"] == pytest.approx(mean_absolute_error(frame["y"], [4.0] * 10))
    assert any("the model is a regressor" in note for note in scores.notes)
