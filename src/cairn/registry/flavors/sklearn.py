"""The ``sklearn`` flavor: scikit-learn estimators and Pipelines (and estimators following its
API). Saved with joblib by default; ``serialization="skops"`` saves in skops' format, which
loads without running code from the file (``cairn.load_model(uri, safe=True)`` insists on it).

joblib is the default because importing ``skops.io`` costs seconds (it imports every
scikit-learn estimator, and PyTorch where installed), which would dominate both logging and
the time to a first prediction; a version's files are digest-verified before either is read.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from cairn.core.errors import InvalidInputError
from cairn.core.lazy import import_optional

FORMATS = ("joblib", "skops")


class SklearnFlavor:
    """Flavor of scikit-learn estimators."""

    name = "sklearn"
    packages = ("scikit-learn", "joblib", "numpy", "scipy", "skops")
    order = 90  # generic: wrappers such as XGBClassifier are estimators too

    def recognizes(self, model: Any) -> bool:
        """A scikit-learn estimator (an instance of ``sklearn.base.BaseEstimator``)."""
        if "sklearn" not in sys.modules:
            return False
        from sklearn.base import BaseEstimator

        return isinstance(model, BaseEstimator)

    def save(
        self, model: Any, folder: Path, *, input_example: Any, options: dict[str, Any]
    ) -> dict[str, Any]:
        """Write ``model.joblib`` (or ``model.skops``)."""
        fmt = options.get("serialization") or "joblib"
        if fmt not in FORMATS:
            raise InvalidInputError(
                f"serialization {fmt!r} is not one of the sklearn flavor's: {', '.join(FORMATS)}"
            )
        if fmt == "skops":
            sio = import_optional("skops.io", "sklearn", "saving a model with skops")
            path = folder / "model.skops"
            sio.dump(model, path)
            trusted = sorted(sio.get_untrusted_types(file=path))
            return {"file": path.name, "format": "skops", "trusted": trusted, "safe": True}
        import joblib

        path = folder / "model.joblib"
        joblib.dump(model, path)
        return {"file": path.name, "format": "joblib", "safe": False}

    def load(self, folder: Path, options: dict[str, Any]) -> Any:
        """Read the estimator back."""
        path = folder / options["file"]
        if options.get("format") == "skops":
            sio = import_optional("skops.io", "sklearn", "loading a model saved with skops")
            # The types were listed when cairn wrote the file, and the file's digest is checked.
            return sio.load(path, trusted=list(options.get("trusted", [])))
        import joblib

        return joblib.load(path)
