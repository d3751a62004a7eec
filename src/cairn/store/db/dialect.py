"""The few differences between SQLite and PostgreSQL, in one place."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Table, text
from sqlalchemy.sql.elements import ColumnElement


def _dialect_module(conn: Connection) -> Any:
    # Imported on use: PostgreSQL's dialect (and its async drivers' modules) costs ~30 ms to
    # import, which a SQLite project never needs to pay.
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql
    from sqlalchemy.dialects import sqlite

    return sqlite


def upsert(
    conn: Connection,
    table: Table,
    rows: Sequence[dict[str, Any]],
    keys: Sequence[str],
    update: Sequence[str],
    where: ColumnElement[bool] | None = None,
) -> None:
    """Insert ``rows``; on a key conflict update the ``update`` columns (when ``where`` holds).

    ``where`` may refer to the incoming row as ``excluded_of(table).c.<col>``.
    """
    if not rows:
        return
    stmt = _dialect_module(conn).insert(table)
    stmt = stmt.on_conflict_do_update(
        index_elements=list(keys),
        set_={name: stmt.excluded[name] for name in update},
        where=where,
    )
    conn.execute(stmt, list(rows))


def insert_ignore(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows``, skipping those whose key already exists."""
    if not rows:
        return
    conn.execute(_dialect_module(conn).insert(table).on_conflict_do_nothing(), list(rows))


def lock_schema(conn: Connection) -> None:
    """Serialise schema creation between processes for the rest of this transaction."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(74213)"))
    # SQLite: the transaction was begun with BEGIN IMMEDIATE, which already excludes writers.


def lock_key(conn: Connection, kind: int, key: str) -> None:
    """Serialise the transactions that lock the same ``(kind, key)`` until they end (PostgreSQL;
    SQLite's writers run one at a time already): two replays of one request at once must not
    both find it not yet recorded."""
    if conn.dialect.name == "postgresql":
        conn.execute(
            text("SELECT pg_advisory_xact_lock(CAST(:kind AS integer), hashtext(:key))"),
            {"kind": kind, "key": key},
        )


def is_busy_error(exc: BaseException) -> bool:
    """Whether ``exc`` is a transient lock/serialisation failure worth retrying."""
    message = str(getattr(exc, "orig", exc)).lower()
    return any(
        marker in message
        for marker in (
            "database is locked",
            "database table is locked",
            "could not serialize access",
            "deadlock detected",
        )
    )
