"""Tokens and roles: who may call the server, and what each role may do.

A token reads ``cairn_<id>_<secret>``. The store keeps the id in clear and only the SHA-256 of
the secret, so a leaked database leaks no token; the secret is compared in constant time. Roles
nest: a ``reader`` reads, a ``writer`` also writes, an ``admin`` also manages tokens, deletes
and restores. A run is its writer's own (another writer cannot log to it, end it or register a
model from it); datasets and models are the team's: any writer adds versions, moves aliases
(each move recorded with its user in the alias history and the audit log) and edits catalog
fields. Every request is checked against the store (no cache), so a revoked token is refused
at once.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select, update

from cairn.core.checks import show
from cairn.core.errors import (
    AuthenticationError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
)
from cairn.core.ids import now_ms
from cairn.server.audit import record_event
from cairn.store.db import Database
from cairn.store.db.schema import server_tokens

if TYPE_CHECKING:
    from fastapi import Request

ROLES = ("reader", "writer", "admin")
PREFIX = "cairn_"
MAX_USER = 255
MAX_EPOCH_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z
_AHEAD = re.compile(r"(\d{1,9})\s*([smhdw])")
_ACTION = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*(\.\*)?")
MAX_ACTION = 64
_UNIT_MS = {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}


@dataclass(frozen=True)
class Caller:
    """Who made a request: the token's user and role (``token_id`` None when auth is off)."""

    user: str
    role: str
    token_id: str | None = None

    def may(self, role: str) -> bool:
        """Whether this caller's role includes ``role``."""
        return ROLES.index(self.role) >= ROLES.index(role)


@dataclass(frozen=True)
class TokenInfo:
    """A token as listed: never its secret."""

    token_id: str
    user: str
    role: str
    created_ms: int
    created_by: str | None
    expires_ms: int | None
    revoked_ms: int | None

    @property
    def is_active(self) -> bool:
        """Whether the token is neither revoked nor expired."""
        return self.revoked_ms is None and (self.expires_ms is None or self.expires_ms > now_ms())

    @property
    def state(self) -> str:
        """``active``, ``expired`` or ``revoked``."""
        if self.revoked_ms is not None:
            return "revoked"
        return "active" if self.is_active else "expired"

    def to_dict(self) -> dict[str, Any]:
        """The listing as JSON-ready values, with its state."""
        return {**dataclasses.asdict(self), "state": self.state}


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def check_role(role: Any) -> str:
    """``role`` if it is one of the roles, else a clear error."""
    if role not in ROLES:
        raise InvalidInputError(f"role must be one of {', '.join(ROLES)}, not {show(role)}")
    return str(role)


def check_user(user: Any) -> str:
    """``user`` if it is a printable name of 1 to 255 characters."""
    if (
        not isinstance(user, str)
        or not user.strip()
        or len(user) > MAX_USER
        or not user.isprintable()
    ):
        raise InvalidInputError(
            f"a user name must be 1 to {MAX_USER} printable characters, not {show(user)}"
        )
    try:
        user.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInputError("a user name must be valid Unicode (no lone surrogates)") from None
    return user


def parse_expiry(value: Any, now: int | None = None) -> int | None:
    """When a token made at ``now`` stops working (epoch ms): ``value`` is a duration ahead
    (``30d``, ``12h``, ``2w``, ``90m``) or an ISO date or date-time (UTC when it names no
    zone); None (or empty) means never."""
    from cairn.monitoring.windows import parse_time

    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    now = now_ms() if now is None else now
    if not isinstance(value, str):
        raise InvalidInputError(
            f"an expiry is a duration like '30d' or a date like '2027-01-31', not {show(value)}"
        )
    match = _AHEAD.fullmatch(value.strip().lower())
    if match is None:
        try:
            expires = parse_time(value, "the expiry", now) or 0
        except InvalidInputError:
            raise InvalidInputError(
                f"cannot read the expiry {show(value)}: give a duration ahead like '30d', "
                "'12h' or '2w', or a date like '2027-01-31' (or '2027-01-31T08:00Z')"
            ) from None
    else:
        expires = now + int(match.group(1)) * _UNIT_MS[match.group(2)]
    if expires > MAX_EPOCH_MS:
        raise InvalidInputError(f"the expiry {show(value)} is after the year 9999; give less")
    if expires <= now:
        raise InvalidInputError(
            f"the expiry {show(value)} is not in the future; give a duration like '30d' or a "
            "later date"
        )
    return expires


def parse_since(value: str | None) -> int | None:
    """Epoch ms of ``since``: an ISO date or date-time (UTC unless it says), or a duration ago."""
    from cairn.monitoring.windows import parse_time

    return None if value is None else parse_time(value, "since", now_ms())


def check_action(action: str | None) -> str | None:
    """``action`` if it names an action (``alias.set``) or a family of them (``alias.*``)."""
    if action is None:
        return None
    if len(action) > MAX_ACTION or _ACTION.fullmatch(action) is None:
        raise InvalidInputError(
            f"{show(action)} is not an action: give one like 'alias.set' or a family like 'alias.*'"
        )
    return action


def create_token(
    db: Database,
    user: str,
    role: str,
    *,
    expires_ms: int | None = None,
    created_by: str | None = None,
    actor: str | None = None,
) -> tuple[str, TokenInfo]:
    """Make a token for ``user`` with ``role``; return it (shown once) and its listing.

    With ``actor``, a ``token.create`` event by ``actor`` is recorded in the same transaction
    (and ``created_by`` defaults to ``actor``).
    """
    check_user(user)
    check_role(role)
    if expires_ms is not None and (
        type(expires_ms) is not int or not now_ms() < expires_ms <= MAX_EPOCH_MS
    ):
        raise InvalidInputError(
            f"a token's expiry must be a time in the future (epoch ms, before the year 10000), "
            f"not {show(expires_ms)}"
        )
    if created_by is not None:
        check_user(created_by)
    if actor is not None:
        check_user(actor)
        created_by = actor if created_by is None else created_by
    token_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    created = now_ms()

    def apply(conn: Any) -> None:
        conn.execute(
            insert(server_tokens).values(
                token_id=token_id,
                user=user,
                role=role,
                secret_hash=_digest(secret),
                created_ms=created,
                created_by=created_by,
                expires_ms=expires_ms,
            )
        )
        if actor is not None:
            detail = {"user": user, "role": role, "expires_ms": expires_ms}
            record_event(conn, actor, "token.create", token_id, detail)

    db.transact(apply)
    info = TokenInfo(token_id, user, role, created, created_by, expires_ms, None)
    return f"{PREFIX}{token_id}_{secret}", info


def list_tokens(db: Database, *, include_revoked: bool = False) -> list[TokenInfo]:
    """Every token, oldest first (revoked ones only when asked)."""
    t = server_tokens
    query = select(
        t.c.token_id,
        t.c.user,
        t.c.role,
        t.c.created_ms,
        t.c.created_by,
        t.c.expires_ms,
        t.c.revoked_ms,
    ).order_by(t.c.id)
    if not include_revoked:
        query = query.where(t.c.revoked_ms.is_(None))
    with db.read() as conn:
        return [TokenInfo(*row) for row in conn.execute(query)]


def revoke_token(db: Database, token_id: str, *, actor: str | None = None) -> TokenInfo:
    """Revoke a token by its id (the part after ``cairn_``); it is refused from now on.

    Revoking a revoked token changes nothing. With ``actor``, a ``token.revoke`` event by
    ``actor`` is recorded in the same transaction as the revocation.
    """
    if actor is not None:
        check_user(actor)
    if not isinstance(token_id, str) or not token_id.isalnum() or len(token_id) > 32:
        raise InvalidInputError(f"{show(token_id)} is not a token id (see cairn server token ls)")
    t = server_tokens
    now = now_ms()

    def apply(conn: Any) -> TokenInfo:
        row = conn.execute(
            select(
                t.c.token_id,
                t.c.user,
                t.c.role,
                t.c.created_ms,
                t.c.created_by,
                t.c.expires_ms,
                t.c.revoked_ms,
            ).where(t.c.token_id == token_id)
        ).first()
        if row is None:
            raise NotFoundError(f"no token {token_id!r}; see cairn server token ls")
        info = TokenInfo(*row)
        if info.revoked_ms is None:
            conn.execute(update(t).where(t.c.token_id == token_id).values(revoked_ms=now))
            info = dataclasses.replace(info, revoked_ms=now)
            if actor is not None:
                detail = {"user": info.user, "role": info.role, "expires_ms": info.expires_ms}
                record_event(conn, actor, "token.revoke", token_id, detail)
        return info

    return db.transact(apply)


def authenticate(db: Database, token: str) -> Caller:
    """The caller a token names; ``AuthenticationError`` when it is not valid now."""
    if not isinstance(token, str):
        raise AuthenticationError(f"a token is text (cairn_<id>_<secret>), not {show(token)}")
    parts = token[len(PREFIX) :].split("_", 1) if token.startswith(PREFIX) else []
    if len(parts) != 2 or not parts[0].isalnum() or len(parts[0]) > 32:
        raise AuthenticationError(
            "the token is malformed (a token reads cairn_<id>_<secret>); ask an admin for one "
            "with cairn server token create"
        )
    token_id, secret = parts
    t = server_tokens
    with db.read() as conn:
        row = conn.execute(
            select(t.c.user, t.c.role, t.c.secret_hash, t.c.expires_ms, t.c.revoked_ms).where(
                t.c.token_id == token_id
            )
        ).first()
    if row is None or not hmac.compare_digest(row.secret_hash, _digest(secret)):
        raise AuthenticationError("the token is not known to this server; check CAIRN_TOKEN")
    if row.revoked_ms is not None:
        raise AuthenticationError(f"token {token_id} was revoked; ask an admin for a new one")
    if row.expires_ms is not None and row.expires_ms <= now_ms():
        raise AuthenticationError(f"token {token_id} has expired; ask an admin for a new one")
    return Caller(row.user, row.role, token_id)


def caller_of(request: Request) -> Caller:
    """The caller of ``request``: from its bearer token, or (auth off) an admin named by the
    ``X-Cairn-User`` header."""
    state = request.app.state
    if not state.auth:
        name = request.headers.get("x-cairn-user") or "anonymous"
        try:
            user = check_user(name)
        except InvalidInputError:
            user = "anonymous"
        return Caller(user, "admin")
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationError(
            "this server needs a token: send 'Authorization: Bearer <token>' (set CAIRN_TOKEN "
            "for the cairn client); an admin makes one with cairn server token create"
        )
    return authenticate(state.store.db, token.strip())


def require(role: str) -> Callable[[Request], Caller]:
    """A FastAPI dependency that lets in callers whose role includes ``role``."""
    check_role(role)

    def dependency(request: Request) -> Caller:
        caller = caller_of(request)
        if not caller.may(role):
            raise PermissionDeniedError(
                f"user {caller.user!r} has the {caller.role} role; this needs {role} (ask an "
                "admin for a token with that role)"
            )
        return caller

    # FastAPI reads the annotation to pass the request; under ``from __future__ import
    # annotations`` it is the text "Request", which it cannot resolve here (a query parameter).
    from fastapi import Request as RequestClass

    dependency.__annotations__["request"] = RequestClass
    return dependency


def check_owner(caller: Caller, owner: str | None, what: str) -> None:
    """Let a writer change only its own objects (admins change any)."""
    if caller.role != "admin" and owner is not None and owner != caller.user:
        raise PermissionDeniedError(
            f"{what} belongs to {owner!r}; user {caller.user!r} may not change it (an admin may)"
        )
