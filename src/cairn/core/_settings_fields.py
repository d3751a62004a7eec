"""Checking and converting setting values, with pydantic's lax rules and messages.

The settings were a pydantic-settings model; building them is on every training script's
start, where pydantic cost ~0.3 s. These few converters keep its behaviour for the types the
settings use: strings stay strings, numbers and booleans are read from strings as pydantic
reads them (``"false"``, ``" 3 "``, ``"1e-2"``), and each problem is reported with its
location and pydantic's wording, all problems at once.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: A list of (location, message) pairs, filled by the checks.
Problems = list[tuple[str, str]]

_TRUE = {"1", "on", "t", "true", "y", "yes"}
_FALSE = {"0", "off", "f", "false", "n", "no"}
_INT_TEXT = re.compile(r"[+-]?\d(_?\d)*(\.0*)?")
_FLOAT_TEXT = re.compile(
    r"[+-]?(\d(_?\d)*(\.(\d(_?\d)*)?)?|\.\d(_?\d)*)([eE][+-]?\d(_?\d)*)?|[+-]?(inf|infinity|nan)",
    re.IGNORECASE,
)


class Invalid(ValueError):
    """A value a setting cannot take; the message is pydantic's."""


@dataclass(frozen=True)
class FieldSpec:
    """How one setting is checked: its converter, default and whether None is allowed."""

    convert: Callable[[Any], Any]
    default: Callable[[], Any]
    nullable: bool = False
    description: str = ""


def to_str(value: Any) -> str:
    """A string, as given."""
    if isinstance(value, str):
        return value
    raise Invalid("Input should be a valid string")


def to_path(value: Any) -> Path:
    """A path from a string or a path."""
    if isinstance(value, (str, os.PathLike)):
        return Path(value)
    raise Invalid("Input is not a valid path for <class 'pathlib.Path'>")


def to_bool(value: Any) -> bool:
    """A boolean from a boolean, 0 or 1, or words such as ``true``, ``off``, ``yes``."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        if value in (0, 1):
            return bool(value)
        raise Invalid("Input should be a valid boolean, unable to interpret input")
    if isinstance(value, str):
        word = value.lower()  # pydantic strips no spaces here
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
        raise Invalid("Input should be a valid boolean, unable to interpret input")
    raise Invalid("Input should be a valid boolean")


def to_int(value: Any) -> int:
    """An integer from an integer, a whole float, or the text of either."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer():
            return int(value)
        if math.isfinite(value):
            raise Invalid("Input should be a valid integer, got a number with a fractional part")
        raise Invalid("Input should be a finite number")
    if isinstance(value, str):
        text = value.strip()
        if _INT_TEXT.fullmatch(text):
            return int(text.split(".")[0])
        raise Invalid("Input should be a valid integer, unable to parse string as an integer")
    raise Invalid("Input should be a valid integer")


def to_float(value: Any) -> float:
    """A float from a number or its text (``inf`` and ``nan`` included, as pydantic)."""
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        if _FLOAT_TEXT.fullmatch(text):
            return float(text)
        raise Invalid("Input should be a valid number, unable to parse string as a number")
    raise Invalid("Input should be a valid number")


def to_dict(value: Any) -> dict[str, Any]:
    """A (shallow) copy of a mapping."""
    if isinstance(value, Mapping):
        return dict(value)
    raise Invalid("Input should be a valid dictionary")


def literal(*choices: str) -> Callable[[Any], str]:
    """One of ``choices``, exactly."""
    quoted = [repr(c) for c in choices]
    message = "Input should be " + (
        f"{', '.join(quoted[:-1])} or {quoted[-1]}" if len(quoted) > 1 else quoted[0]
    )

    def convert(value: Any) -> str:
        if isinstance(value, str) and value in choices:
            return value
        raise Invalid(message)

    return convert


def bounded(
    convert: Callable[[Any], Any],
    *,
    gt: float | None = None,
    ge: float | None = None,
    le: float | None = None,
) -> Callable[[Any], Any]:
    """``convert``, then the bounds pydantic's ``Field(gt=, ge=, le=)`` would check."""

    def check(value: Any) -> Any:
        number = convert(value)
        # pydantic checks the upper bound first (it is the one ``nan`` is said to fail)
        if le is not None and not number <= le:
            raise Invalid(f"Input should be less than or equal to {le}")
        if gt is not None and not number > gt:
            raise Invalid(f"Input should be greater than {gt}")
        if ge is not None and not number >= ge:
            raise Invalid(f"Input should be greater than or equal to {ge}")
        return number

    return check


def check_model(
    specs: Mapping[str, FieldSpec], values: Mapping[Any, Any], loc: str, problems: Problems
) -> dict[str, Any]:
    """Convert ``values`` by ``specs`` (defaults for those missing); unknown keys and bad
    values are added to ``problems`` under ``loc``."""
    out: dict[str, Any] = {}
    for key in values:
        if key not in specs:
            problems.append((_join(loc, key), "Extra inputs are not permitted"))
    for name, spec in specs.items():
        if name not in values:
            out[name] = spec.default()
            continue
        value = values[name]
        if value is None and spec.nullable:
            out[name] = None
            continue
        try:
            out[name] = spec.convert(value)
        except Invalid as exc:
            problems.append((_join(loc, name), str(exc)))
        except _NestedProblems as exc:
            problems.extend(exc.problems)
        except ValueError as exc:  # a custom check's own words
            problems.append((_join(loc, name), f"Value error, {exc}"))
    return out


class _NestedProblems(Exception):
    def __init__(self, problems: Problems) -> None:
        super().__init__(problems)
        self.problems = problems


def nested(
    specs: Mapping[str, FieldSpec], loc: str, build: Callable[..., Any], kind: type
) -> Callable[[Any], Any]:
    """A converter for a group of settings given as a mapping (or as ``kind`` itself)."""

    def convert(value: Any) -> Any:
        if isinstance(value, kind):
            return value
        if not isinstance(value, Mapping):
            raise Invalid(f"Input should be a valid dictionary or instance of {kind.__name__}")
        problems: Problems = []
        values = check_model(specs, value, loc, problems)
        if problems:
            raise _NestedProblems(problems)
        return build(**values)

    return convert


def _join(loc: str, key: Any) -> str:
    return f"{loc}.{key}" if loc else str(key)
