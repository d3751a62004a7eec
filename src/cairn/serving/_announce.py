"""Saying where the server listens, once it does, and choosing uvicorn's access log."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

from cairn.core.errors import CairnError
from cairn.core.logging import logger


def routes_line(names: Sequence[str]) -> str:
    """The prediction routes of the served models, for the start-up line."""
    routes = [f"POST /v1/models/{name}/predict" for name in names]
    if len(names) == 1:
        routes.append("POST /predict")
    return ", ".join(routes)


def announce(host: str, port: int, names: Sequence[str]) -> None:
    """Log the URL the server answers at, its routes and its docs (stderr, never stdout)."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    if ":" in shown:
        shown = f"[{shown}]"
    url = f"http://{shown}:{port}"
    logger.info("listening at %s (%s; docs at %s/docs; Ctrl-C stops)", url, routes_line(names), url)


def log_config(access_log: bool) -> dict[str, Any]:
    """uvicorn's logging: warnings, plus one access line per request when ``access_log``; all
    on stderr (uvicorn's default sends access lines to stdout, which belongs to pipelines)."""
    import copy

    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["handlers"]["access"]["stream"] = "ext://sys.stderr"
    config["loggers"]["uvicorn"]["level"] = "WARNING"
    config["loggers"]["uvicorn.error"] = {"level": "WARNING"}
    config["loggers"]["uvicorn.access"]["level"] = "INFO" if access_log else "WARNING"
    return config


def run_announced(config: Any, names: Sequence[str]) -> None:
    """``uvicorn.Server(config).run()``, announcing the bound address once it listens (so a
    port in use is never announced, and port 0 shows the port the system chose)."""
    import uvicorn

    class _Server(uvicorn.Server):
        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets=sockets)
            if self.started:
                for server in self.servers:
                    for sock in server.sockets:
                        address = sock.getsockname()
                        announce(str(address[0]), int(address[1]), names)
                        return

    server = _Server(config)
    # Ctrl-C is how a server is stopped: a clean exit, as under uvicorn.run.
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    if not server.started:
        raise CairnError(
            f"the server could not start on {config.host}:{config.port} (the reason is logged "
            "above); if the port is in use, choose another with --port"
        )
