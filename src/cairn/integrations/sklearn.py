"""Autologging for scikit-learn: each outermost ``fit`` (``fit_transform``, ``fit_predict``)
records the estimator's params (a Pipeline's as ``step__param``), its score on the training
data, and the fitted model with its signature. A ``GridSearchCV`` or ``RandomizedSearchCV``
also gets one child run per candidate (its params and cross-validation scores, the best one
tagged ``cairn.best``), and logs the refit best estimator as its model.

The fits inside an autologged fit (a Pipeline's steps, a search's folds, a ``super().fit``)
log nothing of their own (``_training.training``). Every estimator class is patched: those
defined when scikit-learn is imported (found through ``BaseEstimator.__subclasses__``, never
by importing scikit-learn's modules) and those defined later (through
``BaseEstimator.__init_subclass__``), a user's own included.
"""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Callable, Mapping
from types import FunctionType, ModuleType
from typing import Any

from cairn.integrations._training import (
    AUTOLOG_TAG,
    Patches,
    Training,
    guard,
    number,
    param_value,
    report_failure,
    training,
)

FRAMEWORK = "sklearn"
#: The tag marking the best candidate's run of a search.
BEST_TAG = "cairn.best"
#: The tag giving a candidate's index in the search's ``cv_results_``.
CANDIDATE_TAG = "cairn.candidate"
_METHODS = ("fit", "fit_transform", "fit_predict")
_EXAMPLE_ROWS = 5
_SEARCH_MODULE = "sklearn.model_selection._search"


def patch(module: ModuleType, patches: Patches) -> None:
    """Patch the fitting methods of every scikit-learn estimator class, now and to come."""
    import sklearn.base  # imported by ``import sklearn`` already: this costs nothing

    base = sklearn.base.BaseEstimator
    _hook_new_classes(base, patches)
    seen: set[type] = set()
    pending: list[type] = [base]
    while pending:
        cls = pending.pop()
        if cls in seen:  # a class with several estimator bases is listed under each
            continue
        seen.add(cls)
        _patch_class(cls, patches)
        pending.extend(type.__subclasses__(cls))


def _hook_new_classes(base: type[Any], patches: Patches) -> None:
    """Patch each estimator class when it is defined, after scikit-learn's own hooks."""
    previous = vars(base).get("__init_subclass__")  # a classmethod, when the class has one

    def __init_subclass__(cls: type[Any], /, **kwargs: Any) -> None:
        if previous is None:
            super(base, cls).__init_subclass__(**kwargs)  # the next one in cls's MRO
        else:
            previous.__get__(None, cls)(**kwargs)
        try:
            _patch_class(cls, patches)
        except Exception as exc:  # never keep the user's class from being defined
            report_failure(FRAMEWORK, f"patching {cls.__qualname__}", exc)

    __init_subclass__.__cairn_original__ = previous  # type: ignore[attr-defined]
    patches.replace(base, "__init_subclass__", classmethod(__init_subclass__))


@functools.cache
def _owned_elsewhere() -> tuple[str, ...]:
    """Top-level packages with autologging of their own (XGBoost, LightGBM): their
    scikit-learn wrappers are theirs to log, with what only they know."""
    from cairn.integrations.frameworks import FRAMEWORKS

    tops = {m.partition(".")[0] for f in FRAMEWORKS.values() for m in f.modules}
    return tuple(sorted(tops - {"sklearn"}))


def _patch_class(cls: type, patches: Patches) -> None:
    """Wrap the fitting methods ``cls`` defines itself (inherited ones are wrapped where
    they are defined), each once."""
    # A subclass of theirs too (a user's own LGBMRegressor): its super().fit reaches theirs.
    if any(c.__module__.partition(".")[0] in _owned_elsewhere() for c in cls.__mro__):
        return
    own = vars(cls)
    for name in _METHODS:
        value = own.get(name)
        # scikit-learn's ``available_if`` (a Pipeline's fit_predict) holds the function: wrap
        # that, so the method stays available exactly when scikit-learn says.
        held = getattr(value, "fn", None)
        if isinstance(value, FunctionType):
            if not hasattr(value, "__cairn_original__"):
                patches.wrap(cls, name, _wrapper_for)
        elif isinstance(held, FunctionType) and not hasattr(held, "__cairn_original__"):
            patches.wrap(value, "fn", _wrapper_for)


def _wrapper_for(original: Callable[..., Any]) -> Callable[..., Any]:
    """The fitting method ``original`` with autologging around it."""

    def fit(self: Any, *args: Any, **kwargs: Any) -> Any:
        cls = type(self)
        tags = {"estimator_name": cls.__name__, "estimator_class": _dotted(cls)}
        with training(FRAMEWORK, cls.__name__, tags) as t:
            result = original(self, *args, **kwargs)
            if t is not None:
                with guard(FRAMEWORK, f"logging the fit of {type(self).__name__}", t.run):
                    _log_fit(t, self, original, args, kwargs)
        return result

    return fit


@functools.lru_cache(maxsize=2048)
def _arg_names(function: Callable[..., Any]) -> tuple[tuple[str, ...], frozenset[str]]:
    """The names of ``function``'s positional arguments after ``self``, and of all its
    arguments."""
    try:
        parameters = list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError):
        return ("X", "y"), frozenset()
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    positional = tuple(p.name for p in parameters if p.kind in kinds)[1:]
    return positional, frozenset(p.name for p in parameters)


def _fit_data(
    original: Callable[..., Any], args: tuple[Any, ...], kwargs: Mapping[str, Any]
) -> tuple[Any, Any, Any]:
    """The training inputs, target and sample weights a fit was called with."""
    names = _arg_names(original)[0]
    bound = dict(zip(names, args, strict=False))
    bound.update(kwargs)
    features = args[0] if args else bound.get(names[0] if names else "X", bound.get("X"))
    target = bound.get("y", bound.get("Y"))
    return features, target, bound.get("sample_weight")


def _log_fit(
    t: Training,
    estimator: Any,
    original: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
) -> None:
    """Record what an outermost fit of ``estimator`` learned."""
    features, target, weights = _fit_data(original, args, kwargs)
    with guard(FRAMEWORK, "reading the estimator's params", t.run):
        t.log_params(estimator.get_params(deep=True))
    search = _is_search(estimator)
    model = estimator
    if search:
        with guard(FRAMEWORK, "logging the search's candidates", t.run):
            _log_search(t, estimator)
        model = getattr(estimator, "best_estimator_", None)  # refit=False: none
    if model is not None:
        _log_training_score(t, estimator, features, target, weights, search)
        t.save_model(model, input_example=_example(features))


def _dotted(cls: type) -> str:
    """``module.QualifiedName`` of an estimator class."""
    return f"{cls.__module__}.{cls.__qualname__}"


def _is_search(estimator: Any) -> bool:
    """Whether ``estimator`` is a hyperparameter search (``BaseSearchCV``)."""
    module = sys.modules.get(_SEARCH_MODULE)  # any search's fit has imported it
    base = getattr(module, "BaseSearchCV", None)
    return base is not None and isinstance(estimator, base)


def _log_training_score(
    t: Training, estimator: Any, features: Any, target: Any, weights: Any, search: bool
) -> None:
    """Score the fitted estimator on its training data (one prediction pass)."""
    if features is None or target is None:
        return
    score = getattr(estimator, "score", None)
    if not callable(score):
        return
    with guard(FRAMEWORK, "scoring the training data", t.run):
        extra = {}
        if weights is not None and _takes_sample_weight(score):
            extra["sample_weight"] = weights
        value = score(features, target, **extra)
        t.log_metrics({_score_name(estimator, search): value})


def _takes_sample_weight(method: Callable[..., Any]) -> bool:
    """Whether the bound method ``method`` has a ``sample_weight`` argument."""
    return "sample_weight" in _arg_names(getattr(method, "__func__", method))[1]


def _score_name(estimator: Any, search: bool) -> str:
    """The training metric's name after what ``score`` measures for this estimator."""
    from sklearn.base import is_classifier, is_regressor

    if search:
        if getattr(estimator, "scoring", None) is not None:
            return "training_score"  # the search's own scorer
        estimator = estimator.best_estimator_
    if is_classifier(estimator):
        return "training_accuracy_score"
    if is_regressor(estimator):
        return "training_r2_score"
    return "training_score"


def _example(features: Any) -> Any:
    """The first rows of the training inputs, for the model's signature (None if they
    cannot be sliced)."""
    if features is None:
        return None
    try:
        rows = getattr(features, "iloc", None)
        if rows is not None:
            return rows[:_EXAMPLE_ROWS]
        first = features[:_EXAMPLE_ROWS]
        if isinstance(first, (list, tuple)) and first and isinstance(first[0], (list, tuple)):
            import numpy as np

            # Rows as lists are an array to scikit-learn: as records they would give the
            # model named columns, which it was not fitted with.
            return np.asarray(first)
        return first
    except Exception:  # an input scikit-learn takes but slicing does not: no example
        return None


def _log_search(t: Training, search: Any) -> None:
    """Record a search's best candidate in its run, and each candidate in a child run."""
    best_params = getattr(search, "best_params_", None)
    if isinstance(best_params, Mapping):
        t.log_params({f"best_{key}": value for key, value in best_params.items()})
    best_score = getattr(search, "best_score_", None)
    if best_score is not None:
        t.log_metrics({"best_cv_score": best_score})
    results = getattr(search, "cv_results_", None)
    if not isinstance(results, Mapping) or "params" not in results:
        return
    from cairn.tracking import active_run

    current = active_run()
    if current is None or current.id != t.run.id:
        raise RuntimeError(
            f"run {t.run.id} is not the active run in this thread, so the candidates' runs "
            "would not be its children; left them out"
        )
    best = getattr(search, "best_index_", None)
    columns = [k for k in results if k != "params" and not k.startswith("param_")]
    name = type(search).__name__
    for index, candidate in enumerate(results["params"]):
        metrics = {}
        for column in columns:
            value = number(results[column][index])
            if value is not None:  # a failed fit's NaN score is left out
                metrics[column] = value
        tags = {AUTOLOG_TAG: FRAMEWORK, CANDIDATE_TAG: str(index)}
        if best is not None and index == best:
            tags[BEST_TAG] = "true"
        params = {str(k): param_value(v) for k, v in candidate.items()}
        with guard(FRAMEWORK, f"logging candidate {index} of the search", t.run):
            _candidate_run(f"{name}-{index}", params, tags, metrics)


def _candidate_run(
    name: str, params: dict[str, Any], tags: dict[str, str], metrics: dict[str, float]
) -> None:
    """One candidate's child run of the active run, ended at once."""
    from cairn.tracking import start_run

    child = start_run(name=name, params=params, tags=tags, project_params=False, capture=False)
    try:
        if metrics:
            child.log(metrics, step=0)
    except BaseException as exc:
        child.__exit__(type(exc), exc, exc.__traceback__)
        raise
    child.end("finished")
