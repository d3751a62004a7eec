"""Foundation storage: the metadata database and the artifact store, built from settings.

All store access goes through one ``Store`` built from settings and handed down, so that a
later remote mode replaces one seam rather than every query.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from cairn.core.errors import ClientModeError, ConfigError
from cairn.core.settings import Settings, get_settings
from cairn.store.artifacts import ArtifactStore, StoredObject
from cairn.store.db import Database

if TYPE_CHECKING:
    from cairn.store.remote import RemoteSession


class Store:
    """The metadata database and the artifact store of one project (or team); in client mode
    (``CAIRN_SERVER``) the session to the team's server, through which both are reached."""

    def __init__(
        self,
        db: Database | None,
        artifacts: ArtifactStore,
        remote: RemoteSession | None = None,
    ) -> None:
        self._db = db
        self.artifacts = artifacts
        self.remote = remote
        self._closed = False

    def __repr__(self) -> str:
        where = self.remote.url if self.remote is not None else self.db.display_url
        return f"<Store {where}>"

    @property
    def db(self) -> Database:
        """The metadata database (not reachable in client mode: the server holds it)."""
        if self._db is None:
            raise ClientModeError(
                "this operation is not offered through a cairn server yet (client mode: "
                f"CAIRN_SERVER={self.remote.url if self.remote else '?'}); run it where the "
                "team's stores are configured (CAIRN_STORE, CAIRN_ARTIFACTS), without CAIRN_SERVER"
            )
        return self._db

    @classmethod
    def from_settings(cls, settings: Settings) -> Store:
        """Open (creating on first use) the stores that ``settings`` name."""
        if settings.server is not None:
            return cls._client(settings)
        if settings.store is None or settings.artifacts is None:
            _keep_out_of_git(settings.home_dir)
        return cls(
            Database(settings.store_url, sync=settings.store_sync),
            ArtifactStore(settings.artifacts_url, settings.artifacts_options),
        )

    @classmethod
    def _client(cls, settings: Settings) -> Store:
        from typing import cast

        from cairn.store.remote import RemoteSession
        from cairn.store.remote_artifacts import RemoteArtifactStore

        assert settings.server is not None
        if not settings.server.startswith(("http://", "https://")):
            raise ConfigError(
                f"CAIRN_SERVER must be an http:// or https:// URL, not {settings.server!r:.80}"
            )
        _keep_out_of_git(settings.home_dir)
        session = RemoteSession(settings.server, settings.token, settings.home_dir / "spool")
        return cls(None, cast(ArtifactStore, RemoteArtifactStore(session)), session)

    @property
    def is_remote(self) -> bool:
        """Whether this is client mode (a cairn server holds the stores)."""
        return self.remote is not None

    def close(self) -> None:
        """Release database connections (client mode: the HTTP session)."""
        if not self._closed:
            if self._db is not None:
                self._db.dispose()
            if self.remote is not None:
                self.remote.close()
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
        if _current is not None and _current[1]._db is not None:
            _current[1]._db.forget()
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
