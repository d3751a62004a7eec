"""Encoding of params and metric chunks for the store."""

from __future__ import annotations

import json
import math
import sys
from array import array
from collections.abc import Mapping
from typing import Any

from cairn.core import checks
from cairn.core.errors import InvalidInputError

MAX_KEY_LENGTH = 500


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested mappings into dotted keys: ``{"optim": {"lr": 1}}`` → ``{"optim.lr": 1}``."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{check_key(key, 'param')}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def check_key(key: Any, kind: str) -> str:
    """Return ``key`` if it is a usable name for a param, metric or tag."""
    if not isinstance(key, str) or not key.strip():
        raise InvalidInputError(f"{kind} names must be non-empty strings, got {key!r}")
    check_text(key, f"{kind} name")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidInputError(
            f"{kind} name {key[:40]!r}... is {len(key)} characters; the limit is {MAX_KEY_LENGTH}"
        )
    return key


def check_text(text: str, what: str) -> str:
    """Return ``text`` if stores can hold it (valid Unicode without NUL), else raise."""
    return checks.check_text(text, what)


def tag_values(tags: Mapping[Any, Any]) -> dict[str, str]:
    """Tags as the store keeps them: checked keys, values as checked text."""
    return {check_key(k, "tag"): check_text(str(v), "tag value") for k, v in tags.items()}


def _plain(value: Any) -> Any:
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "ndim", 0) == 0 and type(value).__module__ != "builtins":
        return item()  # NumPy / PyTorch scalars
    return value


def encode_param(value: Any, key: str = "") -> tuple[str, float | None, bool]:
    """Return (display text, numeric view, is_json) for a param value."""
    value = _plain(value)
    if isinstance(value, str):
        check_text(value, "param value")
        return value, _numeric(value), False
    if isinstance(value, bool) or value is None:
        return json.dumps(value), None, True
    if isinstance(value, (int, float)):
        # An int past float64 (10**400) has no numeric view for filters, and its text may pass
        # what json can write: refused here, at the call, rather than at the store.
        number = checks.check_number(value, f"param {key!r}" if key else "param value")
        return json.dumps(value), number if math.isfinite(number) else None, True
    if isinstance(value, (list, tuple, dict)):
        try:
            return json.dumps(value, default=str), None, True
        except (ValueError, RecursionError) as exc:  # an int of over 4,300 digits, a cycle
            raise InvalidInputError(
                f"param {key!r} cannot be written as JSON ({exc}); log a simpler value"
            ) from None
    return check_text(str(value), f"param {key!r}" if key else "param value"), None, False


_JSON_WORDS: dict[str, Any] = {"true": True, "false": False, "null": None}


def decode_param(text: str, is_json: bool) -> Any:
    """Inverse of ``encode_param`` (tuples come back as lists)."""
    if not is_json:
        return text
    if text in _JSON_WORDS:
        return _JSON_WORDS[text]
    try:  # numbers are most params: skip the JSON parser for them
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)  # also NaN and Infinity, as JSON writes them
    except ValueError:
        return json.loads(text)


def _numeric(text: str) -> float | None:
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def metric_value(key: str, value: Any) -> float:
    """Return ``value`` as a float64, or raise naming the metric."""
    value = _plain(value)
    if isinstance(value, (str, bytes, bool)) or not hasattr(value, "__float__"):
        raise InvalidInputError(
            f"metric {key!r} must be a number, got {type(value).__name__} {value!r:.60}; "
            "log text with cairn.log_text or cairn.set_tags"
        )
    return checks.check_number(value, f"metric {key!r}")


_SWAP = sys.byteorder != "little"


def pack(typecode: str, values: list[int] | list[float]) -> bytes:
    """Pack numbers as a little-endian array of int64 (``q``) or float64 (``d``)."""
    packed = array(typecode, values)
    if _SWAP:
        packed.byteswap()
    return packed.tobytes()


def unpack(typecode: str, data: bytes) -> list[Any]:
    """Inverse of ``pack``."""
    packed = array(typecode)
    packed.frombytes(data)
    if _SWAP:
        packed.byteswap()
    return packed.tolist()
