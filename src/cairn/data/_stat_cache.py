"""Remembers file digests by (path, size, mtime_ns, inode), so an unchanged file is never
hashed twice. The cache is local to the machine (paths are), a SQLite file in cairn's home.

An entry is written only for a file last modified more than ``RACY_S`` seconds before it was
hashed: a file changed again within the same timestamp tick would otherwise look unchanged
(git calls these "racily clean").
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path

RACY_S = 2.0
_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    inode INTEGER NOT NULL,
    digest TEXT NOT NULL
)
"""

Entry = tuple[str, int, int, int, str]  # path, size, mtime_ns, inode, digest


class StatCache:
    """The digests of local files as last hashed, keyed by absolute path."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._conn: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection | None:
        if self._conn is None:
            try:
                self._path.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(self._path, timeout=30, isolation_level=None)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute(_SCHEMA)
                self._conn = conn
            except sqlite3.Error:
                return None  # a cache: without it everything is hashed, nothing is wrong
        return self._conn

    def under(self, root: str) -> dict[str, tuple[int, int, int, str]]:
        """Entries for ``root`` and every path below it."""
        conn = self._connect()
        if conn is None:
            return {}
        try:
            rows = conn.execute(
                "SELECT path, size, mtime_ns, inode, digest FROM files "
                "WHERE path = ? OR (path >= ? AND path < ?)",
                (root, root + "/", root + "0"),  # '0' sorts right after '/'
            ).fetchall()
        except sqlite3.Error:
            return {}
        return {p: (s, m, i, d) for p, s, m, i, d in rows}

    def remember(self, entries: Iterable[Entry]) -> None:
        """Store digests of files that are not racily clean."""
        conn = self._connect()
        if conn is None:
            return
        limit = time.time_ns() - int(RACY_S * 1e9)
        rows = [e for e in entries if e[2] < limit]
        if not rows:
            return
        with contextlib.suppress(sqlite3.Error):
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?)", rows)
            conn.execute("COMMIT")

    def close(self) -> None:
        """Close the cache file."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
