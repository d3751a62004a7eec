"""Argument checks at the entry of public functions.

A value the stores cannot keep (a NUL character, a lone surrogate, an integer past int64, a
number past float64, text longer than its column) would otherwise reach the database driver
and come back as a raw, store-specific exception (``psycopg.DataError`` on PostgreSQL, silent
acceptance on SQLite), or break a later operation half-way. Each function here returns the
value when it is acceptable and raises ``InvalidInputError`` naming the argument, what is
wrong and how to fix it, so both stores refuse the same input with the same message.

Standard library only, and light (pathlib is imported by the one check that needs it): the
CLI's lean paths import this module.
"""

from __future__ import annotations

import math
import operator
import os
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from cairn.core.errors import InvalidInputError

if TYPE_CHECKING:
    from pathlib import Path

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


def show(value: Any, width: int = 40) -> str:
    """A short ``repr`` of ``value`` for messages (long text is cut, with its length)."""
    if isinstance(value, str) and len(value) > width:
        return f"{value[:width]!r}... ({len(value)} characters)"
    text = repr(value)
    return text if len(text) <= width + 2 else f"{text[:width]}..."


def _kind(value: Any) -> str:
    return "None" if value is None else type(value).__name__


def check_text(value: Any, what: str, *, empty: bool = True, max_length: int | None = None) -> str:
    """Return ``value`` if it is a ``str`` the stores can keep, else raise.

    ``empty=False`` also refuses text that is empty or only blanks; ``max_length`` is the
    width of the column that will hold it.
    """
    if not isinstance(value, str):
        raise InvalidInputError(f"{what} must be text (a str), got {_kind(value)} {show(value)}")
    if not empty and not value.strip():
        raise InvalidInputError(f"{what} must not be empty; give it at least one character")
    if "\x00" in value:
        raise InvalidInputError(
            f"{what} {show(value)} holds a NUL character ('\\x00'), which the stores cannot "
            "keep; remove it"
        )
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInputError(
            f"{what} {show(value)} is not valid Unicode (it holds a lone surrogate such as "
            "'\\ud800'); decode the bytes it came from properly, e.g. with errors='replace'"
        ) from None
    if max_length is not None and len(value) > max_length:
        raise InvalidInputError(
            f"{what} {show(value)} is {len(value)} characters long; the limit is {max_length}, "
            "so shorten it"
        )
    return value


def check_name(value: Any, what: str, max_length: int | None = 255) -> str:
    """Return ``value`` if it is a non-empty, storable name of at most ``max_length``."""
    return check_text(value, what, empty=False, max_length=max_length)


def check_optional_text(
    value: Any, what: str, *, empty: bool = True, max_length: int | None = None
) -> str | None:
    """``check_text`` that also accepts None (the argument was not given)."""
    if value is None:
        return None
    return check_text(value, what, empty=empty, max_length=max_length)


def check_texts(
    value: Any, what: str, *, empty: bool = True, max_length: int | None = None
) -> list[str]:
    """Return one text or an iterable of texts as a list, each checked with ``check_text``."""
    if isinstance(value, str):
        return [check_text(value, what, empty=empty, max_length=max_length)]
    if isinstance(value, (bytes, Mapping)) or not isinstance(value, Iterable):
        raise InvalidInputError(
            f"{what} must be text or a list of texts, got {_kind(value)} {show(value)}"
        )
    return [check_text(item, what, empty=empty, max_length=max_length) for item in value]


def check_int(
    value: Any, what: str, *, minimum: int | None = None, maximum: int | None = None
) -> int:
    """Return ``value`` as an ``int`` if it is an integer the stores can keep (int64), else raise.

    NumPy integers are accepted; booleans and floats are not.
    """
    if isinstance(value, bool):
        raise InvalidInputError(f"{what} must be an integer, got the boolean {value!r}")
    try:
        number = operator.index(value)
    except TypeError:
        raise InvalidInputError(
            f"{what} must be an integer, got {_kind(value)} {show(value)}"
        ) from None
    low = INT64_MIN if minimum is None else max(minimum, INT64_MIN)
    high = INT64_MAX if maximum is None else min(maximum, INT64_MAX)
    if not low <= number <= high:
        raise InvalidInputError(
            f"{what} {show(number)} is out of range; it must be between {low} and {high}"
        )
    return number


def check_optional_int(
    value: Any, what: str, *, minimum: int | None = None, maximum: int | None = None
) -> int | None:
    """``check_int`` that also accepts None (the argument was not given)."""
    if value is None:
        return None
    return check_int(value, what, minimum=minimum, maximum=maximum)


def check_number(value: Any, what: str, *, finite: bool = False) -> float:
    """Return ``value`` as a float64 if it is a real number that fits one, else raise.

    NaN and infinities pass unless ``finite``; an integer past float64's range (``10**400``)
    never does, since the stores keep float64.
    """
    if isinstance(value, (bool, str, bytes)):
        raise InvalidInputError(f"{what} must be a number, got {_kind(value)} {show(value)}")
    try:
        number = float(value)
    except OverflowError:
        raise InvalidInputError(
            f"{what} {show(value)} is too large for a 64-bit float (the limit is about "
            "1.8e308); scale it down, or store it as text"
        ) from None
    except (TypeError, ValueError):
        raise InvalidInputError(
            f"{what} must be a number, got {_kind(value)} {show(value)}"
        ) from None
    if finite and not math.isfinite(number):
        raise InvalidInputError(f"{what} must be a finite number, got {number!r}")
    return number


def check_bool(value: Any, what: str) -> bool:
    """Return ``value`` if it is True or False, else raise."""
    if not isinstance(value, bool):
        raise InvalidInputError(f"{what} must be True or False, got {_kind(value)} {show(value)}")
    return value


def check_mapping(value: Any, what: str) -> Mapping[Any, Any]:
    """Return ``value`` if it is a mapping (a dict), else raise."""
    if not isinstance(value, Mapping):
        raise InvalidInputError(
            f"{what} must be a mapping such as a dict, got {_kind(value)} {show(value)}"
        )
    return value


def check_optional_mapping(value: Any, what: str) -> Mapping[Any, Any] | None:
    """``check_mapping`` that also accepts None (the argument was not given)."""
    if value is None:
        return None
    return check_mapping(value, what)


def check_path(value: Any, what: str) -> Path:
    """Return ``value`` as a ``Path`` if it is a usable local path (str or path-like)."""
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if isinstance(value, bytes):
        raise InvalidInputError(f"{what} must be a str or pathlib.Path, not bytes; decode it first")
    from pathlib import Path  # imported here: the CLI's lean paths load this module

    return Path(check_text(value, what, empty=False))


def check_tags(value: Any, what: str = "tags", key_length: int = 255) -> Mapping[Any, Any] | None:
    """Return ``value`` if it is None or a mapping of tag names to values the stores can keep.

    Names are non-empty text of at most ``key_length`` characters; values are kept as
    ``str(value)``, which must be storable text too.
    """
    if value is None:
        return None
    mapping = check_mapping(value, what)
    for key, item in mapping.items():
        check_name(key, "tag name", max_length=key_length)
        try:
            text = item if isinstance(item, str) else str(item)
        except ValueError as exc:  # an int of over 4,300 digits
            raise InvalidInputError(f"tag {key!r} cannot be written as text: {exc}") from None
        check_text(text, f"tag {show(key)}")
    return mapping
