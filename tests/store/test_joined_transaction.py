"""A block of work joins one transaction: everything it writes commits together or not at all."""

from __future__ import annotations

import pytest
from sqlalchemy import func, insert, select

from cairn.store import Store
from cairn.store.db.schema import audit_events


def _event(conn: object, action: str) -> None:
    conn.execute(  # type: ignore[attr-defined]
        insert(audit_events).values(ts_ms=1, user="u", action=action, subject="s", detail="{}")
    )


def _count(store: Store) -> int:
    with store.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(audit_events)).scalar_one())


def test_work_inside_a_joined_transaction_commits_with_it(store: Store) -> None:
    """Nested transact, read and write calls use the joined connection and see its writes."""
    db = store.db

    def outer(conn: object) -> int:
        with db.joining(conn):  # type: ignore[arg-type]
            db.transact(lambda inner: _event(inner, "a"))
            with db.write() as inner:
                _event(inner, "b")
            with db.read() as inner:
                seen = int(
                    inner.execute(select(func.count()).select_from(audit_events)).scalar_one()
                )
        _event(conn, "c")
        return seen

    assert db.transact(outer) == 2
    assert _count(store) == 3


def test_a_failure_in_a_joined_transaction_writes_nothing(store: Store) -> None:
    """When the joined block fails, none of what the nested calls wrote is committed."""
    db = store.db

    def outer(conn: object) -> None:
        with db.joining(conn):  # type: ignore[arg-type]
            db.transact(lambda inner: _event(inner, "a"))
            raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError):
        db.transact(outer)
    assert _count(store) == 0
