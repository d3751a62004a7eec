"""Which artifact objects the metadata store still references, and the sweep that removes
the rest (garbage collection, shared by every capability)."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import Connection, select

from cairn.store import deletions
from cairn.store.db.schema import DIGEST_COLUMNS

if TYPE_CHECKING:
    from cairn.store import Store

GRACE_S = 3600.0  # objects written or reused this recently are kept (not needed for safety)
_BATCH = 500


def unreferenced(conn: Connection, digests: Iterable[str]) -> list[str]:
    """The ``digests`` no table refers to any more, sorted (indexed lookups, in batches)."""
    wanted = sorted(set(digests))
    orphans: list[str] = []
    for start in range(0, len(wanted), _BATCH):
        batch = wanted[start : start + _BATCH]
        used: set[str] = set()
        for column in DIGEST_COLUMNS:
            used.update(conn.execute(select(column).where(column.in_(batch)).distinct()).scalars())
        orphans.extend(d for d in batch if d not in used)
    return orphans


@dataclass(frozen=True)
class SweepResult:
    """What ``sweep`` removed, and what it kept for the grace period."""

    objects: int
    bytes: int
    kept: int


def sweep(store: Store, grace_s: float = GRACE_S) -> SweepResult:
    """Remove every stored object nothing references, unless written or reused within
    ``grace_s`` seconds. Safe beside writers at any grace (decision 0012): see
    ``remove_unreferenced``. Streams the store's listing in batches: memory stays bounded."""
    removed = freed = kept = 0
    batch: list[tuple[str, int, float]] = []
    deletions.tidy(store.db)

    def settle(items: list[tuple[str, int, float]]) -> None:
        nonlocal removed, freed, kept
        with store.db.read() as conn:
            orphans = set(unreferenced(conn, [d for d, _, _ in items]))
        now = time.time()
        sizes: dict[str, int] = {}
        for digest, size, mtime in items:
            if digest not in orphans:
                continue
            if now - mtime < grace_s:
                kept += 1
            else:
                sizes[digest] = size
        swept = remove_unreferenced(store, sizes, grace_s)
        removed, freed, kept = removed + swept.objects, freed + swept.bytes, kept + swept.kept

    for item in store.artifacts.iter_objects():
        batch.append(item)
        if len(batch) >= _BATCH:
            settle(batch)
            batch = []
    if batch:
        settle(batch)
    return SweepResult(removed, freed, kept)


def remove_unreferenced(
    store: Store, sizes: Mapping[str, int], grace_s: float = 0.0
) -> SweepResult:
    """Delete those of the objects ``sizes`` names (digest -> size) that nothing references.

    Each is first marked in ``object_deletions`` in a transaction that checks, under the lock
    writers share, that nothing references it, so a writer that relied on it meanwhile stores
    it again (decision 0012). The only way cairn deletes objects."""
    removed = freed = kept = 0
    if not sizes:
        return SweepResult(0, 0, 0)

    def mark(conn: Connection) -> dict[str, int]:
        deletions.lock(conn, collecting=True)
        return deletions.mark(conn, unreferenced(conn, sizes))

    marks = store.db.transact(mark)
    started = time.monotonic()
    done: list[int] = []
    untouched: list[int] = []
    try:
        for digest, mark_id in marks.items():
            if time.monotonic() - started > deletions.MARK_LIMIT_S:
                untouched.append(mark_id)  # writers stop waiting for old marks: not now
                continue
            done.append(mark_id)  # before: a failed delete may still have removed it
            if store.artifacts.delete(digest, idle_s=grace_s):
                removed += 1
                freed += sizes[digest]
            else:  # gone already, or reused since the listing (a local object's mtime)
                done.pop()
                untouched.append(mark_id)
                kept += 1
    finally:
        never = set(marks.values()) - set(done) - set(untouched)  # an error stopped the loop
        deletions.settle(store.db, done, [*untouched, *never])
    return SweepResult(removed, freed, kept)


__all__ = ["GRACE_S", "SweepResult", "remove_unreferenced", "sweep", "unreferenced"]
