"""Answers as JSON-ready data, and version texts checked before they are read as numbers:
what every router of the API shares."""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import PurePath
from typing import Any

from cairn.core.errors import InvalidInputError

MAX_NUMBER_DIGITS = 19  # a version number is an int64
#: Properties that say how to ask for an object again (``customers@v2``, ``models:/churn/3``).
_NAMING_PROPERTIES = ("ref", "uri")


def plain(value: Any) -> Any:
    """``value`` as JSON-ready Python: dicts with text keys, lists, text, numbers and None."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        for name in _NAMING_PROPERTIES:
            if isinstance(getattr(type(value), name, None), property):
                out[name] = getattr(value, name)
        return out
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [plain(v) for v in value]
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return plain(value.value)
    if isinstance(value, PurePath):
        return str(value)
    if type(value).__module__ == "numpy" and hasattr(value, "tolist"):
        return plain(value.tolist())  # a NumPy scalar or array
    return str(value)


def check_version_text(text: str) -> str:
    """``text`` unless it is a version number too long to be one (``v`` then digits, or
    digits): Python refuses to read numbers of over 4300 digits, which must be a 400 too."""
    digits = text.removeprefix("v")
    if digits.isascii() and digits.isdigit() and len(digits) > MAX_NUMBER_DIGITS:
        raise InvalidInputError(
            f"{text[:24]!r}... ({len(text)} characters) is not a version number: versions count "
            "from 1 and fit in 64 bits"
        )
    return text
