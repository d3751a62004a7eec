"""The ``onnx`` flavor: ONNX graphs (``onnx.ModelProto``), run with ONNX Runtime on the CPU.

An ONNX file is a protobuf graph of standard operators; loading it runs no code from the file
(``safe``). ``predict`` feeds the graph's first input with the whole table (or, when the graph
has one input per column, named like the columns, each column to its input) and returns the
first output; ``predict_proba`` returns the second output where there is one, as converted
scikit-learn classifiers have (label, probabilities). Probabilities that skl2onnx's ZipMap
turned into a list of ``{class: probability}`` dicts come back as a 2-D array, one column per
class.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cairn.core.errors import InvalidInputError
from cairn.core.lazy import import_optional

_FILE = "model.onnx"

# ONNX Runtime's input type names and the NumPy dtypes they are fed with.
_DTYPES = {
    "tensor(float)": "float32",
    "tensor(double)": "float64",
    "tensor(float16)": "float16",
    "tensor(int64)": "int64",
    "tensor(int32)": "int32",
    "tensor(int16)": "int16",
    "tensor(int8)": "int8",
    "tensor(uint8)": "uint8",
    "tensor(bool)": "bool",
    "tensor(string)": "object",
}


class OnnxFlavor:
    """Flavor of ONNX models."""

    name = "onnx"
    packages = ("onnx", "onnxruntime", "numpy")
    order = 10

    def recognizes(self, model: Any) -> bool:
        """An ``onnx.ModelProto`` (recognised by its type's module and name)."""
        cls = type(model)
        return cls.__module__.startswith("onnx") and cls.__name__ == "ModelProto"

    def save(
        self, model: Any, folder: Path, *, input_example: Any, options: dict[str, Any]
    ) -> dict[str, Any]:
        """Write ``model.onnx`` after checking the graph."""
        onnx = import_optional("onnx", "onnx", "saving an ONNX model")
        if not isinstance(model, onnx.ModelProto):
            raise InvalidInputError(
                f"the onnx flavor saves an onnx.ModelProto, not a "
                f"{type(model).__module__}.{type(model).__qualname__}"
            )
        try:
            onnx.checker.check_model(model)
        except onnx.checker.ValidationError as exc:
            # Refused now, at log time, rather than when someone first loads the version.
            raise InvalidInputError(
                f"the ONNX model is not a valid graph: {exc}; fix the conversion that made it"
            ) from exc
        onnx.save_model(model, str(folder / _FILE))
        return {"file": _FILE, "safe": True}

    def load(self, folder: Path, options: dict[str, Any]) -> Any:
        """Open an ONNX Runtime session on the CPU."""
        ort = import_optional("onnxruntime", "onnx", "loading an ONNX model")
        session = ort.InferenceSession(
            str(folder / options["file"]), providers=["CPUExecutionProvider"]
        )
        if len(session.get_outputs()) > 1:
            return _ClassifierPredictor(session)
        return _SessionPredictor(session)


class _SessionPredictor:
    """An ONNX Runtime session answering ``predict`` with the graph's first output."""

    def __init__(self, session: Any) -> None:
        self.session = session

    def predict(self, inputs: Any) -> Any:
        """The graph's first output for ``inputs``."""
        return self._run(inputs)[0]

    def _run(self, inputs: Any) -> list[Any]:
        return list(self.session.run(None, self._feed(inputs)))

    def _feed(self, inputs: Any) -> dict[str, Any]:
        """The session's inputs: one per column when the graph's inputs are the columns, else
        the whole table as the first input."""
        import numpy as np

        graph_inputs = self.session.get_inputs()
        columns = [str(c) for c in getattr(inputs, "columns", [])]
        names = [i.name for i in graph_inputs]
        if len(graph_inputs) > 1 and set(names) <= set(columns):
            feed = {}
            for spec in graph_inputs:
                values = np.asarray(inputs[spec.name].to_numpy(), dtype=_dtype(spec.type))
                # Converters give each column the shape [N, 1]; a rank-1 input takes [N].
                feed[spec.name] = values if len(spec.shape or [None]) == 1 else values[:, None]
            return feed
        first = graph_inputs[0]
        return {first.name: np.asarray(inputs, dtype=_dtype(first.type))}


class _ClassifierPredictor(_SessionPredictor):
    """A graph with a second output (probabilities) answering ``predict_proba`` too."""

    def predict_proba(self, inputs: Any) -> Any:
        """The graph's second output, as a 2-D array of one column per class."""
        import numpy as np

        probabilities = self._run(inputs)[1]
        if isinstance(probabilities, list):  # skl2onnx's ZipMap: one {class: p} per row
            if not probabilities:
                return np.empty((0, 0), dtype=np.float32)
            classes = list(probabilities[0])  # the classifier's order, as ZipMap keeps it
            # float32: what the graph computed (and what zipmap=False would have returned).
            rows = [[row[c] for c in classes] for row in probabilities]
            return np.array(rows, dtype=np.float32)
        return probabilities


def _dtype(onnx_type: str) -> str:
    """The NumPy dtype for an ONNX Runtime input type (float32 where it is not a tensor)."""
    return _DTYPES.get(onnx_type, "float32")
