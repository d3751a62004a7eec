"""What garbage collection deleted, so that no writer relies on an object gc removed.

A writer that finds an object already stored does not write it again, and records its
reference later; gc, seeing the object unreferenced in between, could delete it (on S3
nothing marks an object as just used, so no grace period can tell). The two sides meet in the
metadata store (decision 0012):

- gc marks each object it is about to delete (a row of ``object_deletions``) in a transaction
  that checks, under a lock, that nothing references it; deletes it; then marks it done.
- a writer takes the ``watermark`` before it looks for or writes objects, and records its
  references through ``record_referencing``: in that transaction, under the same lock, a
  deletion marked after the watermark of an object it uses means the object may be gone, so
  the writer stores it again and retries. A reference recorded first makes gc keep the object.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Collection, Sequence
from typing import Any, TypeVar

from sqlalchemy import Connection, Select, bindparam, delete, func, insert, select, text, update

from cairn.core.errors import StoreError
from cairn.core.ids import now_ms
from cairn.core.logging import logger
from cairn.store.db import Database
from cairn.store.db.schema import object_deletions

T = TypeVar("T")

MARK_LIMIT_S = 300.0  # gc deletes under a mark only this long after making it (its own clock)
ABANDONED_S = 900.0  # a mark still pending after this long belongs to a gc that stopped
KEEP_S = 7 * 86400.0  # done marks kept: the longest a writer may take from watermark to record
WAIT_S = 600.0  # the longest a writer waits for a gc that is deleting objects it needs
_BATCH = 500


class _Collected(Exception):
    """Raised inside a writer's transaction (rolling it back): gc deleted these objects."""

    def __init__(self, digests: set[str]) -> None:
        super().__init__(f"{len(digests)} object(s) were garbage-collected")
        self.digests = digests


def lock(conn: Connection, *, collecting: bool) -> None:
    """Order this transaction with gc's marking: writers share the lock, gc takes it alone.

    SQLite needs nothing: its write transactions (BEGIN IMMEDIATE) already run one at a time.
    """
    if conn.dialect.name == "postgresql":
        mode = "SHARE ROW EXCLUSIVE" if collecting else "SHARE"
        conn.execute(text(f"LOCK TABLE object_deletions IN {mode} MODE"))


def watermark(db: Database) -> int:
    """The deletions a writer starting now needs no warning of: take it before looking for or
    writing the objects it will reference, and hand it to ``record_referencing``."""
    horizon = now_ms() - int(ABANDONED_S * 1000)
    with db.read() as conn:
        return int(conn.execute(_watermark_query(), {"horizon": horizon}).scalar() or 0)


@functools.cache
def _watermark_query() -> Select[Any]:
    # One query, built once: the mark before the first pending one (its object may still be
    # deleted after this), else the last mark, else 0.
    t = object_deletions
    pending = (
        select(func.min(t.c.id) - 1)
        .where(t.c.done_ms.is_(None), t.c.marked_ms > bindparam("horizon"))
        .scalar_subquery()
    )
    return select(func.coalesce(pending, _latest_query().scalar_subquery(), 0))


@functools.cache
def _latest_query() -> Select[Any]:
    return select(func.max(object_deletions.c.id))


def deleted_since(conn: Connection, digests: Collection[str], since: int) -> set[str]:
    """Which of ``digests`` gc deleted (or may still delete) after the watermark ``since``."""
    t = object_deletions
    latest = conn.execute(_latest_query()).scalar()
    if latest is None or int(latest) <= since:
        return set()  # no gc since: the common case costs one indexed lookup
    wanted = sorted(set(digests))
    gone: set[str] = set()
    for start in range(0, len(wanted), _BATCH):
        batch = wanted[start : start + _BATCH]
        gone.update(
            conn.execute(
                select(t.c.digest).where(t.c.digest.in_(batch), t.c.id > since).distinct()
            ).scalars()
        )
    return gone


def record_referencing(
    db: Database,
    digests: Collection[str],
    since: int,
    record: Callable[[Connection], T],
    restore: Callable[[set[str]], object],
) -> T:
    """Run ``record`` (which references ``digests``) in one transaction, unless gc deleted one
    of them after ``since``: then ``restore(gone)`` stores them again and it retries."""
    deadline = time.monotonic() + WAIT_S
    pause = 0.05
    missing: set[str] = set()
    while True:
        if missing:
            newer = watermark(db)  # taken before ``restore`` looks for the objects again
            # Every object deleted after the old watermark is stored again, not only those the
            # last check named: the new watermark hides deletions made up to it.
            with db.read() as conn:
                missing |= deleted_since(conn, digests, since)
            if newer < _latest_mark(db, missing):
                if time.monotonic() > deadline:
                    raise _gave_up(missing)
                time.sleep(pause)  # gc is still deleting some of them: store them after it
                pause = min(1.0, pause * 2)
                continue
            restore(missing)
            missing = set()
            since = newer

        def guarded(conn: Connection, since: int = since) -> T:
            lock(conn, collecting=False)
            gone = deleted_since(conn, digests, since)
            if gone:
                raise _Collected(gone)
            return record(conn)

        try:
            return db.transact(guarded)
        except _Collected as exc:
            if time.monotonic() > deadline:
                raise _gave_up(exc.digests) from None
            logger.info(
                "cairn gc removed %d object(s) this write needs meanwhile; storing them again",
                len(exc.digests),
            )
            missing |= exc.digests


def _gave_up(digests: Collection[str]) -> StoreError:
    return StoreError(
        f"cairn gc kept deleting {len(digests)} object(s) this write needs for {WAIT_S:.0f} s; "
        "nothing was recorded: let gc finish, then try again"
    )


def _latest_mark(db: Database, digests: Collection[str]) -> int:
    t = object_deletions
    wanted = sorted(digests)
    latest = 0
    with db.read() as conn:
        for start in range(0, len(wanted), _BATCH):
            batch = wanted[start : start + _BATCH]
            value = conn.execute(select(func.max(t.c.id)).where(t.c.digest.in_(batch))).scalar()
            latest = max(latest, int(value or 0))
    return latest


def mark(conn: Connection, digests: Sequence[str]) -> dict[str, int]:
    """Mark ``digests`` as about to be deleted (the caller has locked and checked them);
    return each one's mark id."""
    now = now_ms()
    marks: dict[str, int] = {}
    for digest in digests:
        result = conn.execute(insert(object_deletions).values(digest=digest, marked_ms=now))
        key = result.inserted_primary_key
        assert key is not None  # an insert of one row always has its key
        marks[digest] = int(key[0])
    return marks


def settle(db: Database, done: Sequence[int], untouched: Sequence[int]) -> None:
    """Complete gc's marks: ``done`` objects were deleted (or may have been); ``untouched``
    ones were not, so their marks are withdrawn."""
    t = object_deletions
    if not done and not untouched:
        return

    def apply(conn: Connection) -> None:
        now = now_ms()
        for start in range(0, len(done), _BATCH):
            ids = list(done[start : start + _BATCH])
            conn.execute(update(t).where(t.c.id.in_(ids)).values(done_ms=now))
        for start in range(0, len(untouched), _BATCH):
            conn.execute(delete(t).where(t.c.id.in_(list(untouched[start : start + _BATCH]))))

    db.transact(apply)


def tidy(db: Database) -> None:
    """Close the marks of a gc that stopped half-way, and forget marks older than ``KEEP_S``."""
    t = object_deletions
    now = now_ms()

    def apply(conn: Connection) -> None:
        conn.execute(
            update(t)
            .where(t.c.done_ms.is_(None), t.c.marked_ms < now - int(ABANDONED_S * 1000))
            .values(done_ms=now)
        )
        conn.execute(delete(t).where(t.c.done_ms < now - int(KEEP_S * 1000)))

    db.transact(apply)


__all__ = [
    "MARK_LIMIT_S",
    "deleted_since",
    "lock",
    "mark",
    "record_referencing",
    "settle",
    "tidy",
    "watermark",
]
