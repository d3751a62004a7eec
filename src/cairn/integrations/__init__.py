"""Autologging: what scikit-learn, XGBoost, LightGBM, PyTorch Lightning, Hugging Face
Transformers, TensorBoard and Optuna already know, recorded without ``log`` calls.

    import cairn

    cairn.autolog()  # or nothing at all under `cairn run`
    model = RandomForestClassifier().fit(X, y)  # params, training score, the model

Each framework's module (``cairn.integrations.sklearn``, ...) imports its framework inside;
``cairn.integrations.lightning.CairnLogger``, ``cairn.integrations.optuna.CairnCallback`` (and
``track(study)``) and ``cairn.integrations.transformers.CairnCallback`` (``report_to="cairn"``)
are also there to use by hand. Names are imported on first use (module ``__getattr__``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cairn.core.lazy import lazy_attributes

if TYPE_CHECKING:
    from cairn.integrations._training import failures
    from cairn.integrations.frameworks import FRAMEWORKS, Framework, autolog, autolog_status

_LAZY: dict[str, str] = {
    "FRAMEWORKS": "cairn.integrations.frameworks",
    "Framework": "cairn.integrations.frameworks",
    "autolog": "cairn.integrations.frameworks",
    "autolog_status": "cairn.integrations.frameworks",
    "failures": "cairn.integrations._training",
}

__all__ = ["FRAMEWORKS", "Framework", "autolog", "autolog_status", "failures"]

__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, __all__)
