"""LightGBM autologging: ``lightgbm.train`` and the scikit-learn API (``LGBMRegressor.fit``...).

What a training records:

- params: the ``params`` dict, ``num_boost_round`` and an ``early_stopping`` callback's
  settings (``lightgbm.train``); the estimator's ``get_params()`` (scikit-learn API);
- per-iteration metrics of every eval set, ``<data>-<metric>`` (``valid_0-l2``,
  ``training-auc``) at step 0, 1, ... as ``record_evaluation`` stores them;
- with early stopping: ``best_iteration`` (LightGBM's count, 1-based) and
  ``best_<data>-<metric>``, the scores at that iteration;
- feature importances: ``feature_importance_split.json`` and ``feature_importance_gain.json``;
- the model (the Booster, or the estimator) with an input example from the training data.
"""

from __future__ import annotations

import inspect
from types import ModuleType
from typing import Any

from cairn.integrations._boosting import (
    fit_input,
    head,
    log_importances,
    log_iteration,
    patch_fits,
    patch_train,
    save_model,
)
from cairn.integrations._training import Patches, Training, report_failure

FRAMEWORK = "lightgbm"


def patch(module: ModuleType, patches: Patches) -> None:
    """Patch ``lightgbm.engine.train`` (and its names) and the scikit-learn API's ``fit``."""
    import importlib

    engine = importlib.import_module("lightgbm.engine")
    patch_train(patches, FRAMEWORK, engine, _add_callback, _before, _after)
    try:
        sklearn_api = importlib.import_module("lightgbm.sklearn")
    except ImportError:  # scikit-learn is not installed: lightgbm has no scikit-learn API
        return
    patch_fits(patches, FRAMEWORK, sklearn_api, sklearn_api.LGBMModel, _after_fit)


class _MetricsCallback:
    """Logs each iteration's evaluation results (a LightGBM callback: ``env`` in, nothing out)."""

    before_iteration = False

    def __init__(self, run: Training) -> None:
        # In the instance's own __dict__: lightgbm.train sets a missing "order" there itself.
        # 25: after record_evaluation (20), before early_stopping (30), which may stop the
        # training at this iteration.
        self.order = 25
        self.run = run
        self.keys: dict[tuple[str, str], str] = {}

    def __call__(self, env: Any) -> None:
        try:
            results = env.evaluation_result_list
            if not results:
                return
            keys = self.keys
            metrics = {}
            for result in results:
                pair = (result[0], result[1])
                key = keys.get(pair)
                if key is None:
                    key = keys[pair] = f"{result[0]}-{result[1]}"
                metrics[key] = result[2]
            log_iteration(self.run, metrics, env.iteration - env.begin_iteration)
        except Exception as exc:  # never into the training loop
            report_failure(FRAMEWORK, "logging an iteration's metrics", exc, self.run.run)


def _add_callback(bound: inspect.BoundArguments, run: Training) -> None:
    callbacks = list(bound.arguments.get("callbacks") or [])
    callbacks.append(_MetricsCallback(run))
    bound.arguments["callbacks"] = callbacks


def _before(run: Training, bound: inspect.BoundArguments) -> Any:
    arguments = bound.arguments
    params: dict[str, Any] = dict(arguments.get("params") or {})
    params["num_boost_round"] = arguments.get("num_boost_round", 100)
    for callback in arguments.get("callbacks") or []:
        if type(callback).__name__ == "_EarlyStoppingCallback":
            params["early_stopping_rounds"] = getattr(callback, "stopping_rounds", None)
            params["early_stopping_min_delta"] = getattr(callback, "min_delta", None)
            params["first_metric_only"] = getattr(callback, "first_metric_only", None)
    run.log_params(params)
    # The Dataset may free its raw data once constructed (free_raw_data): read it before.
    return head(getattr(arguments.get("train_set"), "data", None))


def _after(run: Training, booster: Any, example: Any) -> None:
    _log_booster(run, booster)
    save_model(run, booster, example, booster.predict)


def _after_fit(
    run: Training, estimator: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    run.log_params(estimator.get_params())
    _log_booster(run, estimator.booster_)
    save_model(run, estimator, fit_input(args, kwargs), estimator.predict)


def _log_booster(run: Training, booster: Any) -> None:
    best = int(getattr(booster, "best_iteration", 0) or 0)
    if best > 0:  # early stopping ran (0: it did not)
        metrics: dict[str, Any] = {"best_iteration": best}
        for data, scores in (getattr(booster, "best_score", None) or {}).items():
            for metric, value in scores.items():
                metrics[f"best_{data}-{metric}"] = value
        run.log_metrics(metrics)
    names = booster.feature_name()
    log_importances(
        run,
        {
            kind: dict(
                zip(names, booster.feature_importance(importance_type=kind).tolist(), strict=True)
            )
            for kind in ("split", "gain")
        },
    )
