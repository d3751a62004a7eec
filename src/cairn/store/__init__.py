"""Foundation storage: the metadata database and the artifact store, built from settings.

All store access goes through one ``Store`` built from settings and handed down, so that a
later remote mode replaces one seam rather than every query.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

from cairn.core.settings import Settings, get_settings
from cairn.store.artifacts import ArtifactStore, StoredObject
from cairn.store.db import Database


@dataclass
class Store:
    """The metadata database and the artifact store of one project (or team)."""

    db: Database
    artifacts: ArtifactStore
    _closed: bool = field(default=False, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> Store:
        """Open (creating on first use) the stores that ``settings`` name."""
        if settings.store is None or settings.artifacts is None:
            _keep_out_of_git(settings.home_dir)
        return cls(
            db=Database(settings.store_url, sync=settings.store_sync),
            artifacts=ArtifactStore(settings.artifacts_url, settings.artifacts_options),
        )

    def close(self) -> None:
        """Release database connections."""
        if not self._closed:
            self.db.dispose()
            self._closed = True


def _keep_out_of_git(home: Path) -> None:
    """Give the home folder a ``.gitignore`` of ``*``: the store is no part of the code."""
    marker = home / ".gitignore"
    if marker.exists():
        return
    try:
        home.mkdir(parents=True, exist_ok=True)
        temp = home / f".gitignore.{os.getpid()}.tmp"
        temp.write_text("# cairn's store: runs, artifacts and caches, not code\n*\n")
        os.replace(temp, marker)
    except OSError:
        pass  # a read-only home: the store itself reports what is wrong


_lock = threading.Lock()
_current: tuple[Settings, Store] | None = None


def get_store() -> Store:
    """Return the store for the current settings, opening it on first use."""
    global _current
    settings = get_settings()
    with _lock:
        if _current is None or _current[0] is not settings:
            if _current is not None:
                _current[1].close()
            _current = (settings, Store.from_settings(settings))
        return _current[1]


def forget_store() -> None:
    """Drop the cached store without closing its connections: in a forked child, where they
    belong to the parent (closing them here would end the parent's sessions)."""
    global _current
    with _lock:
        if _current is not None:
            _current[1].db.forget()
        _current = None


def reset_store() -> None:
    """Close the cached store (the next ``get_store`` opens it anew)."""
    global _current
    with _lock:
        if _current is not None:
            _current[1].close()
        _current = None


__all__ = [
    "ArtifactStore",
    "Database",
    "Store",
    "StoredObject",
    "forget_store",
    "get_store",
    "reset_store",
]
