"""Signing in and out: the login page takes a token and keeps it in a cookie that only this
server reads (HttpOnly, SameSite=Strict); ``/`` goes to the runs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from cairn.core.errors import AuthenticationError
from cairn.server import authenticate
from cairn.ui.page import COOKIE, COOKIE_DAYS, local_path, render

router = APIRouter(include_in_schema=False)


@router.get("/")
def home() -> RedirectResponse:
    """The runs are the first page."""
    return RedirectResponse("/runs", status_code=303)


@router.get("/login")
def login_page(request: Request, next: str = "/") -> Response:
    """The form that takes a token."""
    return render(request, "login.html", {"next": local_path(next), "error": None})


@router.post("/login")
def login(
    request: Request, token: Annotated[str, Form()] = "", next: Annotated[str, Form()] = "/"
) -> Response:
    """Check the token; on success keep it in a cookie and go where the user was going."""
    target = local_path(next)
    try:
        caller = authenticate(request.app.state.store.db, token.strip())
    except AuthenticationError as exc:
        context = {"next": target, "error": str(exc)}
        return render(request, "login.html", context, status=401)
    request.state.caller = caller
    answer = RedirectResponse(target, status_code=303)
    answer.set_cookie(
        COOKIE,
        token.strip(),
        max_age=COOKIE_DAYS * 86_400,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return answer


@router.post("/logout")
def logout() -> Response:
    """Forget the token."""
    answer = RedirectResponse("/login", status_code=303)
    answer.delete_cookie(COOKIE, path="/")
    return answer
