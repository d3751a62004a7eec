"""Model signatures: the input columns (or tensor) a model takes and what it returns.

Inferred from an input example and the model's prediction on it, stored with the version as
JSON, and enforced before every prediction: missing columns and values of the wrong type are
refused with one message per problem; safe conversions (int to float, integral floats to int)
are made; extra columns are dropped and the rest put in the signature's order.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from cairn.core.checks import show
from cairn.core.errors import InvalidInputError, SignatureError

_SHOWN = 8  # columns named in a message before "and N more"
_KINDS = {"b": "bool", "i": "integer", "u": "integer", "f": "float", "M": "datetime"}


@dataclass(frozen=True)
class ColumnSpec:
    """One input column: its name and dtype (a NumPy/pandas dtype name)."""

    name: str
    dtype: str

    @property
    def kind(self) -> str:
        """bool, integer, float, datetime or string."""
        return _kind_of_name(self.dtype)


@dataclass(frozen=True)
class TensorSpec:
    """An array input or output: dtype and shape (-1 for a free dimension)."""

    dtype: str
    shape: tuple[int, ...]


@dataclass(frozen=True)
class Signature:
    """What a model takes (``columns`` or ``tensor``) and returns (``outputs``)."""

    columns: list[ColumnSpec] = field(default_factory=list)
    tensor: TensorSpec | None = None
    outputs: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form stored with the model version."""
        inputs: dict[str, Any]
        if self.tensor is not None:
            inputs = {"type": "tensor", "dtype": self.tensor.dtype, "shape": self.tensor.shape}
        else:
            inputs = {
                "type": "columns",
                "columns": [{"name": c.name, "dtype": c.dtype} for c in self.columns],
            }
        return {"inputs": inputs, "outputs": self.outputs}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Signature:
        """Read the JSON form back."""
        inputs = data.get("inputs") or {}
        outputs = data.get("outputs")
        if inputs.get("type") == "tensor":
            tensor = TensorSpec(str(inputs["dtype"]), tuple(int(d) for d in inputs["shape"]))
            return cls(tensor=tensor, outputs=outputs)
        columns = [ColumnSpec(str(c["name"]), str(c["dtype"])) for c in inputs.get("columns", [])]
        return cls(columns=columns, outputs=outputs)

    def describe(self) -> str:
        """One line: the inputs the model expects."""
        if self.tensor is not None:
            return f"an array of {self.tensor.dtype} with shape {list(self.tensor.shape)}"
        shown = ", ".join(f"{c.name} ({c.dtype})" for c in self.columns[:_SHOWN])
        more = len(self.columns) - _SHOWN
        return f"{len(self.columns)} columns: {shown}" + (f" and {more} more" if more > 0 else "")


def infer_signature(input_example: Any, output: Any = None) -> Signature:
    """Infer a signature from an input example (a DataFrame, records, a dict of columns or an
    array) and, when given, the model's output on it."""
    import numpy as np

    outputs = _describe_output(output) if output is not None else None
    if _is_array(input_example):
        array = np.asarray(input_example)
        shape = (-1, *array.shape[1:]) if array.ndim else ()
        return Signature(tensor=TensorSpec(array.dtype.name, shape), outputs=outputs)
    frame = to_frame(input_example)
    columns = [ColumnSpec(str(name), _dtype_name(frame[name])) for name in frame.columns]
    return Signature(columns=columns, outputs=outputs)


def signature_changes(a: Signature | None, b: Signature | None) -> list[str]:
    """One sentence per difference from signature ``a`` to ``b`` (inputs, then output); an
    empty list when they are the same."""
    for value, what in ((a, "a"), (b, "b")):
        if value is not None and not isinstance(value, Signature):
            raise InvalidInputError(
                f"{what} must be a Signature or None, got {type(value).__name__} {show(value)}; "
                "read a version's with Signature.from_dict(version.signature)"
            )
    if a is None:
        return [] if b is None else [f"the signature was added: it takes {b.describe()}"]
    if b is None:
        return [f"the signature was removed (it took {a.describe()})"]
    changes: list[str] = []
    if (a.tensor is None) != (b.tensor is None):
        changes.append(f"inputs changed from {a.describe()} to {b.describe()}")
    elif a.tensor is not None and b.tensor is not None:
        if a.tensor.dtype != b.tensor.dtype:
            changes.append(f"input array dtype changed: {a.tensor.dtype} -> {b.tensor.dtype}")
        if tuple(a.tensor.shape) != tuple(b.tensor.shape):
            changes.append(
                f"input array shape changed: {list(a.tensor.shape)} -> {list(b.tensor.shape)}"
            )
    else:
        before = {c.name: c.dtype for c in a.columns}
        after = {c.name: c.dtype for c in b.columns}
        changes.extend(
            f"input column {name!r} ({dtype}) removed"
            for name, dtype in before.items()
            if name not in after
        )
        changes.extend(
            f"input column {name!r} ({dtype}) added"
            for name, dtype in after.items()
            if name not in before
        )
        changes.extend(
            f"input column {name!r} dtype changed: {dtype} -> {after[name]}"
            for name, dtype in before.items()
            if name in after and after[name] != dtype
        )
    if _plain(a.outputs) != _plain(b.outputs):
        changes.append(
            f"output changed: {_describe_outputs(a.outputs)} -> {_describe_outputs(b.outputs)}"
        )
    return changes


def _plain(value: Any) -> Any:
    """``value`` with tuples as lists, so a read-back signature equals a fresh one."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _describe_outputs(outputs: Any) -> str:
    """A signature's output in words: ``none recorded``, ``float64 [-1]``, ``2 columns: ...``."""
    if not outputs:
        return "none recorded"
    if not isinstance(outputs, dict):
        return show(outputs, 80)
    if outputs.get("type") == "tensor":
        return f"{outputs.get('dtype')} {list(outputs.get('shape') or [])}"
    if outputs.get("type") == "columns":
        columns = outputs.get("columns") or []
        shown = ", ".join(f"{c.get('name')} ({c.get('dtype')})" for c in columns[:_SHOWN])
        more = len(columns) - _SHOWN
        return f"{len(columns)} columns: {shown}" + (f" and {more} more" if more > 0 else "")
    return show(outputs, 80)


def enforce(signature: Signature, data: Any) -> Any:
    """Check ``data`` against the signature; return it converted (a DataFrame or an array)."""
    if signature.tensor is not None:
        return _enforce_tensor(signature.tensor, data)
    frame = to_frame(data, [c.name for c in signature.columns])
    problems: list[str] = []
    missing = [c.name for c in signature.columns if c.name not in frame.columns]
    if missing:
        problems.extend(f"missing column {name!r} ({_spec(signature, name)})" for name in missing)
    converted = {}
    for column in signature.columns:
        if column.name in missing:
            continue
        value, problem = _convert(frame[column.name], column)
        if problem:
            problems.append(problem)
        converted[column.name] = value
    if problems:
        raise SignatureError(
            "the input does not match the model's signature: "
            + "; ".join(problems)
            + f". The model expects: {signature.describe()}",
            problems,
        )
    import pandas as pd

    return pd.DataFrame(converted, index=frame.index)


def to_frame(data: Any, names: list[str] | None = None) -> Any:
    """``data`` as a pandas DataFrame: a DataFrame, records, a dict of columns, an Arrow or
    polars table, or a 2-D array whose width equals ``names``."""
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, dict):
        if all(not isinstance(v, (list, tuple)) and not _is_array(v) for v in data.values()):
            return pd.DataFrame([data])
        return pd.DataFrame(data)
    if isinstance(data, (list, tuple)) and data and all(isinstance(r, dict) for r in data):
        return pd.DataFrame(list(data))
    if hasattr(data, "to_pandas") and callable(data.to_pandas):  # Arrow or polars
        return data.to_pandas()
    if isinstance(data, pd.Series):
        return data.to_frame()
    if _is_array(data) or isinstance(data, (list, tuple)):
        import numpy as np

        array = np.asarray(data)
        if array.ndim == 1 and names is not None and len(names) == 1:
            array = array.reshape(-1, 1)
        if array.ndim == 2 and (names is None or array.shape[1] == len(names)):
            return pd.DataFrame(array, columns=names)
        expected = f"{len(names)} columns" if names is not None else "2 dimensions"
        raise SignatureError(
            f"an array of shape {list(array.shape)} cannot be read as a table of {expected}; "
            "pass a DataFrame or records with the column names",
            [f"shape {list(array.shape)}"],
        )
    raise SignatureError(
        f"cannot read a {type(data).__name__} as model input; pass a DataFrame, a list of "
        "records, a dict of columns or an array",
        [f"unsupported input type {type(data).__name__}"],
    )


def _is_array(value: Any) -> bool:
    return hasattr(value, "__array__") and not hasattr(value, "columns")


def _dtype_name(series: Any) -> str:
    dtype = series.dtype
    kind = getattr(dtype, "kind", "O")
    if kind in _KINDS:
        return str(dtype.name)
    return "string"


@functools.lru_cache(maxsize=256)
def _kind_of_name(dtype: str) -> str:
    import numpy as np

    try:
        kind = np.dtype(dtype).kind
    except TypeError:
        return "string"
    return _KINDS.get(kind, "string")


def _spec(signature: Signature, name: str) -> str:
    return next(c.dtype for c in signature.columns if c.name == name)


def _convert(series: Any, column: ColumnSpec) -> tuple[Any, str | None]:
    """The column converted to the spec's dtype, or the problem that prevents it."""
    import numpy as np
    import pandas as pd

    kind = getattr(series.dtype, "kind", "O")
    want = column.kind

    def bad(what: str) -> tuple[Any, str]:
        return series, f"column {column.name!r} must hold {what} ({column.dtype}){_example(series)}"

    if want == "float":
        if kind in "biuf":
            return series.astype(column.dtype), None
        numeric = pd.to_numeric(series, errors="coerce")
        if numeric.isna().sum() == series.isna().sum() and kind == "O" and _all_numbers(series):
            return numeric.astype(column.dtype), None
        return bad("numbers")
    if want == "integer":
        if kind in "iu":
            return series.astype(column.dtype), None
        if kind == "f" and series.notna().all() and bool(np.all(np.mod(series, 1) == 0)):
            return series.astype(column.dtype), None
        return bad("whole numbers without missing values")
    if want == "bool":
        return (series, None) if kind == "b" else bad("true/false values")
    if want == "datetime":
        return (series, None) if kind == "M" else bad("timestamps")
    if kind in "biufM":
        return bad("text")
    odd = series[series.notna() & ~series.map(lambda v: isinstance(v, str))]
    if len(odd):
        return bad("text")
    return series, None


def _all_numbers(series: Any) -> bool:
    return bool(
        series.dropna().map(lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)).all()
    )


def _example(series: Any) -> str:
    """Where the first value is: ``; row 3 holds 'abc' (str)``."""
    present = series.dropna()
    if len(present) == 0:
        return "; it holds only missing values"
    index, value = next(iter(present.items()))
    return f"; row {index} holds {repr(value)[:40]} ({type(value).__name__})"


def _enforce_tensor(spec: TensorSpec, data: Any) -> Any:
    import numpy as np

    if hasattr(data, "to_numpy") and callable(data.to_numpy):
        data = data.to_numpy()
    array = np.asarray(data)
    want = np.dtype(spec.dtype)
    problems: list[str] = []
    if array.ndim != len(spec.shape) or any(
        s not in (-1, a) for a, s in zip(array.shape, spec.shape, strict=False)
    ):
        problems.append(f"shape {list(array.shape)} does not match {list(spec.shape)}")
    if not np.can_cast(array.dtype, want, casting="same_kind") and not (
        array.dtype.kind in "iub" and want.kind == "f"
    ):
        problems.append(f"dtype {array.dtype.name} cannot be converted to {want.name}")
    if problems:
        raise SignatureError(
            "the input does not match the model's signature: "
            + "; ".join(problems)
            + f". The model expects {spec.dtype} with shape {list(spec.shape)} (-1: any size)",
            problems,
        )
    return array.astype(want, copy=False)


def _describe_output(output: Any) -> dict[str, Any]:
    import numpy as np

    if hasattr(output, "columns") and hasattr(output, "dtypes"):
        return {
            "type": "columns",
            "columns": [{"name": str(n), "dtype": _dtype_name(output[n])} for n in output.columns],
        }
    array = np.asarray(output)
    dtype = array.dtype.name if array.dtype.kind in "biufM" else "string"
    return {"type": "tensor", "dtype": dtype, "shape": [-1, *array.shape[1:]]}
