"""scikit-learn autologging: what a fit records (params, training score, the model), a search's
candidates as child runs, nothing for inner fits, and every class patched, also later ones."""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("sklearn")

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

import cairn
from cairn.integrations import failures
from cairn.integrations._training import param_value
from cairn.registry.model_version import DESCRIPTOR
from cairn.tracking import find_runs
from cairn.tracking.record import RunRecord

RNG = np.random.default_rng(0)
X = RNG.normal(size=(60, 4))
Y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)


@pytest.fixture
def autolog(quiet_capture: None) -> Iterator[None]:
    """scikit-learn autologged for the test, and put back after it."""
    cairn.autolog(frameworks=["sklearn"])
    yield
    cairn.autolog(disable=True)


def _runs() -> list[RunRecord]:
    return [cairn.get_run(r.id) for r in find_runs()]


def _models(record: RunRecord) -> set[str]:
    """The folders of the run that hold a saved model."""
    return {a.path.rpartition("/")[0] for a in record.artifacts if a.path.endswith(DESCRIPTOR)}


def _as_logged(params: dict[str, Any]) -> dict[str, Any]:
    return {k: param_value(v) for k, v in params.items()}


def test_a_fit_logs_params_training_score_and_model(store: Any, autolog: None) -> None:
    """A fit records get_params, its score on the training data, and a model that loads back
    with a signature and predicts the same."""
    weights = np.linspace(0.5, 1.5, len(Y))
    model = LogisticRegression(C=0.5).fit(X, Y, sample_weight=weights)
    (run,) = _runs()
    assert run.status == "finished"
    assert run.params == _as_logged(model.get_params(deep=True))
    assert run.metrics == {
        "training_accuracy_score": pytest.approx(model.score(X, Y, sample_weight=weights))
    }
    assert run.tags["cairn.autolog"] == "sklearn"
    assert run.tags["estimator_name"] == "LogisticRegression"
    assert run.tags["estimator_class"].endswith(".LogisticRegression")
    loaded = cairn.load_model(f"runs:/{run.id}/model")
    assert (np.asarray(loaded.predict(X)) == model.predict(X)).all()
    assert loaded.signature is not None


def test_a_fit_on_lists_saves_an_array_signature(autolog: None) -> None:
    """Rows given as lists make an array signature, so the loaded model predicts lists as the
    fitted one does (no column names it was not fitted with)."""
    rows = X.tolist()
    model = LogisticRegression().fit(rows, Y.tolist())
    (run,) = _runs()
    loaded = cairn.load_model(f"runs:/{run.id}/model")
    assert loaded.signature is not None and loaded.signature.tensor is not None
    assert list(loaded.predict(rows[:3])) == list(model.predict(rows[:3]))


def test_a_pipeline_is_one_run_with_step_params(autolog: None) -> None:
    """A Pipeline logs one run with its steps' params as step__param, none for its steps, and
    its model's signature names the DataFrame's columns."""
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    pipe = Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression(C=2.0))])
    pipe.fit(frame, Y)
    (run,) = _runs()
    assert run.params["clf__C"] == 2.0
    assert run.params["scale__with_mean"] is True
    assert run.params["clf"] == "LogisticRegression(C=2.0)"
    assert run.params == _as_logged(pipe.get_params(deep=True))
    assert run.metrics["training_accuracy_score"] == pytest.approx(pipe.score(frame, Y))
    assert _models(run) == {"model"}
    signature = cairn.load_model(f"runs:/{run.id}/model").signature
    assert [column.name for column in signature.columns] == ["a", "b", "c", "d"]


def test_a_grid_search_logs_each_candidate_and_one_model(autolog: None) -> None:
    """4 candidates x 3 folds: one parent with the best estimator, 4 child runs whose scores
    equal cv_results_, the best one tagged; inner fits log nothing."""
    search = GridSearchCV(LogisticRegression(), {"C": [0.01, 0.1, 1.0, 10.0]}, cv=3)
    search.fit(X, Y)
    runs = _runs()
    (parent,) = [r for r in runs if r.parent_id is None]
    children = sorted(
        (r for r in runs if r.parent_id == parent.id), key=lambda r: int(r.tags["cairn.candidate"])
    )
    assert len(runs) == 5 and len(children) == 4
    results = search.cv_results_
    for index, child in enumerate(children):
        assert child.status == "finished"
        assert child.params == results["params"][index]
        for column in ("mean_test_score", "std_test_score", "rank_test_score", "split2_test_score"):
            assert child.metrics[column] == pytest.approx(float(results[column][index]))
        assert "mean_fit_time" in child.metrics
        assert _models(child) == set()
    best = [c for c in children if c.tags.get("cairn.best") == "true"]
    assert [int(c.tags["cairn.candidate"]) for c in best] == [search.best_index_]
    assert parent.params["best_C"] == search.best_params_["C"]
    assert parent.params["estimator__C"] == 1.0
    assert parent.metrics["best_cv_score"] == pytest.approx(search.best_score_)
    assert parent.metrics["training_accuracy_score"] == pytest.approx(search.score(X, Y))
    assert _models(parent) == {"model"}
    loaded = cairn.load_model(f"runs:/{parent.id}/model")
    assert type(loaded.raw) is LogisticRegression
    assert search.best_params_["C"] == loaded.raw.C


def test_multi_metric_search_logs_each_metric(autolog: None) -> None:
    """A randomized search with several scorers logs each one's scores per candidate."""
    search = RandomizedSearchCV(
        LogisticRegression(),
        {"C": [0.1, 1.0]},
        n_iter=2,
        cv=2,
        scoring=["accuracy", "f1"],
        refit="f1",
        random_state=0,
    )
    search.fit(X, Y)
    runs = _runs()
    (parent,) = [r for r in runs if r.parent_id is None]
    children = [r for r in runs if r.parent_id == parent.id]
    assert len(children) == 2
    for child in children:
        index = int(child.tags["cairn.candidate"])
        for column in ("mean_test_accuracy", "mean_test_f1", "split1_test_f1"):
            assert child.metrics[column] == pytest.approx(float(search.cv_results_[column][index]))
    assert parent.metrics["training_score"] == pytest.approx(search.score(X, Y))


def test_threaded_inner_fits_log_nothing(autolog: None) -> None:
    """Inner fits on joblib's threads are nested in the search: still one run per candidate."""
    import joblib

    search = GridSearchCV(LogisticRegression(), {"C": [0.1, 1.0]}, cv=2, n_jobs=2)
    with joblib.parallel_backend("threading"):
        search.fit(X, Y)
    runs = _runs()
    assert len(runs) == 3
    assert sum(len(_models(r)) for r in runs) == 1


def test_fits_inside_a_run_log_to_it_then_to_children(autolog: None) -> None:
    """Inside cairn.run(), the first fit logs into that run and the second into a child."""
    with cairn.run() as outer:
        LogisticRegression(C=3.0).fit(X, Y)
        StandardScaler().fit(X)
    runs = _runs()
    assert len(runs) == 2
    first = cairn.get_run(outer.id)
    (second,) = [r for r in runs if r.id != outer.id]
    assert first.params["C"] == 3.0 and _models(first) == {"model"}
    assert second.parent_id == outer.id and second.tags["estimator_name"] == "StandardScaler"
    assert second.metrics == {}  # a transformer has no score


def test_log_models_false_saves_no_model(quiet_capture: None) -> None:
    """With log_models=False a fit logs params and score, but no model."""
    cairn.autolog(frameworks=["sklearn"], log_models=False)
    try:
        LogisticRegression().fit(X, Y)
    finally:
        cairn.autolog(disable=True)
    (run,) = _runs()
    assert run.params and run.metrics and run.artifacts == []


def test_without_autolog_a_fit_logs_nothing(quiet_capture: None) -> None:
    """Never turned on, or turned off again, a fit creates no run."""
    LogisticRegression().fit(X, Y)
    cairn.autolog(frameworks=["sklearn"])
    cairn.autolog(disable=True)
    LogisticRegression().fit(X, Y)
    assert find_runs() == []
    assert "__cairn_original__" not in vars(LogisticRegression.fit)
    hook = vars(BaseEstimator).get("__init_subclass__")
    assert not hasattr(getattr(hook, "__func__", None), "__cairn_original__")


class _Majority(ClassifierMixin, BaseEstimator):
    """A classifier defined before autolog is turned on."""

    def __init__(self, fail_after_fit: bool = False) -> None:
        self.fail_after_fit = fail_after_fit

    def fit(self, X: Any, y: Any) -> _Majority:
        self.classes_ = np.unique(y)
        self.value_ = np.bincount(y).argmax()
        return self

    def predict(self, X: Any) -> Any:
        return np.full(len(X), self.value_)


def test_classes_defined_later_are_patched(autolog: None) -> None:
    """A user's estimator class defined after autolog() is logged, and so is its subclass
    calling super().fit, as one run."""

    class Later(_Majority):
        def fit(self, X: Any, y: Any) -> Later:
            super().fit(X, y)
            self.later_ = True
            return self

    Later().fit(X, Y)
    _Majority().fit(X, Y)
    runs = _runs()
    assert sorted(r.tags["estimator_name"] for r in runs) == ["Later", "_Majority"]
    assert all(r.params == {"fail_after_fit": False} for r in runs)


def test_a_module_imported_after_autolog_is_patched(
    autolog: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An estimator module of scikit-learn imported after autolog() is on gets logged too."""
    # Imported afresh (its classes defined anew, as on a first import), whatever this process
    # imported before; the module object it had is put back afterwards.
    name = "sklearn.kernel_ridge"
    if name in sys.modules:
        import sklearn

        monkeypatch.setitem(sys.modules, name, sys.modules[name])
        monkeypatch.setattr(sklearn, "kernel_ridge", sys.modules[name], raising=False)
        del sys.modules[name]
    module = importlib.import_module(name)
    module.KernelRidge().fit(X, Y)
    (run,) = _runs()
    assert run.tags["estimator_name"] == "KernelRidge"
    assert run.params["kernel"] == "linear"


class _Fragile(_Majority):
    """An estimator whose get_params fails once fitted, and whose fit fails on demand."""

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        if hasattr(self, "value_") and self.fail_after_fit:
            raise RuntimeError("no params after fit")
        return super().get_params(deep=deep)

    def fit(self, X: Any, y: Any) -> _Fragile:
        if len(X) < 2:
            raise ValueError("too few rows")
        return super().fit(X, y)  # type: ignore[return-value]


def test_cairn_failures_are_reported_and_user_errors_propagate(
    autolog: None, caplog: pytest.LogCaptureFixture
) -> None:
    """A failure in cairn's logging is a counted warning and the fit returns; an error of the
    fit itself propagates unchanged and its run ends failed."""
    before = failures().get("sklearn", 0)
    with caplog.at_level(logging.WARNING, logger="cairn"):
        fitted = _Fragile(fail_after_fit=True).fit(X, Y)
    assert fitted.value_ in (0, 1)
    assert failures()["sklearn"] == before + 1
    assert "no params after fit" in caplog.text
    with pytest.raises(ValueError, match="too few rows"):
        _Fragile().fit(X[:1], Y[:1])
    by_status = {r.status: r for r in _runs()}
    assert set(by_status) == {"finished", "failed"}
    assert by_status["finished"].tags["cairn.autolog.failures"] == "1"
    assert by_status["failed"].params == {}
