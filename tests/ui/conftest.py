"""The web UI over a real server on 127.0.0.1, in Debian's Chromium driven by Playwright.

``ui_server()`` serves ``cairn.ui.create_app`` with uvicorn on a free loopback port, in a thread
of the test's process, over the store the test configured (so a test writes through the Python
API and checks what the page shows). ``page`` is a fresh 1280x800 browser tab; ``shot(page,
name)`` saves a screenshot under ``test-artifacts/ui/``. Chromium is ``/usr/bin/chromium`` (or
``CAIRN_TEST_CHROMIUM``): Playwright's own browser download cannot be reached here. Without it
the browser tests skip, unless CAIRN_TEST_REQUIRE_SERVICES=1 (.ci/run), which fails them.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.server.conftest import server_on  # noqa: F401  (real cairn server processes)

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "ui"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class UiServer:
    """A running UI server: its base URL and the uvicorn server behind it."""

    url: str
    server: Any
    thread: threading.Thread

    def stop(self) -> None:
        """Stop serving and wait for the thread."""
        self.server.should_exit = True
        self.thread.join(15)


@pytest.fixture
def ui_server() -> Iterator[Callable[..., UiServer]]:
    """Start the UI (and API) over the configured store; ``auth=True`` requires tokens."""
    import uvicorn

    from cairn.store import get_store
    from cairn.ui import create_app

    started: list[UiServer] = []

    def start(*, auth: bool = False) -> UiServer:
        app = create_app(auth=auth, store=get_store())
        port = _free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, name="ui-server", daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the UI server did not start")
            time.sleep(0.02)
        running = UiServer(f"http://127.0.0.1:{port}", server, thread)
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()


def _chromium() -> str | None:
    return os.environ.get("CAIRN_TEST_CHROMIUM") or shutil.which("chromium")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium (Debian's), shared by one file's UI tests. Not by the session: while
    Playwright's sync API runs, its event loop counts as running in this thread, so any later
    test of the same worker that calls ``asyncio.run`` would fail."""
    path = _chromium()
    if path is None:
        reason = "Debian's chromium is not installed (apt-get install chromium)"
        if os.environ.get("CAIRN_TEST_REQUIRE_SERVICES") == "1":
            pytest.fail(f"{reason} (CAIRN_TEST_REQUIRE_SERVICES=1 makes this a failure)")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    chromium = playwright.chromium.launch(
        executable_path=path, headless=True, args=["--no-sandbox", "--disable-gpu"]
    )
    yield chromium
    chromium.close()
    playwright.stop()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh tab at 1280x800 (its own cookies); console errors fail the test."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.set_default_timeout(10_000)
    yield tab
    context.close()
    assert not errors, f"the page's scripts failed: {errors}"


@pytest.fixture
def dark_page(browser: Any) -> Iterator[Any]:
    """A fresh tab at 1280x800 in dark mode."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, color_scheme="dark")
    tab = context.new_page()
    tab.set_default_timeout(10_000)
    yield tab
    context.close()


def http_get(url: str, **kwargs: Any) -> Any:
    """``httpx.get`` that waits up to 30 s (the tests share a busy machine)."""
    import httpx

    return httpx.get(url, **{"timeout": 30, **kwargs})


def http_post(url: str, **kwargs: Any) -> Any:
    """``httpx.post`` that waits up to 30 s."""
    import httpx

    return httpx.post(url, **{"timeout": 30, **kwargs})


def shot(page: Any, name: str) -> Path:
    """Save a screenshot of the page as a test artifact; return its path."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    return path
