"""XGBoost autologging: ``xgboost.train`` and the scikit-learn API (``XGBClassifier.fit``...).

What a training records:

- params: the ``params`` dict, ``num_boost_round`` and ``early_stopping_rounds``
  (``xgboost.train``); the estimator's ``get_params()`` (scikit-learn API);
- per-iteration metrics of every eval set, ``<data>-<metric>`` (``validation_0-rmse``,
  ``train-logloss``) at step 0, 1, ... as ``evals_result`` stores them;
- with early stopping: ``best_iteration`` (XGBoost's 0-based index) and ``best_score``;
- feature importances: ``feature_importance_weight.json`` and ``feature_importance_gain.json``
  (``Booster.get_score``: features no tree splits on are absent);
- the model (the Booster, or the estimator) with an input example from the training data.
"""

from __future__ import annotations

import functools
import inspect
from types import ModuleType
from typing import Any

from cairn.integrations._boosting import (
    fit_input,
    log_importances,
    log_iteration,
    patch_fits,
    patch_train,
    save_model,
)
from cairn.integrations._training import Patches, Training, report_failure

FRAMEWORK = "xgboost"


def patch(module: ModuleType, patches: Patches) -> None:
    """Patch ``xgboost.training.train`` (and its names) and the scikit-learn API's ``fit``."""
    import importlib

    training = importlib.import_module("xgboost.training")
    patch_train(patches, FRAMEWORK, training, _add_callback, _before, _after)
    try:
        sklearn_api = importlib.import_module("xgboost.sklearn")
    except ImportError:
        return
    patch_fits(patches, FRAMEWORK, sklearn_api, sklearn_api.XGBModel, _after_fit)


@functools.cache
def _callback_class() -> type:
    """The TrainingCallback subclass (defined on first use: xgboost is imported by then)."""
    from xgboost.callback import TrainingCallback

    class MetricsCallback(TrainingCallback):
        """Logs the newest value of each eval set's metrics after each iteration."""

        def __init__(self, run: Training) -> None:
            super().__init__()
            self.run = run
            self.keys: dict[tuple[str, str], str] = {}

        def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
            try:
                keys = self.keys
                metrics = {}
                for data, scores in evals_log.items():
                    for metric, values in scores.items():
                        pair = (data, metric)
                        key = keys.get(pair)
                        if key is None:
                            key = keys[pair] = f"{data}-{metric}"
                        value = values[-1]
                        metrics[key] = value[0] if isinstance(value, tuple) else value
                if metrics:
                    log_iteration(self.run, metrics, epoch)
            except Exception as exc:  # never into the training loop
                report_failure(FRAMEWORK, "logging an iteration's metrics", exc, self.run.run)
            return False  # never stops the training

    return MetricsCallback


def _add_callback(bound: inspect.BoundArguments, run: Training) -> None:
    # First: CallbackContainer asks callbacks with any(), which stops at the first that
    # returns True (a user's stop), and the history it hands us is already updated.
    callbacks = [_callback_class()(run), *(bound.arguments.get("callbacks") or [])]
    bound.arguments["callbacks"] = callbacks


def _before(run: Training, bound: inspect.BoundArguments) -> Any:
    arguments = bound.arguments
    params: dict[str, Any] = dict(arguments.get("params") or {})
    params["num_boost_round"] = arguments.get("num_boost_round", 10)
    if arguments.get("early_stopping_rounds"):
        params["early_stopping_rounds"] = arguments["early_stopping_rounds"]
    run.log_params(params)
    return _example(arguments.get("dtrain"))


def _after(run: Training, booster: Any, example: Any) -> None:
    _log_booster(run, booster)
    import xgboost

    save_model(run, booster, example, lambda rows: booster.predict(xgboost.DMatrix(rows)))


def _after_fit(
    run: Training, estimator: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    import xgboost

    run.log_params(estimator.get_params())
    booster = estimator.get_booster()
    _log_booster(run, booster)
    # The flavor rebuilds only the estimators xgboost exports; a user's subclass: its booster.
    exported = getattr(xgboost, type(estimator).__name__, None) is type(estimator)
    model = estimator if exported else booster
    predict = estimator.predict if exported else lambda rows: booster.predict(xgboost.DMatrix(rows))
    save_model(run, model, fit_input(args, kwargs), predict)


def _log_booster(run: Training, booster: Any) -> None:
    best = booster.attr("best_iteration")
    if best is not None:
        metrics: dict[str, Any] = {"best_iteration": int(best)}
        score = booster.attr("best_score")
        if score is not None:
            metrics["best_score"] = float(score)
        run.log_metrics(metrics)
    log_importances(
        run, {kind: booster.get_score(importance_type=kind) for kind in ("weight", "gain")}
    )


def _example(dtrain: Any) -> Any:
    """The first rows of a DMatrix as a dense array (a DataFrame with its feature names);
    entries the DMatrix does not store (missing values) are NaN."""
    try:
        return _dense_head(dtrain)
    except Exception:  # a DMatrix without rows to read back (QuantileDMatrix, an iterator)
        return None


def _dense_head(dtrain: Any) -> Any:
    import numpy as np

    if dtrain is None or not hasattr(dtrain, "get_data"):
        return None
    if any(t == "c" for t in (dtrain.feature_types or [])):
        return None  # categorical codes would not be the user's categories
    rows = dtrain.get_data()[: min(5, dtrain.num_row())]
    example = np.full(rows.shape, np.nan, dtype=np.float32)
    for i in range(rows.shape[0]):
        start, end = rows.indptr[i], rows.indptr[i + 1]
        example[i, rows.indices[start:end]] = rows.data[start:end]
    names = dtrain.feature_names
    if names is None:
        return example
    try:
        import pandas as pd
    except ImportError:
        return example
    return pd.DataFrame(example, columns=list(names))
