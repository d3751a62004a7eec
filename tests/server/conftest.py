"""Real ``cairn server`` processes on 127.0.0.1 for client-mode tests.

``server_on(store_url, artifacts=..., auth=...)`` starts ``cairn server`` in a project folder
of its own (its store named by the environment of that process only), waits for its health
route, and returns a ``ServerProcess`` (URL, the process, an admin token when auth is on). The
test's own process then acts as a client: ``configure(server=url, token=...)``. Every server
started is stopped (SIGTERM, then SIGKILL) when the test ends.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

CAIRN = str(Path(sys.executable).with_name("cairn"))


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ServerProcess:
    """A running ``cairn server``: where it listens, its process and environment."""

    url: str
    port: int
    folder: Path
    env: dict[str, str]
    args: list[str]
    process: subprocess.Popen[bytes] | None = None
    admin_token: str | None = None
    log: Path = field(default_factory=Path)

    def start(self) -> None:
        """Start (or restart) the process and wait until it answers."""
        out = open(self.log, "ab")  # noqa: SIM115  (closed with the process)
        self.process = subprocess.Popen(
            [CAIRN, "server", "--port", str(self.port), *self.args],
            cwd=self.folder,
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        out.close()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"cairn server exited: {self.log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/api/v1/health", timeout=2) as answer:
                    if json.loads(answer.read())["status"] == "ok":
                        return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"cairn server did not answer: {self.log.read_text()[-3000:]}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int | None:
        """Stop the process with ``sig`` (SIGKILL after ``timeout``); return its exit code."""
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(10)

    def kill(self) -> None:
        """SIGKILL the process (no drain, no goodbye)."""
        self.stop(signal.SIGKILL)


def server_environment(
    folder: Path, store_url: str, artifacts: tuple[str, dict[str, Any]] | None
) -> dict[str, str]:
    """The environment of a server process: its store only, no client settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAIRN_")}
    env["CAIRN_STORE"] = store_url
    env["CAIRN_HOME"] = str(folder / ".cairn")
    if artifacts is not None:
        url, options = artifacts
        env["CAIRN_ARTIFACTS"] = url
        env["CAIRN_ARTIFACTS_OPTIONS"] = json.dumps(options)
    env["CAIRN_LOG_FORMAT"] = "plain"
    return env


@pytest.fixture
def server_on(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Start ``cairn server`` processes; each is stopped when the test ends."""
    started: list[ServerProcess] = []

    def start(
        store_url: str,
        *,
        artifacts: tuple[str, dict[str, Any]] | None = None,
        auth: bool = False,
        workers: int = 1,
        name: str | None = None,
        access_log: bool = False,
    ) -> ServerProcess:
        folder = tmp_path / (name or f"server-{len(started)}")
        folder.mkdir(parents=True, exist_ok=True)
        env = server_environment(folder, store_url, artifacts)
        token = None
        if auth:
            made = subprocess.run(
                [CAIRN, "server", "token", "create", "--user", "admin", "--role", "admin"],
                cwd=folder,
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            token = made.stdout.strip().splitlines()[-1]
        port = free_port()
        args = ["--workers", str(workers), *(["--auth"] if auth else [])]
        args += ["--access-log"] if access_log else []
        server = ServerProcess(
            f"http://127.0.0.1:{port}", port, folder, env, args, log=folder / "server.log"
        )
        server.admin_token = token
        started.append(server)
        server.start()
        return server

    yield start
    for server in started:
        server.stop(timeout=10)
