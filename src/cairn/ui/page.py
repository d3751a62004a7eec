"""What every page shares: rendering (HTML, or JSON at ``<path>.json``), who is looking (a
token in a cookie, set by the login page), the same-origin check on every change, and HTML
error pages for people (the API keeps its JSON errors).

A view is a function that gathers plain data into a context dict and ends with
``render(request, "page.html", context)``; registered at both ``/thing`` and ``/thing.json``,
it answers the page or the same data as JSON.
"""

from __future__ import annotations

import inspect
import math
import urllib.parse
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from cairn._version import __version__
from cairn.core.errors import AuthenticationError, CairnError, PermissionDeniedError
from cairn.core.user import current_user
from cairn.server import API_PREFIX, Caller, authenticate
from cairn.server.api import plain

if TYPE_CHECKING:
    from fastapi import FastAPI

COOKIE = "cairn_token"
COOKIE_DAYS = 7
templates = Jinja2Templates(directory=str(Path(__file__).with_name("templates")))


# -- rendering ------------------------------------------------------------------------------


def wants_json(request: Request) -> bool:
    """Whether the page was asked for as data (``/runs.json``)."""
    return request.url.path.endswith(".json")


def render(
    request: Request, template: str, context: Mapping[str, Any], status: int = 200
) -> Response:
    """The page ``template`` over ``context``, or ``context`` as JSON at ``<path>.json``."""
    if wants_json(request):
        return JSONResponse(plain(dict(context)), status_code=status)
    caller = getattr(request.state, "caller", None)
    full = {
        "caller": caller,
        "auth": request.app.state.auth,
        "cairn_version": __version__,
        **context,
    }
    return templates.TemplateResponse(request, template, full, status_code=status)


def fragment(request: Request, template: str, context: Mapping[str, Any]) -> HTMLResponse:
    """A piece of a page (what an htmx request swaps in), rendered like a page."""
    response = render(request, template, context)
    assert isinstance(response, HTMLResponse)
    return response


def url_with(request: Request, **changes: Any) -> str:
    """This page's URL with some query parameters changed (None removes one): every filter,
    sort and selection lives in the URL, so a page can be shared as it is."""
    query = dict(request.query_params)
    for key, value in changes.items():
        if value is None:
            query.pop(key, None)
        else:
            query[key] = str(value)
    path = request.url.path
    return f"{path}?{urllib.parse.urlencode(query)}" if query else path


def quote(text: str) -> str:
    """``text`` as one URL path segment (names may hold any character)."""
    return urllib.parse.quote(text, safe="")


def time_text(ms: int | None) -> str:
    """A UTC time in ms as ``2026-12-05 08:03:11``; empty for None."""
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def number_text(value: Any) -> str:
    """A metric or param for a table cell: numbers to 6 significant digits."""
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "∞" if value > 0 else "-∞"
        return f"{value:.6g}"
    return str(value)


def size_text(size: int | None) -> str:
    """Bytes as ``1.5 MB``."""
    if size is None:
        return ""
    value = float(size)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{size} B"


def duration_text(seconds: float | None) -> str:
    """Seconds as ``1h 02m``, ``3m 05s`` or ``4.2s``."""
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


templates.env.globals.update(
    url_with=url_with,
    quote=quote,
    time_text=time_text,
    number_text=number_text,
    size_text=size_text,
    duration_text=duration_text,
)
templates.env.filters.update(
    quote=quote,
    time_text=time_text,
    number_text=number_text,
    size_text=size_text,
    duration_text=duration_text,
)


# -- who is looking -------------------------------------------------------------------------


class LoginRequired(AuthenticationError):
    """A page was asked for without a valid token: the login page answers."""


def _caller(request: Request) -> Caller:
    state = request.app.state
    if not state.auth:
        return Caller(current_user() or "local", "admin")
    token = request.cookies.get(COOKIE, "")
    if not token:
        scheme, _, bearer = request.headers.get("authorization", "").partition(" ")
        token = bearer.strip() if scheme.lower() == "bearer" else ""
    if not token:
        raise LoginRequired("sign in with a token to see this page")
    try:
        return authenticate(state.store.db, token)
    except AuthenticationError as exc:
        raise LoginRequired(str(exc)) from None


def viewer(request: Request) -> Caller:
    """Who is looking at the page (a reader at least); the login page answers otherwise."""
    caller = _caller(request)
    request.state.caller = caller
    return caller


def _same_origin(request: Request) -> bool:
    """Whether a change came from a page of this server: its Origin (or Referer) is this
    host, or it carries htmx's header, which no other site can add without CORS allowing it."""
    sent = request.headers.get("origin") or request.headers.get("referer")
    if sent:
        parts = urllib.parse.urlsplit(sent)
        here = urllib.parse.urlsplit(str(request.base_url))
        return (parts.scheme, parts.netloc) == (here.scheme, here.netloc)
    return request.headers.get("hx-request") == "true"


def editor(request: Request) -> Caller:
    """Who is changing something from a page: a writer, on a request from this server."""
    caller = viewer(request)
    if not _same_origin(request):
        raise PermissionDeniedError(
            "this change did not come from a page of this server (its Origin differs); "
            "make it from the cairn UI or through the API with a token"
        )
    if not caller.may("writer"):
        raise PermissionDeniedError(
            f"user {caller.user!r} has the {caller.role} role and may only look; changes need "
            "the writer role (ask an admin for a token with it)"
        )
    return caller


def admin(request: Request) -> Caller:
    """Who is deleting or restoring from a page: an admin, on a request from this server."""
    caller = editor(request)
    if not caller.may("admin"):
        raise PermissionDeniedError(
            f"user {caller.user!r} has the {caller.role} role; deleting and restoring need the "
            "admin role"
        )
    return caller


Viewer = Annotated[Caller, Depends(viewer)]
Editor = Annotated[Caller, Depends(editor)]
Admin = Annotated[Caller, Depends(admin)]


def local_path(target: str | None) -> str:
    """``target`` if it is a path on this server (never another site), else ``/``."""
    if (
        not target
        or not target.startswith("/")
        or "\\" in target
        or any(ord(c) < 0x21 or ord(c) == 0x7F for c in target)  # browsers drop tabs, newlines
        or target.startswith("//")
    ):
        return "/"
    return target


# -- errors as pages ------------------------------------------------------------------------


def _is_api(request: Request) -> bool:
    return request.url.path.startswith(f"{API_PREFIX}/") or request.url.path == API_PREFIX


def error_page(request: Request, status: int, title: str, message: str) -> Response:
    """An error for a person: what went wrong and a way back (JSON at ``.json`` paths)."""
    if wants_json(request):
        return JSONResponse({"error": {"type": title, "message": message}}, status_code=status)
    return render(
        request, "error.html", {"status": status, "title": title, "message": message}, status
    )


def install(app: FastAPI) -> None:
    """HTML error pages for every path outside the API, and the login and logout routes."""
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException as StarletteHTTPException

    from cairn.server import status_of

    api_cairn = app.exception_handlers[CairnError]
    api_http = app.exception_handlers[StarletteHTTPException]
    api_invalid = app.exception_handlers[RequestValidationError]

    async def cairn_error(request: Request, exc: Exception) -> Response:
        if _is_api(request):
            return await _answer(api_cairn, request, exc)
        assert isinstance(exc, CairnError)
        if isinstance(exc, LoginRequired) and not wants_json(request):
            target = urllib.parse.quote(str(request.url.path) + _query(request), safe="")
            return RedirectResponse(f"/login?next={target}", status_code=303)
        status = status_of(exc)
        titles = {
            400: "Bad request",
            401: "Sign in",
            403: "Not allowed",
            404: "Not found",
            409: "Conflict",
        }
        return error_page(request, status, titles.get(status, "Error"), str(exc))

    async def http_error(request: Request, exc: Exception) -> Response:
        if _is_api(request):
            return await _answer(api_http, request, exc)
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 404:
            return error_page(request, 404, "Not found", f"there is no page {request.url.path}")
        return error_page(request, exc.status_code, "Error", str(exc.detail))

    async def invalid(request: Request, exc: Exception) -> Response:
        if _is_api(request):
            return await _answer(api_invalid, request, exc)
        assert isinstance(exc, RequestValidationError)
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ())[1:]) or 'the request'}: {e.get('msg')}"
            for e in exc.errors()[:5]
        )
        return error_page(request, 400, "Bad request", problems or "the request is malformed")

    app.add_exception_handler(CairnError, cairn_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid)


async def _answer(handler: Any, request: Request, exc: Exception) -> Response:
    """What the API's own handler answers (it may be a coroutine function or not)."""
    answer = handler(request, exc)
    if inspect.isawaitable(answer):
        answer = await answer
    assert isinstance(answer, Response)
    return answer


def _query(request: Request) -> str:
    return f"?{request.url.query}" if request.url.query else ""
