"""Reading a prediction request: the JSON body into rows, each field checked against the
model's signature, so a bad row fails only its own request (with a message per field) before
it ever joins a batch. A number must also fit the column's dtype: 1e300 is a finite JSON
number, but as float32 it is infinity, which the model would refuse (or worse, score)."""

from __future__ import annotations

import functools
import math
from typing import Any

from cairn.core.errors import InvalidInputError
from cairn.registry import Signature


class RequestError(InvalidInputError):
    """A request that cannot be answered: the HTTP status and one message per problem."""

    def __init__(self, status: int, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.status = status
        self.problems = problems


MAX_PROBLEMS = 20  # messages returned for one request (the rest are counted)


def parse_body(body: bytes, max_bytes: int) -> dict[str, Any]:
    """The JSON object of a request body, refusing oversized and malformed bodies."""
    import orjson

    if len(body) > max_bytes:
        raise RequestError(
            413, [f"the body is {len(body):,} bytes; the limit is {max_bytes:,} (send fewer rows)"]
        )
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise RequestError(400, [f"the body is not valid JSON: {exc}"]) from None
    if not isinstance(data, dict):
        raise RequestError(
            422,
            [
                "the body must be a JSON object: "
                '{"inputs": [{...}, ...]} or {"dataframe_split": ...}'
            ],
        )
    return data


def rows_of(data: dict[str, Any]) -> list[Any]:
    """The rows a request holds: ``inputs`` (records, one record, or a dict of columns) or
    ``dataframe_split`` (``columns`` and ``data``)."""
    if "inputs" in data:
        inputs = data["inputs"]
        if isinstance(inputs, dict):
            values = list(inputs.values())
            if values and all(isinstance(v, list) for v in values):
                lengths = {len(v) for v in values}
                if len(lengths) != 1:
                    raise RequestError(422, ["inputs: every column must have as many values"])
                names = list(inputs)
                return [dict(zip(names, row, strict=True)) for row in zip(*values, strict=True)]
            return [inputs]
        if not isinstance(inputs, list):
            raise RequestError(422, ["inputs must be a list of records (objects) or of arrays"])
        return inputs
    if "dataframe_split" in data:
        split = data["dataframe_split"]
        if not isinstance(split, dict) or not isinstance(split.get("data"), list):
            raise RequestError(
                422,
                ["dataframe_split must be an object with 'columns' and 'data' (a list of rows)"],
            )
        columns = split.get("columns")
        if columns is None:
            return list(split["data"])
        if not isinstance(columns, list):
            raise RequestError(422, ["dataframe_split.columns must be a list of names"])
        out = []
        for i, row in enumerate(split["data"]):
            if not isinstance(row, list) or len(row) != len(columns):
                raise RequestError(
                    422, [f"dataframe_split.data[{i}] must be a list of {len(columns)} values"]
                )
            out.append(dict(zip(columns, row, strict=True)))
        return out
    raise RequestError(422, ['the body needs "inputs" (a list of records) or "dataframe_split"'])


def check_rows(signature: Signature | None, rows: list[Any], max_rows: int) -> list[Any]:
    """``rows`` if every field fits the signature; else a 422 naming each bad field."""
    if not rows:
        raise RequestError(422, ["inputs is empty: send at least one row"])
    if len(rows) > max_rows:
        raise RequestError(413, [f"{len(rows):,} rows in one request; the limit is {max_rows:,}"])
    if signature is None:
        return rows
    problems: list[str] = []
    if signature.tensor is not None:
        width = signature.tensor.shape[1] if len(signature.tensor.shape) == 2 else None
        dtype = signature.tensor.dtype
        low, high = _bounds(dtype)
        for i, row in enumerate(rows):
            if not isinstance(row, list) or (width not in (None, -1) and len(row) != width):
                problems.append(f"inputs[{i}]: expected a list of {width} numbers")
            elif not all(_is_number(v) for v in row):
                problems.append(f"inputs[{i}]: every value must be a number")
            elif not all(low <= v <= high for v in row):
                value = next(v for v in row if not low <= v <= high)
                problems.append(f"inputs[{i}]: {_out_of_range(value, dtype, low, high)}")
            if len(problems) >= MAX_PROBLEMS:
                break
        if problems:
            raise RequestError(422, problems)
        return rows
    columns = _columns(tuple((c.name, c.dtype) for c in signature.columns))
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            problems.append(f"inputs[{i}]: expected an object with the model's columns")
        else:
            for name, kind, dtype, low, high in columns:
                if name not in row:
                    problems.append(f"inputs[{i}].{name}: missing ({kind})")
                    continue
                value = row[name]
                problem = _field_problem(value, kind)
                if problem:
                    problems.append(f"inputs[{i}].{name}: {problem}")
                elif kind in _NUMERIC and value is not None and not low <= value <= high:
                    problems.append(f"inputs[{i}].{name}: {_out_of_range(value, dtype, low, high)}")
        if len(problems) >= MAX_PROBLEMS:
            problems.append("(more problems not shown)")
            break
    if problems:
        raise RequestError(422, problems)
    return rows


FLOAT32_MAX = 3.4028234663852886e38


def holds_extremes(rows: list[Any]) -> bool:
    """Whether a row holds a number beyond float32's range: valid for a float64 column, but
    many models (scikit-learn's trees, most neural networks) compute in float32 and refuse
    it, so such a request is best scored on its own."""
    for row in rows:
        values = row.values() if isinstance(row, dict) else row if isinstance(row, list) else ()
        for value in values:
            if type(value) is float and not -FLOAT32_MAX <= value <= FLOAT32_MAX:
                return True
    return False


def extreme_problems(rows: list[Any], why: str) -> RequestError:
    """A 422 naming each number beyond float32's range, for a model known to refuse them
    (``why``: the model and what it said)."""
    problems: list[str] = []
    for i, row in enumerate(rows):
        items = (
            row.items()
            if isinstance(row, dict)
            else enumerate(row)
            if isinstance(row, list)
            else ()
        )
        for key, value in items:
            if type(value) is float and not -FLOAT32_MAX <= value <= FLOAT32_MAX:
                where = f"inputs[{i}].{key}" if isinstance(row, dict) else f"inputs[{i}][{key}]"
                problems.append(
                    f"{where}: {_shown(value)} is beyond float32's range "
                    f"(-{FLOAT32_MAX:.8g} to {FLOAT32_MAX:.8g}), which {why}; send a value "
                    "in that range"
                )
        if len(problems) >= MAX_PROBLEMS:
            break
    return RequestError(422, problems)


_NUMERIC = ("float", "integer")
_Column = tuple[str, str, str, float, float]  # name, kind, dtype, lowest and highest value


@functools.lru_cache(maxsize=64)
def _columns(specs: tuple[tuple[str, str], ...]) -> tuple[_Column, ...]:
    """Each column's name, kind, dtype and range (worked out once per signature)."""
    from cairn.registry import ColumnSpec

    out = []
    for name, dtype in specs:
        kind = ColumnSpec(name, dtype).kind
        out.append((name, kind, dtype, *_bounds(dtype)))
    return tuple(out)


@functools.lru_cache(maxsize=64)
def _bounds(dtype: str) -> tuple[float, float]:
    """The lowest and highest finite value ``dtype`` holds (unbounded for non-numbers)."""
    import numpy as np

    try:
        kind = np.dtype(dtype).kind
    except TypeError:
        return -math.inf, math.inf
    if kind == "f":
        highest = float(np.finfo(dtype).max)
        return -highest, highest
    if kind in "iu":
        info = np.iinfo(dtype)
        return int(info.min), int(info.max)
    return -math.inf, math.inf


def _out_of_range(value: Any, dtype: str, low: float, high: float) -> str:
    """Why ``value`` is refused: the dtype's range, and what to do."""
    return (
        f"{_shown(value)} is outside the range of {dtype} ({low:.8g} to {high:.8g}), the "
        "model's input type for it; send a value in that range"
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _field_problem(value: Any, kind: str) -> str | None:
    if kind == "float":
        if value is None or _is_number(value):
            return None
        return f"expected a number, got {_shown(value)}"
    if kind == "integer":
        if isinstance(value, int) and not isinstance(value, bool):
            return None
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            return None
        return f"expected a whole number, got {_shown(value)}"
    if kind == "bool":
        return None if isinstance(value, bool) else f"expected true or false, got {_shown(value)}"
    if kind == "datetime":
        return (
            None if isinstance(value, str) else f"expected a timestamp string, got {_shown(value)}"
        )
    if value is None or isinstance(value, str):
        return None
    return f"expected text, got {_shown(value)}"


def _shown(value: Any) -> str:
    """A value as an error names it: numbers as they are, anything else by its type and size
    only (a 422 answer must not echo personal data, e.g. an email sent as a number)."""
    if value is None or isinstance(value, bool) or _is_number(value):
        text = repr(value)
        return text if len(text) <= 40 else text[:37] + "..."
    if isinstance(value, str):
        return f"text ({len(value)} characters)"
    if isinstance(value, list):
        return f"a list of {len(value)} values"
    if isinstance(value, dict):
        return f"an object with {len(value)} fields"
    return type(value).__name__
