"""Optional imports that fail with the extra to install."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping, Sequence
from types import ModuleType
from typing import Any

from cairn.core.errors import MissingDependencyError


def import_optional(module: str, extra: str, purpose: str) -> ModuleType:
    """Import ``module`` or raise ``MissingDependencyError`` naming ``cairn-mlops[extra]``."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        package = module.split(".", maxsplit=1)[0]
        raise MissingDependencyError(
            f"{purpose} needs the Python package '{package}', which is not installed; "
            f"install it with: pip install 'cairn-mlops[{extra}]'"
        ) from exc


def lazy_attributes(
    package: str, where: Mapping[str, str], names: Sequence[str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A package's ``__getattr__`` and ``__dir__`` that import each name in ``where`` from
    its module on first use (and keep it): importing the package costs nothing, and a
    program pays only for what it touches."""

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(names)

    return __getattr__, __dir__
