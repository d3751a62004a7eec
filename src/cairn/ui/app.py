"""The web UI: ``create_app`` is the team server's app with the pages mounted beside the API.

Pages are rendered on the server (Jinja2 templates, htmx for in-place edits, uPlot for charts,
Cytoscape.js for the lineage graph; decision 0019). Every page also answers as JSON at the same
path with ``.json`` appended, which is what the charts and the tests read. The pages call the
same capability functions the CLI calls, over the server's stores; writes (descriptions, alias
moves, deletions) go through the same audited path as the API's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cairn.core.settings import Settings
from cairn.store import Store

if TYPE_CHECKING:
    from fastapi import FastAPI


def create_app(
    settings: Settings | None = None, *, auth: bool = True, store: Store | None = None
) -> FastAPI:
    """The API (``/api/v1``) and the web UI (every other path) over the stores ``settings``
    name; ``auth=False`` lets everyone in as an admin (only for a server on 127.0.0.1)."""
    from pathlib import Path

    from fastapi.staticfiles import StaticFiles

    from cairn.server import create_app as create_api_app
    from cairn.ui import page
    from cairn.ui.views import ROUTERS

    app = create_api_app(settings, auth=auth, store=store)
    static = Path(__file__).with_name("static")
    app.mount("/static", StaticFiles(directory=static), name="static")
    page.install(app)
    for router in ROUTERS:
        app.include_router(router)
    return app


def create_local_app(auth: bool) -> Any:
    """``create_app`` over the settings of this process (what each server worker builds)."""
    return create_app(auth=auth)
