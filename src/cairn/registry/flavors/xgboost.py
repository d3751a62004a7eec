"""The ``xgboost`` flavor: XGBoost models, saved in XGBoost's own binary JSON format (UBJSON).

Both the scikit-learn API (``XGBClassifier``, ``XGBRegressor``, ``XGBRanker``, the random-forest
variants) and a raw ``xgboost.Booster`` are handled. The native format holds the trees and the
learner's configuration only, so loading it runs no code from the file (``safe``); the
scikit-learn wrapper is rebuilt from its class name, looked up in the ``xgboost`` package itself
and never imported from a path the file names.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from cairn.core.errors import InvalidInputError, ModelLoadError
from cairn.core.lazy import import_optional

_FILE = "model.ubj"


class XGBoostFlavor:
    """Flavor of XGBoost models (scikit-learn API and raw Boosters)."""

    name = "xgboost"
    packages = ("xgboost", "xgboost-cpu", "numpy", "scipy")
    order = 20  # before sklearn: XGBClassifier is a scikit-learn estimator too

    def recognizes(self, model: Any) -> bool:
        """An ``xgboost.Booster`` or an estimator of XGBoost's scikit-learn API."""
        if "xgboost" not in sys.modules or not type(model).__module__.startswith("xgboost"):
            return False
        import xgboost

        return isinstance(model, (xgboost.Booster, xgboost.XGBModel))

    def save(
        self, model: Any, folder: Path, *, input_example: Any, options: dict[str, Any]
    ) -> dict[str, Any]:
        """Write ``model.ubj`` with ``save_model``; record the wrapper class, if any."""
        xgboost = import_optional("xgboost", "xgboost", "saving an XGBoost model")
        if isinstance(model, xgboost.XGBModel):
            estimator = type(model).__name__
            # Only classes XGBoost exports can be rebuilt on load (by name, from the package).
            if getattr(xgboost, estimator, None) is not type(model):
                raise InvalidInputError(
                    f"{type(model).__module__}.{type(model).__qualname__} is a subclass of an "
                    "XGBoost estimator, which the xgboost flavor cannot rebuild; log its "
                    "get_booster() instead, or wrap it in a cairn.PythonModel"
                )
        elif isinstance(model, xgboost.Booster):
            estimator = None
        else:
            raise InvalidInputError(
                f"the xgboost flavor saves an xgboost.Booster or an XGBoost scikit-learn "
                f"estimator, not a {type(model).__module__}.{type(model).__qualname__}"
            )
        model.save_model(folder / _FILE)
        return {"file": _FILE, "estimator": estimator, "safe": True}

    def load(self, folder: Path, options: dict[str, Any]) -> Any:
        """Rebuild the estimator (``cls(); load_model``) or wrap the raw Booster."""
        xgboost = import_optional("xgboost", "xgboost", "loading an XGBoost model")
        path = folder / options["file"]
        estimator = options.get("estimator")
        if estimator is None:
            return _BoosterPredictor(xgboost.Booster(model_file=str(path)))
        cls = getattr(xgboost, estimator, None)
        if not (isinstance(cls, type) and issubclass(cls, xgboost.XGBModel)):
            raise ModelLoadError(
                f"the installed xgboost {xgboost.__version__} has no estimator {estimator!r}; "
                "install the XGBoost version the model was saved with"
            )
        model = cls()
        model.load_model(path)
        return model


class _BoosterPredictor:
    """A raw Booster answering ``predict`` on a DataFrame or an array."""

    def __init__(self, booster: Any) -> None:
        self.booster = booster

    def predict(self, inputs: Any) -> Any:
        """The Booster's prediction (its objective's output) for each row."""
        import xgboost

        # DMatrix keeps a DataFrame's column names, which the Booster checks against its own.
        return self.booster.predict(xgboost.DMatrix(inputs))
