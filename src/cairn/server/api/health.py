"""``GET /api/v1/health``: the one route that answers without a token."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from cairn._version import __version__
from cairn.core.errors import CairnError

router = APIRouter(tags=["health"])


@router.get("/health")
def health(request: Request, response: Response) -> dict[str, Any]:
    """Whether the server reaches its metadata store (503 when not), its version and auth."""
    from sqlalchemy import text

    problem = None
    try:
        with request.app.state.store.db.read() as conn:
            conn.execute(text("SELECT 1"))
    except CairnError as exc:
        problem = str(exc)
        response.status_code = 503
    return {
        "status": "ok" if problem is None else "unavailable",
        "problem": problem,
        "auth": bool(request.app.state.auth),
        "version": __version__,
        "api": 1,
    }
