"""The package root is a curated, complete and sorted list."""

from __future__ import annotations

import importlib
import pkgutil

import cairn


def test_all_is_sorted_and_resolves() -> None:
    """Every name in cairn.__all__ resolves, and the list is sorted."""
    assert cairn.__all__ == sorted(cairn.__all__)
    for name in cairn.__all__:
        assert getattr(cairn, name) is not None


def test_subpackage_all_lists_are_complete() -> None:
    """Each package's __all__ is sorted and names every public name its modules define."""
    for info in pkgutil.walk_packages(cairn.__path__, "cairn."):
        if not info.ispkg or "._" in info.name or "migrations" in info.name:
            continue
        module = importlib.import_module(info.name)
        exported = list(getattr(module, "__all__", []))
        assert exported == sorted(exported), info.name
        public = {
            name
            for name, value in vars(module).items()
            if not name.startswith("_")
            and getattr(value, "__module__", "").startswith(info.name + ".")
            and not isinstance(value, type(importlib))
        }
        assert public <= set(exported), f"{info.name} does not export {public - set(exported)}"


def test_facade_names_match_tracking() -> None:
    """The facade's run functions are the tracking capability's own."""
    from cairn import tracking

    assert cairn.run is tracking.start_run
    assert cairn.log is tracking.log
    assert cairn.search_runs is tracking.search_runs


def test_exported_functions_are_not_shadowed_by_their_submodules() -> None:
    """A function named like its module stays the function after the submodule is imported."""
    import subprocess
    import sys

    code = (
        "import importlib, pkgutil, types\n"
        "for pkg in ('cairn.tracking', 'cairn.data', 'cairn.registry', 'cairn.validation',\n"
        "            'cairn.integrations'):\n"
        "    m = importlib.import_module(pkg)\n"
        "    subs = {i.name for i in pkgutil.iter_modules(m.__path__)}\n"
        "    for name in sorted(set(m.__all__) & subs):\n"
        "        importlib.import_module(f'{pkg}.{name}')\n"
        "        value = getattr(m, name)\n"
        "        assert not isinstance(value, types.ModuleType), f'{pkg}.{name}'\n"
        "        assert callable(value), f'{pkg}.{name}'\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
