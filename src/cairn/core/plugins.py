"""The plugin manager, built on first use (never at import): the hook specs, the built-in
plugins a capability hands in, and third-party plugins from the ``cairn`` entry points."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pluggy

_lock = threading.Lock()
_manager: list[pluggy.PluginManager] = []


def plugin_manager() -> pluggy.PluginManager:
    """The process's plugin manager, with third-party plugins loaded."""
    with _lock:
        if not _manager:
            import pluggy

            from cairn.core.hookspecs import CairnSpec

            manager = pluggy.PluginManager("cairn")
            manager.add_hookspecs(CairnSpec)
            manager.load_setuptools_entrypoints("cairn")
            _manager.append(manager)
        return _manager[0]


def register_builtin(plugin: Any, name: str) -> pluggy.PluginManager:
    """Register a built-in plugin once (a no-op when it is already registered)."""
    manager = plugin_manager()
    with _lock:
        if manager.get_plugin(name) is None:
            manager.register(plugin, name=name)
    return manager
