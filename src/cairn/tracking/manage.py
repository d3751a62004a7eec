"""Deleting runs: soft delete, restore, and garbage collection."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

from sqlalchemy import Connection

from cairn.core.checks import check_texts
from cairn.core.ids import now_ms
from cairn.core.logging import logger
from cairn.store import get_store
from cairn.store.references import GRACE_S, sweep
from cairn.tracking import _queries

GC_BATCH = 200


def delete_runs(run_ids: Sequence[str]) -> list[str]:
    """Soft-delete runs (hidden from searches; ``cairn gc`` removes them for good)."""
    run_ids = check_texts(run_ids, "run id", empty=False)
    store = get_store()
    if store.remote is not None:  # an admin's token: the server records it in its audit log
        return list(store.remote.call("POST", "/runs/delete", {"runs": list(run_ids)})["runs"])
    db = store.db

    def apply(conn: Connection) -> list[str]:
        resolved = [_queries.resolve_run(conn, ref) for ref in run_ids]
        _queries.soft_delete(conn, [db_id for db_id, _ in resolved], now_ms())
        return [uid for _, uid in resolved]

    return db.transact(apply)


def restore_runs(run_ids: Sequence[str]) -> list[str]:
    """Undo ``delete_runs``."""
    run_ids = check_texts(run_ids, "run id", empty=False)
    store = get_store()
    if store.remote is not None:
        return list(store.remote.call("POST", "/runs/restore", {"runs": list(run_ids)})["runs"])
    db = store.db

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
    kept: int = 0  # unreferenced objects written or used within the grace period


def purge_deleted_runs(batch_size: int = GC_BATCH) -> int:
    """Hard-delete soft-deleted runs and their rows, in batches (bounded memory)."""
    store = get_store()
    removed = 0
    after = 0
    while True:
        with store.db.read() as conn:
            batch = _queries.deleted_run_batch(conn, after, batch_size)
        if not batch:
            return removed
        after = batch[-1]
        store.db.transact(partial(_queries.purge_runs, run_ids=batch))
        removed += len(batch)
        logger.debug("gc: removed %d runs so far", removed)


def gc(batch_size: int = GC_BATCH, grace_s: float = GRACE_S) -> GcResult:
    """Hard-delete soft-deleted runs, then every object nothing references any more.

    Objects written or reused less than ``grace_s`` seconds ago are kept (a margin: writers
    running at the same time are safe at any grace, decision 0012).
    """
    runs = purge_deleted_runs(batch_size)
    swept = sweep(get_store(), grace_s)
    return GcResult(runs, swept.objects, swept.kept)
