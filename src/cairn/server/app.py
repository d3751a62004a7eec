"""The team server: ``create_app`` builds the FastAPI app of ``cairn server``.

Every route lives under ``/api/v1`` (one router per capability, in ``api/``) and calls the same
capability operations a local user calls, over the server's own stores (PostgreSQL + S3 for a
team, SQLite + local files on one machine). The server keeps no state of its own between
requests, so several processes over one database behave as one. Errors are JSON
``{"error": {"type": ..., "message": ...}}`` with a 4xx status for anything the client can fix;
a ``CairnError`` never becomes a 500.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cairn.core.errors import (
    ArtifactCorruptedError,
    ArtifactExistsError,
    ArtifactNotFoundError,
    AuthenticationError,
    CairnError,
    ConfigError,
    InvalidInputError,
    NotFoundError,
    ParamConflictError,
    PermissionDeniedError,
    RunStateError,
    StoreUnavailableError,
)
from cairn.core.logging import logger
from cairn.core.settings import Settings, get_settings
from cairn.store import Store, get_store

if TYPE_CHECKING:
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse

API_PREFIX = "/api/v1"
#: The largest JSON body a route reads (artifact uploads stream and have no such limit).
MAX_JSON_BODY = 64 << 20

_STATUS: list[tuple[type[CairnError], int]] = [
    (AuthenticationError, 401),
    (PermissionDeniedError, 403),
    (NotFoundError, 404),
    (ArtifactNotFoundError, 404),
    (ParamConflictError, 409),
    (ArtifactExistsError, 409),
    (RunStateError, 409),
    (ArtifactCorruptedError, 400),
    (InvalidInputError, 400),
    (StoreUnavailableError, 503),
]


def status_of(error: CairnError) -> int:
    """The HTTP status that answers ``error``: 4xx for what the client can fix."""
    for kind, status in _STATUS:
        if isinstance(error, kind):
            return status
    return 500


def error_body(kind: str, message: str) -> dict[str, Any]:
    """The JSON body of every error answer."""
    return {"error": {"type": kind, "message": message}}


def create_app(
    settings: Settings | None = None, *, auth: bool = True, store: Store | None = None
) -> FastAPI:
    """The API app over the stores ``settings`` name; ``auth=False`` lets every request in
    as an admin named by its ``X-Cairn-User`` header (only for a server on 127.0.0.1)."""
    from fastapi import FastAPI
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException as StarletteHTTPException

    from cairn.server.api import ROUTERS

    given = settings
    settings = settings or get_settings()
    if settings.server is not None:
        raise ConfigError(
            "cairn server cannot itself be a client of a server (CAIRN_SERVER is set); unset "
            "CAIRN_SERVER and point CAIRN_STORE and CAIRN_ARTIFACTS at the team's stores"
        )
    app = FastAPI(
        default_response_class=_json_response_class(),
        title="cairn",
        version="1",
        description="cairn's team API: runs, artifacts, datasets, models, validation.",
        docs_url=f"{API_PREFIX}/docs",
        openapi_url=f"{API_PREFIX}/openapi.json",
        redoc_url=None,
    )
    # The capabilities' own functions use get_store(): the app shares it unless told otherwise.
    app.state.store = store or (Store.from_settings(given) if given else get_store())
    app.state.auth = auth

    @app.exception_handler(CairnError)
    async def _cairn_error(_request: Request, exc: CairnError) -> JSONResponse:
        status = status_of(exc)
        if status >= 500:
            logger.error("server error: %s: %s", type(exc).__name__, exc)
        return JSONResponse(error_body(type(exc).__name__, str(exc)), status_code=status)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = "NotFoundError" if exc.status_code == 404 else "InvalidInputError"
        message = (
            "no such route; see /api/v1/docs for the API"
            if exc.status_code in (404, 405)
            else str(exc.detail)
        )
        return JSONResponse(error_body(kind, message), status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def _bad_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(error_body("InvalidInputError", _describe(exc)), status_code=400)

    @app.middleware("http")
    async def _limit_body(request: Request, call_next: Any) -> Any:
        length = request.headers.get("content-length")
        streamed = request.method == "PUT" and request.url.path.startswith(
            f"{API_PREFIX}/artifacts/"
        )
        too_big = length is not None and (not length.isdigit() or int(length) > MAX_JSON_BODY)
        if too_big and not streamed:
            return JSONResponse(
                error_body(
                    "InvalidInputError",
                    f"the request body is larger than {MAX_JSON_BODY >> 20} MiB; send "
                    "smaller batches (artifacts go to /api/v1/artifacts/{digest})",
                ),
                status_code=413,
            )
        return await call_next(request)

    app.add_middleware(_GzipRequests)
    for router in ROUTERS:
        app.include_router(router, prefix=API_PREFIX)
    return app


def _json_response_class() -> Any:
    """JSON answers that keep NaN and infinities (metric values may be either), as Python's
    json writes them and reads them back."""
    import json

    from fastapi.responses import JSONResponse

    class CairnJSONResponse(JSONResponse):
        def render(self, content: Any) -> bytes:
            return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    return CairnJSONResponse


class _GzipRequests:
    """Decompresses request bodies sent with ``Content-Encoding: gzip`` (a client's batches),
    refusing any that would pass ``MAX_JSON_BODY`` once inflated; also bounds plain bodies
    sent without a ``Content-Length`` (chunked), which the length check cannot see."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        gzipped = headers.get(b"content-encoding", b"").lower() == b"gzip"
        streamed = scope.get("method") == "PUT" and str(scope.get("path", "")).startswith(
            f"{API_PREFIX}/artifacts/"
        )
        if not gzipped and (streamed or b"content-length" in headers):
            await self.app(scope, receive, send)  # a length past the limit is refused later
            return
        import zlib

        from fastapi.responses import JSONResponse

        inflater = zlib.decompressobj(wbits=31) if gzipped else None
        parts: list[bytes] = []
        size = 0
        problem = None
        status = 413
        more = True
        while more:
            message = await receive()
            more = message.get("more_body", False)
            if problem is None:
                data = message.get("body", b"")
                try:
                    if inflater is not None:
                        data = inflater.decompress(data, MAX_JSON_BODY + 1 - size)
                except zlib.error:
                    problem, status = "the request body is not valid gzip", 400
                    continue
                size += len(data)
                parts.append(data)
                if size > MAX_JSON_BODY or (inflater is not None and inflater.unconsumed_tail):
                    problem = f"the request body is larger than {MAX_JSON_BODY >> 20} MiB" + (
                        " once inflated" if gzipped else ""
                    )
        if problem is None and inflater is not None and not inflater.eof:
            problem, status = "the request body is not valid gzip (it ends early)", 400
        if problem is not None:
            response = JSONResponse(error_body("InvalidInputError", problem), status_code=status)
            await response(scope, receive, send)
            return
        body = b"".join(parts)
        scope = dict(scope)
        scope["headers"] = [
            (key, value)
            for key, value in scope["headers"]
            if key not in (b"content-encoding", b"content-length")
        ] + [(b"content-length", str(len(body)).encode())]
        sent = False

        async def replay() -> Any:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def _describe(exc: Any) -> str:
    """One line per problem of a request pydantic refused: where, and what is wrong."""
    problems = []
    for error in exc.errors()[:10]:
        where = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
        problems.append(f"{where or 'body'}: {error.get('msg', 'invalid')}")
    return "the request is malformed: " + "; ".join(problems)
