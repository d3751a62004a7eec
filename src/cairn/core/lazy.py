"""Optional imports that fail with the extra to install."""

from __future__ import annotations

import importlib
from types import ModuleType

from cairn.core.errors import MissingDependencyError


def import_optional(module: str, extra: str, purpose: str) -> ModuleType:
    """Import ``module`` or raise ``MissingDependencyError`` naming ``cairn[extra]``."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        package = module.split(".", maxsplit=1)[0]
        raise MissingDependencyError(
            f"{purpose} needs the Python package '{package}', which is not installed; "
            f"install it with: pip install 'cairn[{extra}]'"
        ) from exc
