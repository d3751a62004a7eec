"""The built-in expectation kinds, registered through the hook custom kinds use."""

from __future__ import annotations

from typing import Any

from cairn.core.hookspecs import hookimpl


@hookimpl
def cairn_expectations() -> list[Any]:
    """cairn's own expectation kinds."""
    from cairn.validation.expectations import BUILTIN

    return list(BUILTIN)
