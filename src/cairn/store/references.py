"""Which artifact objects the metadata store still references, and the sweep that removes
the rest (garbage collection, shared by every capability)."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import Connection, select

from cairn.store.db.schema import DIGEST_COLUMNS

if TYPE_CHECKING:
    from cairn.store import Store

GRACE_S = 3600.0  # objects written or reused this recently are kept (a writer may need them)
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
    ``grace_s`` seconds (an add or a log running now may have found it stored and be about to
    record it). Streams the store's listing in batches: memory stays bounded."""
    removed = freed = kept = 0
    batch: list[tuple[str, int, float]] = []

    def settle(items: list[tuple[str, int, float]]) -> None:
        nonlocal removed, freed, kept
        with store.db.read() as conn:
            orphans = set(unreferenced(conn, [d for d, _, _ in items]))
        now = time.time()
        for digest, size, mtime in items:
            if digest not in orphans:
                continue
            if now - mtime < grace_s:
                kept += 1
            elif store.artifacts.delete(digest, idle_s=grace_s):
                removed += 1
                freed += size

    for item in store.artifacts.iter_objects():
        batch.append(item)
        if len(batch) >= _BATCH:
            settle(batch)
            batch = []
    if batch:
        settle(batch)
    return SweepResult(removed, freed, kept)


__all__ = ["GRACE_S", "SweepResult", "sweep", "unreferenced"]
