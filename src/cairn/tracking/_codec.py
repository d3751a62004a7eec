"""Encoding of params and metric chunks for the store."""

from __future__ import annotations

import json
import math
import sys
from array import array
from collections.abc import Mapping
from typing import Any

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
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInputError(
            f"{what} {text[:40]!r} is not valid Unicode text (it holds a lone surrogate); "
            "decode it properly before logging it"
        ) from None
    if "\x00" in text:
        raise InvalidInputError(
            f"{what} {text[:40]!r} holds a NUL character, which stores cannot keep"
        )
    return text


def _plain(value: Any) -> Any:
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "ndim", 0) == 0 and type(value).__module__ != "builtins":
        return item()  # NumPy / PyTorch scalars
    return value


def encode_param(value: Any) -> tuple[str, float | None, bool]:
    """Return (display text, numeric view, is_json) for a param value."""
    value = _plain(value)
    if isinstance(value, str):
        check_text(value, "param value")
        return value, _numeric(value), False
    if isinstance(value, bool) or value is None:
        return json.dumps(value), None, True
    if isinstance(value, (int, float)):
        number = float(value)
        return json.dumps(value), number if math.isfinite(number) else None, True
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value, default=str), None, True
    return str(value), None, False


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
    """Return ``value`` as a float, or raise naming the metric."""
    value = _plain(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        try:
            if isinstance(value, (str, bytes, bool)):
                raise TypeError
            return float(value)
        except (TypeError, ValueError):
            raise InvalidInputError(
                f"metric {key!r} must be a number, got {type(value).__name__} {value!r:.60}; "
                "log text with cairn.log_text or cairn.set_tags"
            ) from None
    return float(value)


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
