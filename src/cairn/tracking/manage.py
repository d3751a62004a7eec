"""Deleting runs: soft delete, restore, and garbage collection."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

from sqlalchemy import Connection

from cairn.core.ids import now_ms
from cairn.core.logging import logger
from cairn.store import get_store
from cairn.tracking import _queries

GC_BATCH = 200


def delete_runs(run_ids: Sequence[str]) -> list[str]:
    """Soft-delete runs (hidden from searches; ``cairn gc`` removes them for good)."""
    db = get_store().db

    def apply(conn: Connection) -> list[str]:
        resolved = [_queries.resolve_run(conn, ref) for ref in run_ids]
        _queries.soft_delete(conn, [db_id for db_id, _ in resolved], now_ms())
        return [uid for _, uid in resolved]

    return db.transact(apply)


def restore_runs(run_ids: Sequence[str]) -> list[str]:
    """Undo ``delete_runs``."""
    db = get_store().db

    def apply(conn: Connection) -> list[str]:
        resolved = [_queries.resolve_run(conn, ref) for ref in run_ids]
        _queries.restore(conn, [db_id for db_id, _ in resolved])
        return [uid for _, uid in resolved]

    return db.transact(apply)


@dataclass(frozen=True)
class GcResult:
    """What ``gc`` removed."""

    runs: int
    objects: int


def gc(batch_size: int = GC_BATCH) -> GcResult:
    """Hard-delete soft-deleted runs, in batches (bounded memory), and their orphaned objects."""
    store = get_store()
    removed_runs = removed_objects = 0
    after = 0
    while True:
        with store.db.read() as conn:
            batch = _queries.deleted_run_batch(conn, after, batch_size)
        if not batch:
            break
        after = batch[-1]
        orphans = store.db.transact(partial(_queries.purge_runs, run_ids=batch))
        for digest in orphans:
            store.artifacts.delete(digest)
        removed_runs += len(batch)
        removed_objects += len(orphans)
        logger.debug("gc: removed %d runs so far", removed_runs)
    return GcResult(removed_runs, removed_objects)
