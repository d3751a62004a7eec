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


class _LazyPackage(ModuleType):
    """A package whose lazily exported names keep meaning what they export.

    Importing a submodule makes Python set it as an attribute of its package; where a
    function shares its module's name (``registry.promote`` in ``registry/promote.py``), that
    would shadow the function, so ``cairn.registry.promote(...)`` would call a module.
    """

    _cairn_lazy: frozenset[str] = frozenset()

    def __setattr__(self, name: str, value: Any) -> None:
        if (
            name in self._cairn_lazy
            and isinstance(value, ModuleType)
            and value.__name__ == f"{self.__name__}.{name}"
        ):
            return  # the exported name is resolved by __getattr__, not the submodule
        super().__setattr__(name, value)

    def __reduce__(self) -> tuple[Callable[[str], ModuleType], tuple[str]]:
        # Pickled as an import of itself, as cloudpickle does for a plain module (it knows only
        # ModuleType itself): a step function that uses cairn must travel to a worker process.
        return importlib.import_module, (self.__name__,)


def lazy_attributes(
    package: str, where: Mapping[str, str], names: Sequence[str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A package's ``__getattr__`` and ``__dir__`` that import each name in ``where`` from
    its module on first use (and keep it): importing the package costs nothing, and a
    program pays only for what it touches."""
    module = sys.modules[package]
    # Names a submodule already shadowed (imported before this call) are freed again.
    for name in where:
        if getattr(module.__dict__.get(name), "__name__", None) == f"{package}.{name}":
            del module.__dict__[name]
    module.__class__ = _LazyPackage
    module.__dict__["_cairn_lazy"] = frozenset(where)

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
