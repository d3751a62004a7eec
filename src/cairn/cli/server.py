"""``cairn server``: the team server, its tokens and its audit log.

``cairn server [--host] [--port] [--workers]`` serves the API over the configured stores;
``cairn server token ...`` and ``cairn server audit`` act on the same stores directly (run them
where the server's settings are), so the first admin token needs no server running.
"""

from __future__ import annotations

from typing import Annotated

import typer

from cairn.cli._server_admin import add_commands

app = typer.Typer(
    help="Serve the team API and web UI over the stores, with tokens, roles and an audit log.",
    invoke_without_command=True,
)


@app.callback()
def server_command(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host", help="address to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 5000,
    workers: Annotated[int, typer.Option("--workers", min=1, help="processes")] = 1,
    auth: Annotated[
        bool | None,
        typer.Option(
            "--auth/--no-auth",
            help="require tokens (default: on, except on 127.0.0.1)",
            show_default=False,
        ),
    ] = None,
    insecure: Annotated[
        bool, typer.Option("--insecure", help="allow another address than 127.0.0.1 without tokens")
    ] = False,
    access_log: Annotated[
        bool, typer.Option("--access-log", help="log one line per request (stderr)")
    ] = False,
) -> None:
    """Serve the team API and web UI over the stores, with tokens, roles and an audit log.

    Clients set CAIRN_SERVER=http://HOST:PORT and CAIRN_TOKEN; an admin makes tokens with
    `cairn server token create --user NAME --role reader|writer|admin`.
    """
    if ctx.invoked_subcommand is not None:
        return
    from cairn.cli._render import err_console
    from cairn.server.process import decide_auth, run_server
    from cairn.ui.app import create_local_app

    required = decide_auth(host, auth, insecure)
    err_console.print(
        f"cairn server on http://{host}:{port} ({workers} worker{'s' if workers > 1 else ''}, "
        f"{'tokens required' if required else 'no tokens: loopback only'}); the web UI at "
        f"http://{host}:{port}/, API docs at http://{host}:{port}/api/v1/docs",
        highlight=False,
    )
    run_server(
        host,
        port,
        workers=workers,
        auth=required,
        access_log=access_log,
        factory=create_local_app,
    )


add_commands(app)  # token create|ls|revoke, audit
