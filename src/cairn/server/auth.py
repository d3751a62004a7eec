"""Tokens and roles: who may call the server, and what each role may do.

A token reads ``cairn_<id>_<secret>``. The store keeps the id in clear and only the SHA-256 of
the secret, so a leaked database leaks no token; the secret is compared in constant time. Roles
nest: a ``reader`` reads, a ``writer`` also writes (its own runs, datasets and models), an
``admin`` also manages tokens, deletes and restores. Every request is checked against the
store (no cache), so a revoked token is refused at once.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
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
from cairn.store.db import Database
from cairn.store.db.schema import server_tokens

if TYPE_CHECKING:
    from fastapi import Request

ROLES = ("reader", "writer", "admin")
PREFIX = "cairn_"
MAX_USER = 255


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


def create_token(
    db: Database,
    user: str,
    role: str,
    *,
    expires_ms: int | None = None,
    created_by: str | None = None,
) -> tuple[str, TokenInfo]:
    """Make a token for ``user`` with ``role``; return it (shown once) and its listing."""
    check_user(user)
    check_role(role)
    if expires_ms is not None and (type(expires_ms) is not int or expires_ms <= now_ms()):
        raise InvalidInputError("a token's expiry must be a time in the future")
    token_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    created = now_ms()
    db.transact(
        lambda conn: conn.execute(
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
    )
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


def revoke_token(db: Database, token_id: str) -> TokenInfo:
    """Revoke a token by its id (the part after ``cairn_``); it is refused from now on."""
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
        return info

    return db.transact(apply)


def authenticate(db: Database, token: str) -> Caller:
    """The caller a token names; ``AuthenticationError`` when it is not valid now."""
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

    return dependency


def check_owner(caller: Caller, owner: str | None, what: str) -> None:
    """Let a writer change only its own objects (admins change any)."""
    if caller.role != "admin" and owner is not None and owner != caller.user:
        raise PermissionDeniedError(
            f"{what} belongs to {owner!r}; user {caller.user!r} may not change it (an admin may)"
        )
