"""Admin routes: API tokens (create, list, revoke) and the audit log; every one needs ``admin``.

``POST /tokens`` answers the new token once (the server keeps only the SHA-256 of its secret);
creating and revoking a token each record an audit event in the same transaction.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, StrictStr

from cairn.core.user import acting_as
from cairn.server.audit import MAX_LIMIT, list_events
from cairn.server.auth import (
    Caller,
    check_action,
    check_user,
    create_token,
    list_tokens,
    parse_expiry,
    parse_since,
    require,
    revoke_token,
)

router = APIRouter(tags=["admin"])

Admin = Annotated[Caller, Depends(require("admin"))]


class TokenRequest(BaseModel):
    """The body of ``POST /tokens``: whose token, its role, and when it expires (optional)."""

    model_config = ConfigDict(extra="forbid")

    user: StrictStr
    role: StrictStr
    expires: StrictStr | None = None


@router.post("/tokens", status_code=201)
def create_token_route(body: TokenRequest, request: Request, caller: Admin) -> dict[str, Any]:
    """Make a token; the answer holds it once (``token``) beside its listing."""
    expires_ms = parse_expiry(body.expires)
    with acting_as(caller.user):
        token, info = create_token(
            request.app.state.store.db,
            body.user,
            body.role,
            expires_ms=expires_ms,
            actor=caller.user,
        )
    return {"token": token, **info.to_dict()}


@router.get("/tokens")
def list_tokens_route(
    request: Request,
    _caller: Admin,
    include_all: Annotated[bool, Query(alias="all", description="include revoked")] = False,
) -> dict[str, Any]:
    """Every token (active and expired; revoked ones too with ``?all=true``), never a secret."""
    tokens = list_tokens(request.app.state.store.db, include_revoked=include_all)
    return {"tokens": [info.to_dict() for info in tokens]}


@router.delete("/tokens/{token_id}")
def revoke_token_route(token_id: str, request: Request, caller: Admin) -> dict[str, Any]:
    """Revoke a token by its id; it is refused from the next request on (revoking twice is
    harmless)."""
    with acting_as(caller.user):
        info = revoke_token(request.app.state.store.db, token_id, actor=caller.user)
    return info.to_dict()


@router.get("/audit")
def audit_route(
    request: Request,
    _caller: Admin,
    since: Annotated[
        str | None, Query(description="an ISO date or date-time, or a duration ago: 7d, 24h")
    ] = None,
    action: Annotated[str | None, Query(description="alias.set, or every alias.*")] = None,
    user: Annotated[str | None, Query(description="only this user's events")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="at most this many")] = 100,
) -> dict[str, Any]:
    """The audit log, newest first, filtered by time, action and user."""
    events = list_events(
        request.app.state.store.db,
        since_ms=parse_since(since),
        action=check_action(action),
        user=None if user is None else check_user(user),
        limit=limit,
    )
    return {"events": [dataclasses.asdict(e) for e in events]}
