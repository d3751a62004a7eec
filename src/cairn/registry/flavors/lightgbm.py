"""The ``lightgbm`` flavor: LightGBM models, saved in LightGBM's own text format.

The text format holds the trees (and the categories of pandas categorical columns); loading it
runs no code from the file (``safe``). A scikit-learn estimator (``LGBMClassifier``,
``LGBMRegressor``, ``LGBMRanker``) is answered by its Booster plus what the wrapper adds: for
a classifier, the original class labels, so that ``predict`` returns labels and
``predict_proba`` one column per class, computed as LightGBM's wrapper computes them.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from cairn.core.errors import InvalidInputError
from cairn.core.lazy import import_optional

_FILE = "model.txt"


class LightGBMFlavor:
    """Flavor of LightGBM models (scikit-learn API and raw Boosters)."""

    name = "lightgbm"
    packages = ("lightgbm", "numpy", "scipy")
    order = 20  # before sklearn: LGBMClassifier is a scikit-learn estimator too

    def recognizes(self, model: Any) -> bool:
        """A ``lightgbm.Booster`` or an estimator of LightGBM's scikit-learn API."""
        if "lightgbm" not in sys.modules or not type(model).__module__.startswith("lightgbm"):
            return False
        import lightgbm

        return isinstance(model, (lightgbm.Booster, lightgbm.LGBMModel))

    def save(
        self, model: Any, folder: Path, *, input_example: Any, options: dict[str, Any]
    ) -> dict[str, Any]:
        """Write ``model.txt``; for a classifier, record its class labels."""
        lightgbm = import_optional("lightgbm", "lightgbm", "saving a LightGBM model")
        classes: list[Any] | None = None
        if isinstance(model, lightgbm.LGBMModel):
            booster = model.booster_
            # A custom objective makes the wrapper answer raw scores, never labels.
            if isinstance(model, lightgbm.LGBMClassifier) and not callable(model.objective):
                classes = model.classes_.tolist()
        elif isinstance(model, lightgbm.Booster):
            booster = model
        else:
            raise InvalidInputError(
                f"the lightgbm flavor saves a lightgbm.Booster or a LightGBM scikit-learn "
                f"estimator, not a {type(model).__module__}.{type(model).__qualname__}"
            )
        # num_iteration=None keeps the best iteration when early stopping found one, which is
        # what the estimator predicts with.
        booster.save_model(str(folder / _FILE))
        return {"file": _FILE, "classes": classes, "safe": True}

    def load(self, folder: Path, options: dict[str, Any]) -> Any:
        """Read the Booster back; wrap it to answer like the original estimator."""
        lightgbm = import_optional("lightgbm", "lightgbm", "loading a LightGBM model")
        booster = lightgbm.Booster(model_file=str(folder / options["file"]))
        classes = options.get("classes")
        if classes is None:
            return _BoosterPredictor(booster)
        import numpy as np

        return _ClassifierPredictor(booster, np.asarray(classes))


class _BoosterPredictor:
    """A Booster answering ``predict`` (a regressor's values, a raw Booster's output)."""

    def __init__(self, booster: Any) -> None:
        self.booster = booster

    def predict(self, inputs: Any) -> Any:
        """The Booster's prediction for each row (a DataFrame keeps its column names)."""
        return self.booster.predict(inputs)


class _ClassifierPredictor(_BoosterPredictor):
    """A classifier's Booster answering labels and class probabilities."""

    def __init__(self, booster: Any, classes: Any) -> None:
        super().__init__(booster)
        self.classes_ = classes

    def predict_proba(self, inputs: Any) -> Any:
        """One column per class, in the order of ``classes_``."""
        import numpy as np

        result = self.booster.predict(inputs)
        if len(self.classes_) > 2:
            return result
        # A binary Booster answers the positive class only; LGBMClassifier stacks it this way.
        return np.vstack((1.0 - result, result)).transpose()

    def predict(self, inputs: Any) -> Any:
        """The most probable class label for each row."""
        import numpy as np

        return self.classes_[np.argmax(self.predict_proba(inputs), axis=1)]
