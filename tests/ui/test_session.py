"""Signing in and out, error pages, and who may change what."""

from __future__ import annotations

from typing import Any

from cairn.server import create_token
from cairn.store import get_store
from tests.ui.conftest import http_get, http_post, shot


def test_a_team_server_asks_for_a_token_and_keeps_it_after_sign_in(
    ui_server: Any, page: Any
) -> None:
    """Without a token every page leads to the login page; a good token opens the page asked
    for, a bad one is refused with the reason, and signing out forgets it."""
    token, _ = create_token(get_store().db, "ana", "reader")
    server = ui_server(auth=True)
    page.goto(f"{server.url}/runs?x=1")
    assert "/login" in page.url
    page.fill("#token", "cairn_0000_nope")
    page.click("button[type=submit]")
    assert "not known" in page.locator("[role=alert]").inner_text()
    page.fill("#token", token)
    page.click("button[type=submit]")
    assert page.url.endswith("/runs?x=1")
    assert "ana · reader" in page.locator(".who").inner_text()
    shot(page, "login-done")
    page.click("text=Sign out")
    page.goto(f"{server.url}/runs")
    assert "/login" in page.url


def test_an_unknown_page_is_a_404_page_that_links_back(ui_server: Any, page: Any) -> None:
    """A path the UI does not have answers 404 with a link to the runs; the API keeps JSON."""
    server = ui_server()
    answer = page.goto(f"{server.url}/no/such/page")
    assert answer.status == 404
    assert page.locator("h1").inner_text() == "404 · Not found"
    assert page.locator("a[href='/runs']").count() >= 1
    api = http_get(f"{server.url}/api/v1/nope")
    assert api.status_code == 404 and api.json()["error"]["type"] == "NotFoundError"


def test_the_login_page_only_sends_people_back_to_this_server(ui_server: Any) -> None:
    """A ``next`` that names another site (or a scheme-relative URL) goes home instead."""
    token, _ = create_token(get_store().db, "ana", "reader")
    server = ui_server(auth=True)
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil", "/\t/evil.example"):
        answer = http_post(f"{server.url}/login", data={"token": token, "next": target})
        assert answer.status_code == 303 and answer.headers["location"] == "/"


def test_cairn_server_serves_the_ui_behind_its_login(server_on: Any, project: Any) -> None:
    """A real ``cairn server --auth`` (two workers) sends a page without a token to the login
    page, serves the page with a reader's token, and keeps the API's JSON 401 for the API."""
    server = server_on(f"sqlite:///{project / 'team.db'}", auth=True, workers=2)
    first = http_get(f"{server.url}/runs", follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"].startswith("/login?next=")
    login = http_get(f"{server.url}/login")
    assert login.status_code == 200 and 'name="token"' in login.text
    signed = http_get(
        f"{server.url}/runs.json", headers={"Authorization": f"Bearer {server.admin_token}"}
    )
    assert signed.status_code == 200 and signed.json()["total"] == 0
    api = http_get(f"{server.url}/api/v1/models")
    assert api.status_code == 401 and api.json()["error"]["type"] == "AuthenticationError"
