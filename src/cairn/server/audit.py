"""The audit log: an append-only record of alias moves, deletions, restores and token changes.

Events are written in the same transaction as the change they record (pass the connection),
so a change without its event, or an event without its change, cannot be committed. Nothing
here updates or deletes an event.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, insert, select

from cairn.core.checks import INT64_MAX, INT64_MIN, check_optional_text, show
from cairn.core.errors import InvalidInputError
from cairn.core.ids import now_ms
from cairn.store.db import Database
from cairn.store.db.schema import audit_events

MAX_LIMIT = 10_000
MAX_ACTION = 64  # the longest action name or family (``alias.*``)
MAX_USER = 255


@dataclass(frozen=True)
class AuditEvent:
    """One recorded change: when, by whom, what, on what, and its details."""

    id: int
    ts_ms: int
    user: str
    action: str  # alias.set, alias.delete, runs.delete, runs.restore, token.create, ...
    subject: str
    detail: dict[str, Any]


def record_event(
    conn: Connection,
    user: str,
    action: str,
    subject: str,
    detail: Mapping[str, Any] | None = None,
) -> None:
    """Append an event, inside the transaction of the change it records."""
    conn.execute(
        insert(audit_events).values(
            ts_ms=now_ms(),
            user=user,
            action=action,
            subject=subject,
            detail=json.dumps(dict(detail or {}), default=str, sort_keys=True),
        )
    )


def list_events(
    db: Database,
    *,
    since_ms: int | None = None,
    action: str | None = None,
    user: str | None = None,
    limit: int = 100,
) -> list[AuditEvent]:
    """The newest events first, filtered by time, action (or ``prefix.*``) and user;
    at most ``limit`` (1 to ``MAX_LIMIT``) of them."""
    if since_ms is not None and (
        type(since_ms) is not int or not INT64_MIN <= since_ms <= INT64_MAX
    ):
        raise InvalidInputError(f"since_ms must be epoch milliseconds, not {show(since_ms)}")
    check_optional_text(action, "action", empty=False, max_length=MAX_ACTION)
    check_optional_text(user, "user", empty=False, max_length=MAX_USER)
    if type(limit) is not int or not 1 <= limit <= MAX_LIMIT:
        raise InvalidInputError(f"limit must be a count from 1 to {MAX_LIMIT}, not {show(limit)}")
    t = audit_events
    query = select(t.c.id, t.c.ts_ms, t.c.user, t.c.action, t.c.subject, t.c.detail)
    if since_ms is not None:
        query = query.where(t.c.ts_ms >= since_ms)
    if action is not None:
        if action.endswith(".*"):
            query = query.where(t.c.action.startswith(action[:-1], autoescape=True))
        else:
            query = query.where(t.c.action == action)
    if user is not None:
        query = query.where(t.c.user == user)
    query = query.order_by(t.c.id.desc()).limit(limit)
    with db.read() as conn:
        return [
            AuditEvent(row.id, row.ts_ms, row.user, row.action, row.subject, _detail(row.detail))
            for row in conn.execute(query)
        ]


def _detail(text: str | None) -> dict[str, Any]:
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return {"raw": text}
    return value if isinstance(value, dict) else {"value": value}
