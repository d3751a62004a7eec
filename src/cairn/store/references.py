"""Which artifact objects the metadata store still references (for garbage collection)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, select

from cairn.store.db.schema import DIGEST_COLUMNS


def unreferenced(conn: Connection, digests: Iterable[str]) -> list[str]:
    """The ``digests`` no table refers to any more, sorted (each lookup uses an index)."""
    orphans = []
    for digest in sorted(set(digests)):
        if not any(
            conn.execute(select(column).where(column == digest).limit(1)).first()
            for column in DIGEST_COLUMNS
        ):
            orphans.append(digest)
    return orphans


__all__ = ["unreferenced"]
