"""What the XGBoost and LightGBM integrations share: patching a native ``train`` function
(and every module name bound to it), patching the scikit-learn API's ``fit`` methods so that
they are the outer training, and the small helpers both use (input examples, importances).

How the two levels fit together: ``XGBClassifier.fit``/``LGBMRegressor.fit`` call the native
``train`` inside. The ``fit`` wrapper is the training (params, model, importances); the
``train`` it calls finds the fit's ``Training`` in a thread-local and only adds the
per-iteration callback to it. A ``train`` called by the user is a training of its own.
"""

from __future__ import annotations

import inspect
import math
import sys
import threading
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

from cairn.integrations._training import Patches, Training, guard, options, training

#: The attribute marking a ``fit`` wrapped by a boosting integration; the scikit-learn
#: integration leaves methods carrying it alone.
MARK = "__cairn_autolog__"
EXAMPLE_ROWS = 5

_local = threading.local()  # .fit: the Training of the fit in progress on this thread


# A train function's own work (given the Training, the bound arguments and the callback that
# logs per-iteration metrics): add that callback to the bound arguments.
AddCallback = Callable[[inspect.BoundArguments, Training], None]
# What a standalone train logs: before (params, example) and after (the booster).
Before = Callable[[Training, inspect.BoundArguments], Any]
After = Callable[[Training, Any, Any], None]


def patch_train(
    patches: Patches,
    framework: str,
    module: ModuleType,
    add_callback: AddCallback,
    before: Before,
    after: After,
) -> None:
    """Wrap ``module.train`` and rebind every ``train`` name of the framework's modules that
    refers to it (``lightgbm.train``, ``lightgbm.sklearn.train``...: each imported it by name)."""
    original = module.train
    signature = inspect.signature(original)
    name = f"{framework}.train"

    def make(function: Callable[..., Any]) -> Callable[..., Any]:
        def train(*args: Any, **kwargs: Any) -> Any:
            outer = getattr(_local, "fit", None)
            if outer is not None:
                # Inside our own fit (same thread): it logs the rest, we add the metrics.
                _local.fit = None  # a train nested deeper (a user's objective) adds none
                bound = _bind(signature, args, kwargs)
                if bound is None:
                    return function(*args, **kwargs)
                with guard(framework, "adding the metrics callback", outer.run):
                    add_callback(bound, outer)
                return function(*bound.args, **bound.kwargs)
            with training(framework, name) as run:
                bound = _bind(signature, args, kwargs) if run is not None else None
                if run is None or bound is None:
                    return function(*args, **kwargs)
                facts = None
                with guard(framework, "recording the training's params", run.run):
                    facts = before(run, bound)
                with guard(framework, "adding the metrics callback", run.run):
                    add_callback(bound, run)
                booster = function(*bound.args, **bound.kwargs)
                with guard(framework, "recording the trained booster", run.run):
                    after(run, booster, facts)
                return booster

        return train

    patches.wrap(module, "train", make)
    wrapper = module.train
    prefix = module.__name__.partition(".")[0]
    for other_name, other in list(sys.modules.items()):
        if other is module or not (other_name == prefix or other_name.startswith(prefix + ".")):
            continue
        if other is not None and vars(other).get("train") is original:
            patches.replace(other, "train", wrapper)


def _bind(
    signature: inspect.Signature, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> inspect.BoundArguments | None:
    try:
        return signature.bind(*args, **kwargs)
    except TypeError:
        return None  # the user's call is wrong: the framework says how, unchanged


def patch_fits(
    patches: Patches,
    framework: str,
    module: ModuleType,
    base: type,
    after: Callable[[Training, Any, tuple[Any, ...], dict[str, Any]], None],
) -> None:
    """Wrap ``fit`` of every class of ``module`` deriving from ``base`` that defines one."""
    classes = [
        c
        for c in vars(module).values()
        if isinstance(c, type) and issubclass(c, base) and "fit" in vars(c)
    ]
    for cls in classes:
        current = vars(cls)["fit"]
        if getattr(current, MARK, None) == framework:
            continue
        # The rule with the scikit-learn integration (LGBMModel and XGBModel are scikit-learn
        # estimators too): this fit must be the OUTER training, or the per-iteration metrics
        # (which only the train inside the fit can see) are lost. The scikit-learn
        # integration skips a fit carrying MARK; if it wrapped this one first (its wrapper
        # carries __cairn_original__), we wrap the original instead, replacing its wrapper,
        # and restore to the original.
        original = getattr(current, "__cairn_original__", current)
        if original is not current:
            cls.fit = original  # type: ignore[attr-defined]
        patches.wrap(cls, "fit", lambda function: _make_fit(framework, function, after))
        setattr(vars(cls)["fit"], MARK, framework)


def _make_fit(
    framework: str,
    function: Callable[..., Any],
    after: Callable[[Training, Any, tuple[Any, ...], dict[str, Any]], None],
) -> Callable[..., Any]:
    def fit(self: Any, *args: Any, **kwargs: Any) -> Any:
        with training(framework, f"{type(self).__name__}.fit") as run:
            if run is None:
                return function(self, *args, **kwargs)
            previous = getattr(_local, "fit", None)
            _local.fit = run
            try:
                result = function(self, *args, **kwargs)
            finally:
                _local.fit = previous
            with guard(framework, "recording the fitted estimator", run.run):
                after(run, self, args, kwargs)
            return result

    setattr(fit, MARK, framework)
    return fit


def log_iteration(run: Training, metrics: dict[str, Any], step: int) -> None:
    """Log one iteration's metrics: straight to the run when all are finite floats (the usual
    case: half the cost), else through ``Training.log_metrics``, which converts or drops."""
    for key, value in metrics.items():
        number = value
        if value.__class__ is not float:
            if not isinstance(value, float):
                run.log_metrics(metrics, step)
                return
            number = metrics[key] = float(value)  # NumPy's float64 (LightGBM's values)
        if not -math.inf < number < math.inf:
            run.log_metrics(metrics, step)
            return
    run.run.log(metrics, step=step)


def head(data: Any) -> Any:
    """The first rows of a NumPy array or pandas DataFrame (an input example), else None."""
    module = type(data).__module__
    if module.startswith("pandas") and hasattr(data, "iloc") and getattr(data, "ndim", 0) == 2:
        return data.iloc[:EXAMPLE_ROWS]
    if module == "numpy" and getattr(data, "ndim", 0) == 2:
        return data[:EXAMPLE_ROWS]
    return None


def fit_input(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Any:
    """The input example of a scikit-learn-style ``fit(X, y, ...)`` call."""
    return head(args[0] if args else kwargs.get("X"))


def log_importances(run: Training, importances: Mapping[str, Mapping[str, Any]]) -> None:
    """Store each kind's importances as ``feature_importance_<kind>.json``."""
    for kind, values in importances.items():
        run.log_dict(dict(values), f"feature_importance_{kind}.json")


def save_model(run: Training, model: Any, example: Any, predict: Callable[[Any], Any]) -> None:
    """``Training.save_model``, with the signature inferred from the model in memory.

    Given only the example, the registry loads the saved model back to see its output: for
    1,000 trees that costs a third of the save, a few % of a training of 2 s. The output of
    the model in memory is the same, on the same example converted the same way.
    """
    if not options().log_models:
        return
    from cairn.registry import save_model as save
    from cairn.registry.signature import enforce, infer_signature

    with guard(run.framework, "saving the model", run.run):
        signature = None
        if example is not None:
            try:
                inputs = infer_signature(example)
                signature = infer_signature(example, predict(enforce(inputs, example)))
            except Exception:  # the registry's own inference says what is wrong, below
                signature = None
        save(model, "model", input_example=example, signature=signature, run=run.run)
