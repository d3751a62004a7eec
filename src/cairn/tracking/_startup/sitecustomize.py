"""Seed a program launched by ``cairn run --seed N`` from its interpreter's start, and
autolog the frameworks it imports.

``cairn run`` puts this folder first on its command's ``PYTHONPATH``, so Python's ``site``
imports this file as ``sitecustomize`` at start-up, before the program's first line, in every
Python process of the command (also ones that never import cairn, and their own children).
It applies ``CAIRN_SEED`` through cairn's seeding mechanism (``cairn/tracking/_seeding.py``,
loaded by its path: importing the cairn package here would cost every process half a second,
and the command's interpreter may not have cairn installed), so that ``random`` is seeded at
once and NumPy, PyTorch, TensorFlow and JAX the moment the program imports them. Then it takes
itself off ``sys.path`` and imports the ``sitecustomize`` that would have run without it
(compose, never shadow). It never stops the program: a problem is one line on stderr.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_HERE = os.path.dirname(os.path.abspath(__file__))
_CAIRN = os.path.dirname(os.path.dirname(_HERE))  # the cairn package's folder
_ON_IMPORT = "cairn.core.on_import"
_SEEDING = "cairn.tracking._seeding"
#: The frameworks autologging patches (``cairn.integrations.frameworks``): the first one the
#: program imports imports cairn, whose autolog then waits for the others itself.
_FRAMEWORKS = (
    "sklearn",
    "xgboost",
    "lightgbm",
    "lightning",
    "pytorch_lightning",
    "transformers",
    "torch",
    "tensorboardX",
    "optuna",
)


def _load(name: str, *parts: str) -> Any:
    """The cairn module ``name`` from its file, registered under its name, without importing
    the cairn package (a later ``import cairn`` finds it and its state)."""
    module = sys.modules.get(name)
    if module is not None:
        return module
    # By hand rather than with importlib.util, which costs more than the seeding itself.
    from importlib.machinery import ModuleSpec, SourceFileLoader

    path = os.path.join(_CAIRN, *parts)
    loader = SourceFileLoader(name, path)
    module = type(sys)(name)
    module.__spec__ = ModuleSpec(name, loader, origin=path)
    module.__spec__.has_location = True
    module.__loader__ = loader
    module.__file__ = path
    sys.modules[name] = module
    try:
        loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def _seed() -> None:
    raw = os.environ.get("CAIRN_SEED", "").strip()  # the launcher's seed for this command
    if not raw:
        return
    if not raw.isdecimal() or int(raw) > 2**32 - 1:
        sys.stderr.write(f"cairn: CAIRN_SEED={raw!r} is not a seed (0 to 2**32 - 1); not seeded\n")
        return
    _load(_ON_IMPORT, "core", "on_import.py")
    _load(_SEEDING, "tracking", "_seeding.py").apply(int(raw))


def _autolog_on_import() -> None:
    """Under ``CAIRN_AUTOLOG=1`` (the launcher's ``capture.autolog``), turn autologging on the
    moment the program imports a framework it patches: never before, so a program that
    imports none never imports cairn."""
    if os.environ.get("CAIRN_AUTOLOG", "").strip() != "1":
        return
    on_import = _load(_ON_IMPORT, "core", "on_import.py")
    started: list[bool] = []

    def start(module: Any) -> None:
        if started:
            return
        started.append(True)
        for name in _FRAMEWORKS:
            on_import.cancel(name, start)
        processes = sys.modules.get("multiprocessing")
        if processes is not None and processes.parent_process() is not None:
            # A worker of the program (joblib's loky, a multiprocessing pool): its fits are
            # the inner fits of a training its parent process autologs.
            return
        from cairn.integrations.frameworks import autolog

        autolog()

    for name in _FRAMEWORKS:
        if on_import.is_installed(name):
            on_import.when_imported(name, start)


def _compose() -> None:
    """Take this folder off ``sys.path`` and run the ``sitecustomize`` it hid, if any."""
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]
    this = sys.modules.pop("sitecustomize", None)
    try:
        __import__("sitecustomize")  # the next one on sys.path, run for its effects
    except ImportError as exc:
        if exc.name != "sitecustomize":
            raise  # the other sitecustomize is broken: site reports it, as without cairn
        if this is not None:
            sys.modules["sitecustomize"] = this


try:
    _seed()
except Exception as exc:  # the program runs all the same, unseeded, and is told so
    sys.stderr.write(f"cairn: could not seed this program at start-up: {exc!r}\n")
try:
    _autolog_on_import()
except Exception as exc:  # the program runs all the same, its frameworks not autologged
    sys.stderr.write(f"cairn: could not prepare autologging at start-up: {exc!r}\n")
_compose()
