"""Which artifact objects the metadata store still references, and the sweep that removes
the rest (garbage collection, shared by every capability)."""

from __future__ import annotations

import time
from collections.abc import Iterable
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
    ``grace_s`` seconds. Safe beside writers at any grace (decision 0012): each object is
    marked in ``object_deletions`` after a last check, under a lock, that nothing references
    it, and a writer that relied on it meanwhile stores it again. Streams the store's listing
    in batches: memory stays bounded."""
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
        if not sizes:
            return

        def mark(conn: Connection) -> dict[str, int]:
            deletions.lock(conn, collecting=True)
            # Checked again under the lock: a writer may have referenced one since the listing.
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
            deletions.settle(store.db, done, untouched + list(_unmarked(marks, done, untouched)))

    for item in store.artifacts.iter_objects():
        batch.append(item)
        if len(batch) >= _BATCH:
            settle(batch)
            batch = []
    if batch:
        settle(batch)
    return SweepResult(removed, freed, kept)


def _unmarked(marks: dict[str, int], done: list[int], untouched: list[int]) -> set[int]:
    """Marks never reached (an error stopped the loop): their objects were not deleted."""
    return set(marks.values()) - set(done) - set(untouched)


__all__ = ["GRACE_S", "SweepResult", "sweep", "unreferenced"]
