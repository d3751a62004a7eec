"""Dataset names and references (``name``, ``name@v3``, ``name@latest``, ``data:name@v3``)."""

from __future__ import annotations

import re

from cairn.core.checks import INT64_MAX, show
from cairn.core.errors import InvalidInputError

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_VERSION = re.compile(r"v?([0-9]+)")


def check_name(name: str) -> str:
    """Return ``name`` if it can name a dataset; raise a clear error otherwise."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidInputError(
            f"{show(name)} cannot name a dataset: use 1 to 128 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit (e.g. customers or sales-2024.v2)"
        )
    return name


def parse_ref(ref: str) -> tuple[str, int | None]:
    """Split a reference into the dataset name and version number (None: the latest)."""
    text = ref.removeprefix("data:") if isinstance(ref, str) else ref
    if not isinstance(text, str):
        raise InvalidInputError(f"a dataset reference is text such as 'name@v2', got {show(ref)}")
    name, sep, version = text.partition("@")
    check_name(name)
    if not sep or version == "latest":
        return name, None
    match = _VERSION.fullmatch(version)
    if not match or not 1 <= int(match.group(1)) <= INT64_MAX:
        raise InvalidInputError(
            f"{show(ref)}: the version after '@' is v1, v2, ... or latest (e.g. {name}@v2)"
        )
    return name, int(match.group(1))
