"""Team mode: ``cairn server``, its REST API (``/api/v1``), tokens, roles and the audit log."""

from __future__ import annotations

from cairn.server.app import API_PREFIX, create_app, status_of
from cairn.server.auth import (
    Caller,
    TokenInfo,
    authenticate,
    create_token,
    list_tokens,
    revoke_token,
)

__all__ = [
    "API_PREFIX",
    "Caller",
    "TokenInfo",
    "authenticate",
    "create_app",
    "create_token",
    "list_tokens",
    "revoke_token",
    "status_of",
]
