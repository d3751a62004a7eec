"""Seed a program launched by ``cairn run --seed N`` from its interpreter's start.

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

_HERE = os.path.dirname(os.path.abspath(__file__))
_SEEDING = "cairn.tracking._seeding"


def _seed() -> None:
    raw = os.environ.get("CAIRN_SEED", "").strip()  # the launcher's seed for this command
    if not raw:
        return
    if not raw.isdecimal() or int(raw) > 2**32 - 1:
        sys.stderr.write(f"cairn: CAIRN_SEED={raw!r} is not a seed (0 to 2**32 - 1); not seeded\n")
        return
    seeding = sys.modules.get(_SEEDING)
    if seeding is None:
        # By hand rather than with importlib.util, which costs more than the seeding itself.
        from importlib.machinery import ModuleSpec, SourceFileLoader

        path = os.path.join(os.path.dirname(_HERE), "_seeding.py")
        loader = SourceFileLoader(_SEEDING, path)
        seeding = type(sys)(_SEEDING)
        seeding.__spec__ = ModuleSpec(_SEEDING, loader, origin=path)
        seeding.__spec__.has_location = True
        seeding.__loader__ = loader
        seeding.__file__ = path
        # Under its own name: a later `import cairn` finds this module and its state.
        sys.modules[_SEEDING] = seeding
        try:
            loader.exec_module(seeding)
        except BaseException:
            del sys.modules[_SEEDING]
            raise
    seeding.apply(int(raw))


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
_compose()
