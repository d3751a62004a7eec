"""Retention without loss: reclaim the files of deleted versions that nothing else needs.

A deleted version keeps its row (its number is never reused and its history stays readable);
``gc`` drops the file list of each manifest that no live version uses any more, then removes
the objects no table references (another version, another dataset, a run's artifacts). It
works one manifest at a time, so memory stays bounded however large the catalog is.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, and_, delete, exists, select

from cairn.store import get_store
from cairn.store.db.schema import dataset_versions, manifest_files, manifests
from cairn.store.references import unreferenced

_FILES_BATCH = 5000


@dataclass(frozen=True)
class DataGcResult:
    """What ``gc`` reclaimed."""

    manifests: int  # file lists dropped (all their versions deleted)
    objects: int
    bytes: int
    temporaries: int = 0  # half-written files of killed adds, removed


def _dead_manifest(conn: Connection, after: int) -> int | None:
    """The next manifest (id > ``after``) with files but no live version."""
    live = exists().where(
        and_(
            dataset_versions.c.manifest_id == manifests.c.id,
            dataset_versions.c.deleted_ms.is_(None),
        )
    )
    has_files = exists().where(manifest_files.c.manifest_id == manifests.c.id)
    value = conn.execute(
        select(manifests.c.id)
        .where(manifests.c.id > after, ~live, has_files)
        .order_by(manifests.c.id)
        .limit(1)
    ).scalar()
    return None if value is None else int(value)


def gc() -> DataGcResult:
    """Drop the files of manifests only deleted versions use, and the objects they freed."""
    store = get_store()
    dropped = removed = freed = 0
    after = 0
    while True:
        with store.db.read() as conn:
            manifest_id = _dead_manifest(conn, after)
        if manifest_id is None:
            break
        after = manifest_id

        def drop(conn: Connection, manifest_id: int = manifest_id) -> list[tuple[str, int]]:
            # Checked again inside the transaction: a version may have been restored meanwhile.
            if _dead_manifest(conn, manifest_id - 1) != manifest_id:
                return []
            files = [
                (d, int(s))
                for d, s in conn.execute(
                    select(manifest_files.c.digest, manifest_files.c.size).where(
                        manifest_files.c.manifest_id == manifest_id
                    )
                )
            ]
            conn.execute(delete(manifest_files).where(manifest_files.c.manifest_id == manifest_id))
            orphans = set()
            for start in range(0, len(files), _FILES_BATCH):
                batch = [d for d, _ in files[start : start + _FILES_BATCH]]
                orphans.update(unreferenced(conn, batch))
            sizes = dict(files)
            return [(d, sizes[d]) for d in sorted(orphans)]

        orphans = store.db.transact(drop)
        for digest, size in orphans:
            store.artifacts.delete(digest)
            removed += 1
            freed += size
        dropped += 1
    return DataGcResult(dropped, removed, freed, store.artifacts.remove_stale_temporaries())
