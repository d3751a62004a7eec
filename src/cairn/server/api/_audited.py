"""A change and its audit event in one transaction.

The capabilities' functions open their own transactions; run inside ``Database.joining`` they
join the one opened here, so the change and the event recording it commit together or not at
all (a crash in between can no longer leave an alias move without its event).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from cairn.core.user import acting_as
from cairn.server.audit import record_event
from cairn.server.auth import Caller

if TYPE_CHECKING:
    from fastapi import Request

T = TypeVar("T")
#: (action, subject, detail) of the event a change's result is recorded as
Event = tuple[str, str, dict[str, Any]]


def audited(
    request: Request, caller: Caller, change: Callable[[], T], event: Callable[[T], Event]
) -> T:
    """Run ``change`` as ``caller`` and record ``event(result)``, in one transaction."""
    db = request.app.state.store.db

    def apply(conn: Any) -> T:
        with db.joining(conn), acting_as(caller.user):
            result = change()
        action, subject, detail = event(result)
        record_event(conn, caller.user, action, subject, detail)
        return result

    outcome: T = db.transact(apply)
    return outcome
