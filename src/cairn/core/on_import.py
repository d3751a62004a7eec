"""Run a function right after a module is imported, or at once if it already is.

Seeding (``tracking/_seeding.py``) and autologging (``integrations``) act on libraries the
program may import later, and must never import them themselves (PyTorch costs seconds): a
finder on ``sys.meta_path`` wraps the loader of each module someone waits for, runs the
module's own code, then the waiting functions. The finder finds nothing itself and leaves
``sys.meta_path`` once nothing waits.

Standard library only, and no other cairn module: ``cairn run``'s start-up hook
(``tracking/_startup/sitecustomize.py``) loads this file by its path in every Python process of
a launched command, before the program's first line, without importing the cairn package.
"""

from __future__ import annotations

import _thread  # threading's lock without threading's imports
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    import importlib.machinery
    from collections.abc import Callable, Sequence
    from importlib.abc import Loader as _LoaderBase
    from types import ModuleType
    from typing import Any
else:
    _LoaderBase = object

lock = _thread.RLock()
#: Module name -> the functions waiting for its import, in the order they were added.
_waiting: dict[str, list[Callable[[ModuleType], None]]] = {}


def _warn(message: str, *args: object) -> None:
    import logging

    # cairn's logger by name: core.logging would import the cairn package.
    logging.getLogger("cairn").warning(message, *args)


def is_installed(name: str) -> bool:
    """Whether top-level module ``name`` can be imported (asked of the finders, not imported)."""
    if name in sys.modules:
        return sys.modules[name] is not None  # None: the import is blocked
    for finder in sys.meta_path:
        if finder is _finder:
            continue
        find_spec = getattr(finder, "find_spec", None)
        try:
            if find_spec is not None and find_spec(name, None) is not None:
                return True
        except (ImportError, ValueError):
            continue
    return False


def when_imported(name: str, function: Callable[[ModuleType], None]) -> None:
    """Call ``function(module)`` once module ``name`` is imported: now if it is already.

    ``function`` runs after the module's own code, in the thread that imported it; an error in
    it is logged (cairn's logger) and never breaks the import.
    """
    module = sys.modules.get(name)
    spec = getattr(module, "__spec__", None)
    if module is not None and not getattr(spec, "_initializing", False):
        _call(name, function, module)
        return
    with lock:
        _waiting.setdefault(name, []).append(function)
        if _finder not in sys.meta_path:
            sys.meta_path.insert(0, _finder)


def cancel(name: str, function: Callable[[ModuleType], None]) -> None:
    """Stop waiting with ``function`` for module ``name`` (nothing if it does not wait)."""
    with lock:
        functions = [f for f in _waiting.get(name, []) if f is not function]
        if functions:
            _waiting[name] = functions
        else:
            _waiting.pop(name, None)
        _leave_if_idle()


def waiting() -> list[str]:
    """The module names someone waits for."""
    with lock:
        return list(_waiting)


def _leave_if_idle() -> None:
    if not _waiting and _finder in sys.meta_path:
        sys.meta_path.remove(_finder)


def _call(name: str, function: Callable[[ModuleType], None], module: ModuleType) -> None:
    try:
        function(module)
    except Exception as exc:  # the import itself succeeded: never break it
        _warn("after importing %s, %s failed: %r", name, getattr(function, "__name__", "?"), exc)


def _imported(name: str, module: ModuleType) -> None:
    # A waiting function may itself wait for this module (its spec still reads initializing):
    # taken in the next round rather than left waiting for an import that has happened.
    while True:
        with lock:
            functions = _waiting.pop(name, [])
            _leave_if_idle()
        if not functions:
            return
        for function in functions:
            _call(name, function, module)


class _OnImportFinder:
    """Finds nothing itself: wraps the loader of a module someone waits for."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        with lock:
            if fullname not in _waiting:
                return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _NotifyingLoader(spec.loader, fullname)
                return spec
        return None


class _NotifyingLoader(_LoaderBase):
    """Runs the real loader, then the functions waiting for the module."""

    def __init__(self, inner: Any, name: str) -> None:
        self._inner = inner
        self._name = name

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._inner.create_module(spec)  # type: ignore[no-any-return]

    def exec_module(self, module: ModuleType) -> None:
        # The module shows its real loader (importlib.resources and friends look at it).
        module.__loader__ = self._inner
        if module.__spec__ is not None:
            module.__spec__.loader = self._inner
        self._inner.exec_module(module)
        _imported(self._name, module)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


_finder = _OnImportFinder()
