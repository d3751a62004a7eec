"""``cairn ui``: the web UI of this project, on this machine only."""

from __future__ import annotations

from typing import Annotated

import typer

from cairn.cli._render import err_console, fail


def ui_command(
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="port to listen on")] = 5000,
    host: Annotated[
        str, typer.Option("--host", help="a loopback address (a team uses cairn server)")
    ] = "127.0.0.1",
    browser: Annotated[
        bool, typer.Option("--browser/--no-browser", help="open the UI in a browser")
    ] = True,
) -> None:
    """Open the web UI of this project in a browser: runs, charts, data, models, lineage.

    Serves the project's own stores on 127.0.0.1 with no sign-in (only this machine can
    reach it) until Ctrl+C. A team shares the same UI through `cairn server`, behind tokens.
    """
    from cairn.core.settings import get_settings
    from cairn.server.process import is_loopback, run_server
    from cairn.ui.app import create_local_app

    settings = get_settings()
    if settings.server is not None:
        fail(
            f"this project logs to the cairn server at {settings.server}: open its web UI at "
            f"{settings.server.rstrip('/')}/ (sign in with your token)"
        )
    if not is_loopback(host):
        fail(
            f"cairn ui serves this machine only and has no sign-in, so it binds a loopback "
            f"address, not {host}; share the UI with a team through `cairn server` (tokens)"
        )
    url = f"http://{'[' + host + ']' if ':' in host else host}:{port}/"
    _check_free(host, port)

    def started() -> None:
        err_console.print(f"cairn ui on {url} (Ctrl+C stops it)", highlight=False)
        if browser:
            import webbrowser

            webbrowser.open(url)

    run_server(host, port, auth=False, factory=create_local_app, started=started)


def _check_free(host: str, port: int) -> None:
    """Refuse a port something already listens on, saying how to choose another."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            fail(
                f"cannot listen on {host}:{port} ({exc.strerror or exc}): another cairn ui or "
                "server may be running there; pick another port with --port"
            )
