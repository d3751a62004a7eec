"""Running the server: one uvicorn process, or a supervisor and N worker processes.

With several workers the supervisor binds the socket once and starts each worker (spawned, so
no store connection is inherited) with the same listening socket, as uvicorn's own supervisor
does; each worker builds its app from the same settings, so they behave as one server. On
SIGTERM or SIGINT every worker stops accepting, finishes the requests in flight (up to
``GRACE_S``) and exits; the supervisor waits for them.
"""

from __future__ import annotations

import contextlib
import ipaddress
import multiprocessing
import os
import signal
import socket
from collections.abc import Callable
from typing import Any

from cairn.core.errors import ConfigError
from cairn.core.logging import logger

GRACE_S = 30


def is_loopback(host: str) -> bool:
    """Whether ``host`` names only this machine (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def decide_auth(host: str, auth: bool | None, insecure: bool) -> bool:
    """Whether tokens are required: off by default only on loopback; elsewhere only
    ``--insecure`` turns them off."""
    if auth is True and insecure:
        raise ConfigError("--auth and --insecure contradict each other; choose one")
    if auth is not None:
        if auth is False and not is_loopback(host) and not insecure:
            raise ConfigError(
                f"binding {host} without tokens would let anyone on the network read and write; "
                "add --insecure if that is really meant"
            )
        return auth
    if is_loopback(host):
        return False
    return not insecure


def _config(app: Any, host: str, port: int, access_log: bool) -> Any:
    import uvicorn

    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="info" if access_log else "warning",
        access_log=access_log,
        timeout_graceful_shutdown=GRACE_S,
        limit_concurrency=None,
    )


def _api_app(auth: bool) -> Any:
    from cairn.server.app import create_app

    return create_app(auth=auth)


def run_server(
    host: str,
    port: int,
    *,
    workers: int = 1,
    auth: bool = True,
    access_log: bool = False,
    factory: Callable[[bool], Any] = _api_app,
    started: Callable[[], None] | None = None,
) -> None:
    """Serve the app ``factory(auth)`` builds (the API by default) until SIGTERM or SIGINT
    (blocking); ``factory`` must be a module-level function, as each worker process calls it.
    ``started`` is called once the server listens (one process only)."""
    import uvicorn

    if workers <= 1:
        server = uvicorn.Server(_config(factory(auth), host, port, access_log))
        if started is not None:
            _when_listening(server, started)
        server.run()
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    context = multiprocessing.get_context("spawn")
    children = [
        context.Process(
            target=_worker, args=(sock, host, port, auth, access_log, factory), daemon=False
        )
        for _ in range(workers)
    ]
    for child in children:
        child.start()

    def forward(signum: int, _frame: Any) -> None:
        for child in children:
            if child.is_alive() and child.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child.pid, signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    for child in children:
        child.join()
    sock.close()
    # uvicorn re-raises the stop signal once it has drained: -SIGTERM is a clean stop.
    clean = {0, None, -signal.SIGTERM, -signal.SIGINT}
    failed = [child.exitcode for child in children if child.exitcode not in clean]
    if failed:
        logger.warning("%d server worker(s) exited with an error: %s", len(failed), failed)


def _when_listening(server: Any, started: Callable[[], None]) -> None:
    """Call ``started`` from a thread once ``server`` has started listening."""
    import threading
    import time

    def wait() -> None:
        while not server.started and not server.should_exit:
            time.sleep(0.05)
        if server.started:
            started()

    threading.Thread(target=wait, name="cairn-started", daemon=True).start()


def _worker(
    sock: socket.socket,
    host: str,
    port: int,
    auth: bool,
    access_log: bool,
    factory: Callable[[bool], Any],
) -> None:
    import uvicorn

    uvicorn.Server(_config(factory(auth), host, port, access_log)).run(sockets=[sock])
