"""Foundation storage: the metadata database and the artifact store, built from settings.

All store access goes through one ``Store`` built from settings and handed down, so that a
later remote mode replaces one seam rather than every query.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

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
        return cls(
            db=Database(settings.store_url),
            artifacts=ArtifactStore(settings.artifacts_url, settings.artifacts_options),
        )

    def close(self) -> None:
        """Release database connections."""
        if not self._closed:
            self.db.dispose()
            self._closed = True


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


def reset_store() -> None:
    """Close the cached store (the next ``get_store`` opens it anew)."""
    global _current
    with _lock:
        if _current is not None:
            _current[1].close()
        _current = None


__all__ = ["ArtifactStore", "Database", "Store", "StoredObject", "get_store", "reset_store"]
