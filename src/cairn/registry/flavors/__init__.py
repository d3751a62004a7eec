"""Model flavors: how each kind of model is saved, loaded and asked for predictions.

A flavor is an object with ``name``, ``packages`` (the distributions a saved model needs;
alternatives such as ``xgboost`` and ``xgboost-cpu`` may both be listed: those not
installed are left out of the requirements), ``order`` (flavors are asked in ascending
order whether they recognise a model: specific ones first, generic ones last), and three
methods:

- ``recognizes(model) -> bool``: cheap, never imports the framework;
- ``save(model, folder, *, input_example, options) -> dict``: write the model's files into
  ``folder`` and return what ``load`` needs (JSON), including ``"safe"``: whether loading runs
  no code from the files (no pickle);
- ``load(folder, options) -> predictor``: an object with ``predict(inputs)`` and, where the
  model has it, ``predict_proba(inputs)``.

Flavors are plugins of the ``cairn_model_flavors`` hook; the built-in ones register through it
too (see ``_builtin.py``), so a third-party package adds one with an entry point in the
``cairn`` group.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from cairn.core.errors import InvalidInputError, ModelLoadError


@runtime_checkable
class Flavor(Protocol):
    """How one kind of model is saved and loaded (see the module's docstring)."""

    name: str
    packages: tuple[str, ...]
    order: int

    def recognizes(self, model: Any) -> bool:
        """Whether ``model`` is of this flavor (without importing the framework)."""
        ...

    def save(
        self, model: Any, folder: Path, *, input_example: Any, options: dict[str, Any]
    ) -> dict[str, Any]:
        """Write the model's files into ``folder``; return what ``load`` needs."""
        ...

    def load(self, folder: Path, options: dict[str, Any]) -> Any:
        """Load the model saved in ``folder``; return an object with ``predict``."""
        ...


def all_flavors() -> list[Flavor]:
    """Every flavor known (built-in and from plugins), in the order they are asked."""
    from cairn.core.plugins import register_builtin
    from cairn.registry.flavors import _builtin

    manager = register_builtin(_builtin, "cairn.registry.flavors")
    found: dict[str, Flavor] = {}
    for group in manager.hook.cairn_model_flavors():
        for flavor in group:
            found.setdefault(flavor.name, flavor)
    return sorted(found.values(), key=lambda f: (f.order, f.name))


def get_flavor(name: str) -> Flavor:
    """The flavor called ``name`` (a built-in one without scanning for plugins)."""
    from cairn.registry.flavors import _builtin

    builtin: list[Flavor] = _builtin.cairn_model_flavors()
    for flavor in builtin:
        if flavor.name == name:
            return flavor
    for flavor in all_flavors():
        if flavor.name == name:
            return flavor
    known = ", ".join(f.name for f in all_flavors())
    raise ModelLoadError(
        f"no model flavor named {name!r:.80} is installed (known: {known}); install the package "
        "that provides it"
    )


def flavor_for(model: Any, name: str | None = None) -> Flavor:
    """The flavor to save ``model`` with: ``name`` if given, else the first that recognises it."""
    flavors = all_flavors()
    if name is not None:
        for flavor in flavors:
            if flavor.name == name:
                return flavor
        raise InvalidInputError(
            f"no model flavor named {name!r:.80}; choose one of "
            f"{', '.join(f.name for f in flavors)}"
        )
    for flavor in flavors:
        if flavor.recognizes(model):
            return flavor
    raise InvalidInputError(
        f"no model flavor recognises a {type(model).__module__}.{type(model).__qualname__}; "
        f"the flavors are {', '.join(f.name for f in flavors)}. Wrap it in a "
        "cairn.PythonModel (a class with load(context) and predict(inputs)) to log it"
    )


def requirements(packages: tuple[str, ...]) -> dict[str, str]:
    """The installed versions of ``packages`` (those not installed are left out)."""
    found = {dist: v for dist in packages if (v := _version(dist)) is not None}
    return dict(sorted(found.items()))


def requirement_mismatches(recorded: dict[str, str]) -> list[str]:
    """``'name recorded -> installed'`` for each recorded package installed at another version."""
    out = []
    for dist, version in sorted(recorded.items()):
        installed = _imported_version(dist) or _version(dist)
        if installed != version:
            out.append(f"{dist} {version} -> {installed or 'not installed'}")
    return out


# Distributions whose module, once imported, tells its version for free (no metadata scan).
_MODULES = {
    "scikit-learn": "sklearn",
    "numpy": "numpy",
    "scipy": "scipy",
    "pandas": "pandas",
    "joblib": "joblib",
    "cloudpickle": "cloudpickle",
    "torch": "torch",
    "xgboost": "xgboost",
    "lightgbm": "lightgbm",
    "onnx": "onnx",
    "onnxruntime": "onnxruntime",
}


def _imported_version(dist: str) -> str | None:
    import sys

    module = sys.modules.get(_MODULES.get(dist, ""))
    version = getattr(module, "__version__", None)
    return version if isinstance(version, str) else None


@functools.cache
def _version(dist: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


__all__ = [
    "Flavor",
    "all_flavors",
    "flavor_for",
    "get_flavor",
    "requirement_mismatches",
    "requirements",
]
