"""The xgboost, lightgbm, torch and onnx flavors: save, load, identical predictions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from cairn.core.errors import InvalidInputError
from cairn.registry.flavors import all_flavors
from cairn.registry.flavors.lightgbm import LightGBMFlavor
from cairn.registry.flavors.onnx import OnnxFlavor
from cairn.registry.flavors.torch import TorchFlavor
from cairn.registry.flavors.xgboost import XGBoostFlavor


@pytest.fixture(scope="module")
def table() -> tuple[pd.DataFrame, pd.Series]:
    """200 rows of the breast cancer data: named float columns and a 0/1 target."""
    from sklearn.datasets import load_breast_cancer

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    return X.iloc[:200], y.iloc[:200]


def _rows(seed: int = 0, n: int = 64, width: int = 4) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, width)).astype(np.float32)


def _round_trip(flavor: Any, model: Any, folder: Path, example: Any, **options: Any) -> Any:
    """Save then load ``model``, checking the options are JSON and that nothing is pickled."""
    saved = flavor.save(model, folder, input_example=example, options=options)
    assert saved["safe"] is True
    return flavor.load(folder, json.loads(json.dumps(saved)))


def _other_model() -> Any:
    """A model of another framework (scikit-learn)."""
    from sklearn.linear_model import LinearRegression

    return LinearRegression().fit(np.eye(3), [0.0, 1.0, 2.0])


# xgboost ---------------------------------------------------------------------------------------


def test_xgboost_classifier_round_trip(tmp_path: Path, table: Any) -> None:
    """An XGBClassifier comes back answering the same labels and probabilities."""
    xgb = pytest.importorskip("xgboost")
    X, y = table
    model = xgb.XGBClassifier(n_estimators=8, max_depth=3).fit(X, y)
    loaded = _round_trip(XGBoostFlavor(), model, tmp_path, X[:5])
    assert type(loaded) is xgb.XGBClassifier
    assert np.array_equal(loaded.predict(X), model.predict(X))
    assert np.array_equal(loaded.predict_proba(X), model.predict_proba(X))


def test_xgboost_regressor_round_trip(tmp_path: Path) -> None:
    """An XGBRegressor on an array comes back with bit-identical predictions."""
    xgb = pytest.importorskip("xgboost")
    X = _rows()
    model = xgb.XGBRegressor(n_estimators=8, max_depth=3).fit(X, X.sum(axis=1))
    loaded = _round_trip(XGBoostFlavor(), model, tmp_path, X[:5])
    assert type(loaded) is xgb.XGBRegressor
    assert np.array_equal(loaded.predict(X), model.predict(X))


def test_xgboost_booster_round_trip(tmp_path: Path, table: Any) -> None:
    """A raw Booster comes back answering a DataFrame with the same predictions."""
    xgb = pytest.importorskip("xgboost")
    X, y = table
    booster = xgb.train(
        {"objective": "binary:logistic", "max_depth": 3}, xgb.DMatrix(X, label=y), 8
    )
    loaded = _round_trip(XGBoostFlavor(), booster, tmp_path, X[:5])
    assert np.array_equal(loaded.predict(X), booster.predict(xgb.DMatrix(X)))
    assert not hasattr(loaded, "predict_proba")


def test_xgboost_recognizes(table: Any) -> None:
    """The xgboost flavor recognises XGBoost estimators and Boosters, not other models."""
    xgb = pytest.importorskip("xgboost")
    X, y = table
    model = xgb.XGBClassifier(n_estimators=2).fit(X, y)
    flavor = XGBoostFlavor()
    assert flavor.recognizes(model)
    assert flavor.recognizes(model.get_booster())
    assert not flavor.recognizes(_other_model())


# lightgbm --------------------------------------------------------------------------------------


def test_lightgbm_binary_classifier_round_trip(tmp_path: Path, table: Any) -> None:
    """An LGBMClassifier with string labels answers the same labels and two probability
    columns, on a DataFrame with its column names."""
    lgb = pytest.importorskip("lightgbm")
    X, y = table
    labels = np.where(y == 1, "benign", "malignant")
    model = lgb.LGBMClassifier(n_estimators=10, num_leaves=7, verbose=-1).fit(X, labels)
    loaded = _round_trip(LightGBMFlavor(), model, tmp_path, X[:5])
    assert np.array_equal(loaded.predict(X), model.predict(X))
    assert loaded.predict_proba(X).shape == (len(X), 2)
    assert np.array_equal(loaded.predict_proba(X), model.predict_proba(X))


def test_lightgbm_multiclass_classifier_round_trip(tmp_path: Path) -> None:
    """A three-class LGBMClassifier answers the same labels and probabilities."""
    lgb = pytest.importorskip("lightgbm")
    X = _rows(n=150)
    y = np.digitize(X[:, 0], [-0.5, 0.5]) + 10  # classes 10, 11, 12
    model = lgb.LGBMClassifier(n_estimators=10, num_leaves=7, min_child_samples=5, verbose=-1)
    model.fit(X, y)
    loaded = _round_trip(LightGBMFlavor(), model, tmp_path, X[:5])
    assert np.array_equal(loaded.predict(X), model.predict(X))
    assert np.array_equal(loaded.predict_proba(X), model.predict_proba(X))


def test_lightgbm_regressor_round_trip(tmp_path: Path) -> None:
    """An LGBMRegressor answers the same values and has no predict_proba."""
    lgb = pytest.importorskip("lightgbm")
    X = _rows(n=120)
    model = lgb.LGBMRegressor(n_estimators=10, num_leaves=7, min_child_samples=5, verbose=-1)
    model.fit(X, X.sum(axis=1))
    loaded = _round_trip(LightGBMFlavor(), model, tmp_path, X[:5])
    assert np.array_equal(loaded.predict(X), model.predict(X))
    assert not hasattr(loaded, "predict_proba")


def test_lightgbm_booster_round_trip(tmp_path: Path, table: Any) -> None:
    """A raw lightgbm.Booster answers a DataFrame with the same predictions."""
    lgb = pytest.importorskip("lightgbm")
    X, y = table
    params = {"objective": "binary", "num_leaves": 7, "verbose": -1}
    booster = lgb.train(params, lgb.Dataset(X, label=y), num_boost_round=10)
    loaded = _round_trip(LightGBMFlavor(), booster, tmp_path, X[:5])
    assert np.array_equal(loaded.predict(X), booster.predict(X))


def test_lightgbm_recognizes(table: Any) -> None:
    """The lightgbm flavor recognises LightGBM estimators and Boosters, not other models."""
    lgb = pytest.importorskip("lightgbm")
    X, y = table
    model = lgb.LGBMClassifier(n_estimators=2, verbose=-1).fit(X, y)
    flavor = LightGBMFlavor()
    assert flavor.recognizes(model)
    assert flavor.recognizes(model.booster_)
    assert not flavor.recognizes(_other_model())


# torch -----------------------------------------------------------------------------------------


def _net() -> Any:
    """A small torch network with dropout (so eval mode matters), fixed weights."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Dropout(0.5), torch.nn.Linear(8, 2)
    )


def _eager(model: Any, X: np.ndarray) -> np.ndarray:
    torch = pytest.importorskip("torch")
    model.eval()
    with torch.inference_mode():
        return model(torch.as_tensor(X)).numpy()


def test_torch_torchscript_round_trip(tmp_path: Path) -> None:
    """A Module is saved as TorchScript and answers NumPy arrays equal to the eager model's."""
    X = _rows()
    model = _net()
    saved = TorchFlavor().save(model, tmp_path, input_example=X[:5], options={})
    assert saved["format"] == "torchscript" and saved["safe"] is True
    loaded = TorchFlavor().load(tmp_path, saved)
    out = loaded.predict(X)
    assert isinstance(out, np.ndarray)
    assert np.array_equal(out, _eager(model, X))


def test_torch_accepts_a_dataframe(tmp_path: Path) -> None:
    """A DataFrame input is fed to the module as a float32 tensor of its values."""
    X = _rows()
    frame = pd.DataFrame(X.astype(np.float64), columns=["a", "b", "c", "d"])
    model = _net()
    loaded = _round_trip(TorchFlavor(), model, tmp_path, frame[:5])
    assert np.array_equal(loaded.predict(frame), _eager(model, X))


def _unscriptable_class() -> Any:
    """A module class TorchScript cannot compile (its forward calls NumPy) but can trace."""
    torch = pytest.importorskip("torch")

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear = torch.nn.Linear(4, 2)

        def forward(self, x: Any) -> Any:
            return self.linear(x) * float(np.float32(2.0))  # NumPy: TorchScript refuses it

    return Net


def test_torch_traces_when_scripting_fails(tmp_path: Path) -> None:
    """A module TorchScript cannot compile is traced on the input example instead."""
    pytest.importorskip("torch")
    X = _rows()
    model = _unscriptable_class()()
    saved = TorchFlavor().save(model, tmp_path, input_example=X[:5], options={})
    assert saved["format"] == "torchscript"
    loaded = TorchFlavor().load(tmp_path, saved)
    assert np.array_equal(loaded.predict(X), _eager(model, X))


def test_torch_state_dict_round_trip(tmp_path: Path) -> None:
    """With torch_format='state_dict', an importable class is rebuilt and its weights read."""
    torch = pytest.importorskip("torch")
    X = _rows()
    torch.manual_seed(0)
    model = _Importable()
    saved = TorchFlavor().save(
        model, tmp_path, input_example=None, options={"torch_format": "state_dict"}
    )
    assert saved["format"] == "state_dict" and saved["safe"] is True
    assert saved["class"] == f"{__name__}:_Importable"
    assert (tmp_path / "state_dict.pt").exists()
    loaded = TorchFlavor().load(tmp_path, json.loads(json.dumps(saved)))
    assert np.array_equal(loaded.predict(X), _eager(model, X))


def test_torch_refuses_a_class_defined_in_a_function(tmp_path: Path) -> None:
    """Weights of a module whose class cannot be re-imported are refused, saying how to fix it."""
    torch = pytest.importorskip("torch")

    class Local(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear = torch.nn.Linear(4, 2)

        def forward(self, x: Any) -> Any:
            return self.linear(x)

    with pytest.raises(InvalidInputError) as caught:
        TorchFlavor().save(
            Local(), tmp_path, input_example=None, options={"torch_format": "state_dict"}
        )
    message = str(caught.value)
    assert "Local" in message and "cannot be re-imported" in message
    assert "importable module" in message and "cairn.PythonModel" in message


def test_torch_refuses_a_class_needing_arguments(tmp_path: Path) -> None:
    """Weights of a module whose class cannot be built with no arguments are refused."""
    pytest.importorskip("torch")
    with pytest.raises(InvalidInputError, match="default arguments"):
        TorchFlavor().save(
            _NeedsArguments(3), tmp_path, input_example=None, options={"torch_format": "state_dict"}
        )


def test_torch_refusal_says_why_torchscript_failed(tmp_path: Path) -> None:
    """A module TorchScript cannot compile, given no example to trace, whose class is local, is
    refused with why TorchScript failed."""
    pytest.importorskip("torch")
    with pytest.raises(InvalidInputError, match=r"torch\.jit\.script failed.*no input_example"):
        TorchFlavor().save(_unscriptable_class()(), tmp_path, input_example=None, options={})


def test_torch_recognizes() -> None:
    """The torch flavor recognises torch Modules, not other models."""
    pytest.importorskip("torch")
    flavor = TorchFlavor()
    assert flavor.recognizes(_net())
    assert not flavor.recognizes(_other_model())


# onnx ------------------------------------------------------------------------------------------


def _onnx_classifier(table: Any, *, zipmap: bool) -> tuple[Any, Any]:
    """A logistic regression on the breast cancer data and its ONNX conversion."""
    skl2onnx = pytest.importorskip("skl2onnx")
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = table
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    options = None if zipmap else {id(model): {"zipmap": False}}
    onx = skl2onnx.convert_sklearn(
        model,
        initial_types=[("input", FloatTensorType([None, X.shape[1]]))],
        options=options,
        target_opset=17,
    )
    return model, onx


def _ort_outputs(onx: Any, feed: dict[str, Any]) -> list[Any]:
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])
    return list(session.run(None, feed))


@pytest.mark.parametrize("zipmap", [False, True])
def test_onnx_classifier_round_trip(tmp_path: Path, table: Any, zipmap: bool) -> None:
    """A converted classifier answers its labels and a 2-D probability array, ZipMap or not."""
    pytest.importorskip("onnxruntime")
    X, _ = table
    model, onx = _onnx_classifier(table, zipmap=zipmap)
    loaded = _round_trip(OnnxFlavor(), onx, tmp_path, X[:5])
    labels, probabilities = _ort_outputs(onx, {"input": X.to_numpy(dtype=np.float32)})
    assert np.array_equal(loaded.predict(X), labels)
    assert np.array_equal(loaded.predict(X), model.predict(X))
    proba = loaded.predict_proba(X)
    assert isinstance(proba, np.ndarray) and proba.shape == (len(X), 2)
    expected = (
        np.array([[row[0], row[1]] for row in probabilities], dtype=np.float32)
        if zipmap
        else probabilities
    )
    assert np.array_equal(proba, expected)
    assert np.allclose(proba, model.predict_proba(X), rtol=0, atol=1e-5)


def test_onnx_one_input_per_column(tmp_path: Path) -> None:
    """A graph with one input per column is fed each DataFrame column by name."""
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Sub", ["a", "b"], ["diff"])],
        "columns",
        [
            helper.make_tensor_value_info("a", TensorProto.FLOAT, [None, 1]),
            helper.make_tensor_value_info("b", TensorProto.FLOAT, [None, 1]),
        ],
        [helper.make_tensor_value_info("diff", TensorProto.FLOAT, [None, 1])],
    )
    onx = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onx.ir_version = 8
    onnx.checker.check_model(onx)
    frame = pd.DataFrame({"b": [1.0, 2.0, 3.0], "a": [10.0, 20.0, 30.0]})
    loaded = _round_trip(OnnxFlavor(), onx, tmp_path, frame[:2])
    assert np.array_equal(loaded.predict(frame), np.array([[9.0], [18.0], [27.0]], np.float32))
    assert not hasattr(loaded, "predict_proba")


def test_onnx_refuses_an_invalid_graph(tmp_path: Path) -> None:
    """A ModelProto that is not a valid graph is refused when saved."""
    onnx = pytest.importorskip("onnx")
    with pytest.raises(InvalidInputError, match="not a valid graph"):
        OnnxFlavor().save(onnx.ModelProto(), tmp_path, input_example=None, options={})


def test_onnx_recognizes(table: Any) -> None:
    """The onnx flavor recognises an onnx.ModelProto, not other models."""
    pytest.importorskip("onnxruntime")
    _, onx = _onnx_classifier(table, zipmap=False)
    flavor = OnnxFlavor()
    assert flavor.recognizes(onx)
    assert not flavor.recognizes(_other_model())


# registration ----------------------------------------------------------------------------------


def test_flavors_are_registered_in_order() -> None:
    """all_flavors() lists onnx, then xgboost and lightgbm, then torch, then sklearn."""
    flavors = all_flavors()
    names = [f.name for f in flavors]
    order = {f.name: f.order for f in flavors}
    for name in ("onnx", "xgboost", "lightgbm", "torch", "sklearn"):
        assert name in names
    assert order["onnx"] == 10 and order["xgboost"] == order["lightgbm"] == 20
    assert order["torch"] == 30 and order["sklearn"] == 90
    assert (
        names.index("onnx")
        < names.index("lightgbm")
        < names.index("xgboost")
        < names.index("torch")
        < names.index("sklearn")
    )
    # The scikit-learn wrappers of XGBoost and LightGBM go to their own flavors, not sklearn's.
    xgb = pytest.importorskip("xgboost")
    lgb = pytest.importorskip("lightgbm")
    first = {
        type(m).__name__: next(f.name for f in flavors if f.recognizes(m))
        for m in (xgb.XGBRegressor(), lgb.LGBMRegressor())
    }
    assert first == {"XGBRegressor": "xgboost", "LGBMRegressor": "lightgbm"}


# through cairn.log_model / cairn.load_model -------------------------------------------------


def _logged(model: Any, example: Any, **kwargs: Any) -> Any:
    """``model`` logged in a fresh run and loaded back by its version URI."""
    import cairn

    with cairn.run():
        mv = cairn.log_model(model, "m", input_example=example, **kwargs)
    return cairn.load_model(f"models:/m/{mv.version}", safe=True)


def test_log_and_load_xgboost(project: Path, quiet_capture: None, table: Any) -> None:
    """An XGBClassifier logged and loaded by URI answers the same labels and probabilities."""
    xgb = pytest.importorskip("xgboost")
    X, y = table
    model = xgb.XGBClassifier(n_estimators=8, max_depth=3).fit(X, y)
    loaded = _logged(model, X[:5])
    assert loaded.flavor == "xgboost"
    assert np.array_equal(loaded.predict(X), model.predict(X))
    assert np.array_equal(loaded.predict_proba(X), model.predict_proba(X))


def test_log_and_load_lightgbm(project: Path, quiet_capture: None, table: Any) -> None:
    """An LGBMClassifier logged and loaded by URI answers the same labels and probabilities."""
    lgb = pytest.importorskip("lightgbm")
    X, y = table
    model = lgb.LGBMClassifier(n_estimators=10, num_leaves=7, verbose=-1).fit(X, y)
    loaded = _logged(model, X[:5])
    assert loaded.flavor == "lightgbm"
    assert np.array_equal(loaded.predict(X), model.predict(X))
    assert np.array_equal(loaded.predict_proba(X), model.predict_proba(X))


def test_log_and_load_torch(project: Path, quiet_capture: None) -> None:
    """A torch Module logged with an array example and loaded by URI answers the same array."""
    X = _rows()
    model = _net()
    loaded = _logged(model, X[:5])
    assert loaded.flavor == "torch"
    assert np.array_equal(loaded.predict(X), _eager(model, X))


def test_log_and_load_torch_state_dict(project: Path, quiet_capture: None) -> None:
    """serialization='state_dict' in log_model saves the weights and an importable class."""
    pytest.importorskip("torch")
    X = _rows()
    model = _Importable()
    loaded = _logged(model, X[:5], serialization="state_dict")
    assert np.array_equal(loaded.predict(X), _eager(model, X))


def test_log_and_load_onnx(project: Path, quiet_capture: None, table: Any) -> None:
    """A converted classifier logged and loaded by URI answers the same labels and
    probabilities as ONNX Runtime on the graph."""
    pytest.importorskip("onnxruntime")
    X, _ = table
    model, onx = _onnx_classifier(table, zipmap=False)
    loaded = _logged(onx, X[:5])
    assert loaded.flavor == "onnx"
    labels, probabilities = _ort_outputs(onx, {"input": X.to_numpy(dtype=np.float32)})
    assert np.array_equal(loaded.predict(X), labels)
    assert np.array_equal(loaded.predict(X), model.predict(X))
    assert np.array_equal(loaded.predict_proba(X), probabilities)


# module-level classes for the state_dict tests (importable as this test module) ---------------

try:
    import torch as _torch

    class _Importable(_torch.nn.Module):
        """A module whose class re-imports and builds with no arguments."""

        def __init__(self) -> None:
            super().__init__()
            self.linear = _torch.nn.Linear(4, 2)

        def forward(self, x: Any) -> Any:
            return self.linear(x)

    class _NeedsArguments(_torch.nn.Module):
        """A module whose constructor requires an argument."""

        def __init__(self, width: int) -> None:
            super().__init__()
            self.linear = _torch.nn.Linear(width, 2)

        def forward(self, x: Any) -> Any:
            return self.linear(x)

except ImportError:  # the torch tests skip themselves
    pass
