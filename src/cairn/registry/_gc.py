"""Retention for the registry: free the files of deleted model versions, and the load cache.

A deleted version keeps its row (its number is never reused, its alias history stays
readable); ``drop_deleted_files`` forgets its file list so the store's sweep may remove the
objects nothing else references (the run's artifacts still hold them until the run is purged).
The load cache (``cache/models``: hard links to objects) is dropped when older than the grace
period, so it never keeps removed objects' bytes on disk.
"""

from __future__ import annotations

import shutil
import time
import uuid

from sqlalchemy import Connection, delete, exists, select

from cairn.core.settings import get_settings
from cairn.store import get_store
from cairn.store.db.schema import model_version_files, model_versions
from cairn.store.references import GRACE_S


def drop_deleted_files() -> int:
    """Forget the file lists of deleted model versions; return how many versions."""

    def drop(conn: Connection) -> int:
        has_files = exists().where(model_version_files.c.version_id == model_versions.c.id)
        ids = [
            int(i)
            for i in conn.execute(
                select(model_versions.c.id).where(
                    model_versions.c.deleted_ms.is_not(None), has_files
                )
            ).scalars()
        ]
        if ids:
            conn.execute(
                delete(model_version_files).where(model_version_files.c.version_id.in_(ids))
            )
        return len(ids)

    return get_store().db.transact(drop)


def clear_load_cache(grace_s: float = GRACE_S) -> int:
    """Remove cached model folders built more than ``grace_s`` seconds ago; return how many."""
    root = get_settings().home_dir / "cache" / "models"
    if not root.is_dir():
        return 0
    removed = 0
    now = time.time()
    for folder in root.iterdir():
        try:
            if now - folder.stat().st_mtime < grace_s:
                continue
            # Renamed away first: a loader never sees a half-removed folder under the real name.
            doomed = root / f".removing-{uuid.uuid4().hex[:8]}"
            folder.rename(doomed)
        except OSError:
            continue
        shutil.rmtree(doomed, ignore_errors=True)
        removed += not folder.name.startswith(".")
    return removed
