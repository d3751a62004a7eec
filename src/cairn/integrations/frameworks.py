"""``cairn.autolog``: record what the frameworks already know, without ``log`` calls.

Each framework is patched the moment the program imports it (``core.on_import``), never by
importing it: ``cairn.autolog()`` in a program that uses only LightGBM costs nothing for the
others. A framework outside its supported versions is left unpatched with one warning. What a
training logs to, and what happens when cairn itself fails, is in ``_training``.
"""

from __future__ import annotations

import functools
import importlib
import re
import sys
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from types import ModuleType

from cairn.core.errors import InvalidInputError
from cairn.core.logging import logger
from cairn.core.on_import import cancel, is_installed, when_imported
from cairn.integrations._training import Patches, report_failure, set_options


@dataclass(frozen=True)
class Framework:
    """A framework autologging patches: the imports that trigger it, the cairn module that
    patches it (its ``patch(module, patches)``), and the versions supported (lowest
    included, highest excluded)."""

    name: str
    modules: tuple[str, ...]
    integration: str
    lowest: str
    below: str


FRAMEWORKS: dict[str, Framework] = {
    f.name: f
    for f in (
        Framework("sklearn", ("sklearn",), "cairn.integrations.sklearn", "1.3", "2"),
        Framework("xgboost", ("xgboost",), "cairn.integrations.xgboost", "2.0", "4"),
        Framework("lightgbm", ("lightgbm",), "cairn.integrations.lightgbm", "4.0", "5"),
        Framework(
            "lightning",
            ("lightning.pytorch", "pytorch_lightning"),
            "cairn.integrations.lightning",
            "2.0",
            "3",
        ),
        Framework(
            "transformers", ("transformers",), "cairn.integrations.transformers", "4.40", "6"
        ),
        Framework(
            "tensorboard",
            ("torch.utils.tensorboard", "tensorboardX"),
            "cairn.integrations.tensorboard",
            "2.0",
            "3",
        ),
        Framework("optuna", ("optuna",), "cairn.integrations.optuna", "3.0", "6"),
    )
}

_lock = threading.RLock()
_patched: dict[str, Patches] = {}  # module name -> what patching it replaced
_waiting: dict[str, functools.partial[None]] = {}  # module name -> the function waiting
_refused: dict[str, str] = {}  # module name -> why it was left unpatched
_warned: set[str] = set()


def autolog(
    frameworks: Iterable[str] | str | None = None,
    log_models: bool = True,
    disable: bool = False,
) -> list[str]:
    """Autolog ``frameworks`` (default: all of ``FRAMEWORKS``) from now on, in this process.

    Each is patched when the program imports it (at once if it already has). A training logs
    to the active run when no earlier training of this process did, else to a new child run
    of it; with no active run, to a run of its own. Trainings inside another (a grid search's
    fits) log nothing of their own. ``log_models`` saves each fitted model in its run
    (``runs:/<run>/model``, with its signature). ``disable=True`` puts the frameworks back.
    Under ``cairn run`` this is on for every framework (setting ``capture.autolog``).
    Returns the frameworks now patched or waiting for their import.
    """
    names = _names(frameworks)
    for value, what in ((log_models, "log_models"), (disable, "disable")):
        if not isinstance(value, bool):
            raise InvalidInputError(f"{what} is True or False, not {value!r}")
    with _lock:
        if disable:
            for name in names:
                for module_name in FRAMEWORKS[name].modules:
                    _unpatch(module_name)
            return active_frameworks()
        set_options(log_models=log_models)
        for name in names:
            framework = FRAMEWORKS[name]
            for module_name in framework.modules:
                if module_name in _patched or module_name in _waiting:
                    continue
                if not is_installed(module_name.partition(".")[0]):
                    continue
                waiter = functools.partial(_patch, framework, module_name)
                _waiting[module_name] = waiter
                when_imported(module_name, waiter)
        return active_frameworks()


def active_frameworks() -> list[str]:
    """The frameworks patched, or waiting for their import to be patched."""
    with _lock:
        modules = set(_patched) | set(_waiting)
    return [f.name for f in FRAMEWORKS.values() if modules & set(f.modules)]


def autolog_status() -> dict[str, str]:
    """For each framework: ``patched``, ``waiting for import``, ``not installed``, ``off``,
    or why it was left unpatched."""
    status = {}
    with _lock:
        for framework in FRAMEWORKS.values():
            states = []
            for module_name in framework.modules:
                if module_name in _patched:
                    states.append("patched")
                elif module_name in _waiting:
                    states.append("waiting for import")
                elif module_name in _refused:
                    states.append(_refused[module_name])
            if not states:
                installed = any(is_installed(m.partition(".")[0]) for m in framework.modules)
                states.append("off" if installed else "not installed")
            order = ["patched", "waiting for import"]
            status[framework.name] = min(
                states, key=lambda s: order.index(s) if s in order else len(order)
            )
    return status


def _names(frameworks: Iterable[str] | str | None) -> list[str]:
    if frameworks is None:
        return list(FRAMEWORKS)
    if isinstance(frameworks, str):
        frameworks = [frameworks]
    try:
        names = list(frameworks)
    except TypeError:
        names = [frameworks]  # type: ignore[list-item]
    unknown = [n for n in names if not isinstance(n, str) or n not in FRAMEWORKS]
    if unknown:
        raise InvalidInputError(
            f"autolog knows no framework {unknown[0]!r:.60}; choose from "
            f"{', '.join(FRAMEWORKS)} (or leave frameworks out for all of them)"
        )
    return list(dict.fromkeys(names))


def _unpatch(module_name: str) -> None:
    _refused.pop(module_name, None)
    waiter = _waiting.pop(module_name, None)
    if waiter is not None:
        cancel(module_name, waiter)
    patches = _patched.pop(module_name, None)
    if patches is not None:
        patches.restore()


def version_of(module_name: str) -> str:
    """The version of the package ``module_name`` belongs to (``?`` when it says none)."""
    parts = module_name.split(".")
    for end in range(len(parts), 0, -1):
        version = getattr(sys.modules.get(".".join(parts[:end])), "__version__", None)
        if isinstance(version, str):
            return version
    return "?"


def release(version: str) -> tuple[int, ...]:
    """The leading release numbers of ``version``: ``2.13.0+cpu`` -> (2, 13, 0)."""
    found = re.match(r"\d+(?:\.\d+)*", version.strip())
    return tuple(int(p) for p in found.group(0).split(".")) if found else ()


def _patch(framework: Framework, module_name: str, module: ModuleType) -> None:
    with _lock:
        if _waiting.pop(module_name, None) is None or module_name in _patched:
            return  # disabled meanwhile, or patched already
        version = version_of(module_name)
        found = release(version)
        if not found or not release(framework.lowest) <= found < release(framework.below):
            why = (
                f"version {version} unsupported (autolog supports {framework.lowest} to below "
                f"{framework.below})"
            )
            _refused[module_name] = why
            if module_name not in _warned:
                _warned.add(module_name)
                logger.warning(
                    "autolog: %s %s is outside the versions cairn supports (%s to below %s); "
                    "left unpatched, so its trainings are not autologged (log them with "
                    "cairn.log, or use a supported version)",
                    module_name,
                    version,
                    framework.lowest,
                    framework.below,
                )
            return
        patches = Patches()
        try:
            importlib.import_module(framework.integration).patch(module, patches)
        except Exception as exc:
            patches.restore()
            _refused[module_name] = f"patching failed: {exc}"
            report_failure(framework.name, f"patching {module_name} {version}", exc)
            return
        _patched[module_name] = patches
        _refused.pop(module_name, None)
