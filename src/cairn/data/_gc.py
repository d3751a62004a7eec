"""Retention without loss: reclaim the files of deleted versions that nothing else needs.

A deleted version keeps its row (its number is never reused and its history stays readable);
``drop_deleted_files`` drops the file list of each manifest no live version uses any more,
one manifest at a time, and the store's sweep then removes the objects no table references
(another version, another dataset, a run's artifacts).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, and_, delete, exists, select

from cairn.store import get_store
from cairn.store.db.schema import dataset_versions, manifest_files, manifests
from cairn.store.references import GRACE_S, sweep


@dataclass(frozen=True)
class DataGcResult:
    """What ``gc`` reclaimed."""

    manifests: int  # file lists dropped (all their versions deleted)
    objects: int
    bytes: int
    temporaries: int = 0  # half-written files of killed adds, removed
    kept: int = 0  # unreferenced objects written or used within the grace period


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


def drop_deleted_files() -> int:
    """Drop the file lists of manifests only deleted versions use; return how many."""
    db = get_store().db
    dropped = 0
    after = 0
    while True:
        with db.read() as conn:
            manifest_id = _dead_manifest(conn, after)
        if manifest_id is None:
            return dropped
        after = manifest_id

        def drop(conn: Connection, manifest_id: int = manifest_id) -> bool:
            if conn.dialect.name == "postgresql":
                # The lock an add takes to reuse this manifest (data._queries.ensure_manifest):
                # an add that reuses it either commits first (and the check below sees its
                # version) or finds the list gone and writes it again.
                conn.execute(
                    select(manifests.c.id).where(manifests.c.id == manifest_id).with_for_update()
                )
            # Checked again inside the transaction: a version may have been restored meanwhile.
            if _dead_manifest(conn, manifest_id - 1) != manifest_id:
                return False
            conn.execute(delete(manifest_files).where(manifest_files.c.manifest_id == manifest_id))
            return True

        dropped += db.transact(drop)


def gc(grace_s: float = GRACE_S) -> DataGcResult:
    """Drop the files of deleted versions, then remove every object nothing references.

    Objects written or reused less than ``grace_s`` seconds ago are kept (a margin: adds
    running at the same time are safe at any grace, decision 0012).
    """
    store = get_store()
    dropped = drop_deleted_files()
    swept = sweep(store, grace_s)
    temporaries = store.artifacts.remove_stale_temporaries()
    return DataGcResult(dropped, swept.objects, swept.bytes, temporaries, swept.kept)
