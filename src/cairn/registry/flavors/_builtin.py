"""The built-in flavors, registered through the same hook third-party flavors use."""

from __future__ import annotations

from typing import Any

from cairn.core.hookspecs import hookimpl


@hookimpl
def cairn_model_flavors() -> list[Any]:
    """cairn's own flavors."""
    from cairn.registry.flavors.lightgbm import LightGBMFlavor
    from cairn.registry.flavors.onnx import OnnxFlavor
    from cairn.registry.flavors.pyfunc import PythonFlavor
    from cairn.registry.flavors.sklearn import SklearnFlavor
    from cairn.registry.flavors.torch import TorchFlavor
    from cairn.registry.flavors.xgboost import XGBoostFlavor

    return [
        PythonFlavor(),
        OnnxFlavor(),
        XGBoostFlavor(),
        LightGBMFlavor(),
        TorchFlavor(),
        SklearnFlavor(),
    ]
