"""The quickstart's team-mode part: a ``cairn server`` in front of a store of its own, a
"laptop" logging to it with only a URL and a token, the server stopped mid-way (the laptop's
run waits in its spool), and ``cairn sync`` delivering it once the server is back."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from rich.console import Console

from cairn.core.errors import CairnError

CLIENT = """
import json, cairn
with cairn.start_run(name={name!r}, params={{"lr": {lr}}}) as run:
    for step in range(200):
        run.log({{"loss": {lr} / (step + 1)}}, step=step)
    run.log_text("trained on the laptop", "notes.txt")
print(json.dumps({{"run": run.id}}))
"""


def team_mode(target: Path, console: Console, section: Callable[[str, str], None]) -> None:
    """Show client mode and the offline spool against a real ``cairn server``."""
    section(
        "11. team mode: cairn server and a client with a token",
        "One cairn server in front of the team's stores; laptops log with CAIRN_SERVER and "
        "CAIRN_TOKEN only. A write the server cannot take waits in the laptop's spool.",
    )
    server_dir, laptop = target / "team-server", target / "laptop"
    server_dir.mkdir(exist_ok=True)
    laptop.mkdir(exist_ok=True)
    base = {k: v for k, v in os.environ.items() if not k.upper().startswith("CAIRN_")}
    server_env = {**base, "CAIRN_HOME": str(server_dir / ".cairn")}
    cairn = [sys.executable, "-m", "cairn.cli.main"]
    console.print("\n[bold]$ cairn server token create --user ana --role writer[/]")
    token = (
        _run(
            [*cairn, "server", "token", "create", "--user", "ana", "--role", "writer"],
            server_dir,
            server_env,
        )
        .strip()
        .splitlines()[-1]
    )
    console.print(f"{token[:22]}…  [dim](shown once; stored only as a hash)[/]", highlight=False)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    client_env = {
        **base,
        "CAIRN_ROOT": str(laptop),  # a project of its own, outside the quickstart's
        "CAIRN_SERVER": url,
        "CAIRN_TOKEN": token,
        "CAIRN_LOG_FORMAT": "plain",
    }
    console.print(f"[bold]$ cairn server --port {port} --auth &[/]")
    server = _start_server(cairn, port, server_dir, server_env)
    try:
        console.print(f"[bold]$ CAIRN_SERVER={url} CAIRN_TOKEN=… python train.py[/]")
        first = json.loads(
            _run([sys.executable, "-c", CLIENT.format(name="online", lr=0.1)], laptop, client_env)
            .strip()
            .splitlines()[-1]
        )["run"]
        console.print(f"run {first} logged to the server", highlight=False)
    finally:
        _stop(server)
    console.print("\n[bold]the server stops; the laptop trains again[/]")
    second = json.loads(
        _run([sys.executable, "-c", CLIENT.format(name="offline", lr=0.2)], laptop, client_env)
        .strip()
        .splitlines()[-1]
    )["run"]
    spooled = sorted(p.name for p in (laptop / ".cairn" / "spool").glob("*.jsonl"))
    console.print(
        f"run {second}: {len(spooled)} spool file(s) in laptop/.cairn/spool", highlight=False
    )
    server = _start_server(cairn, port, server_dir, server_env)
    try:
        console.print("[bold]$ cairn sync[/]  [dim](the server is back)[/]")
        _run([*cairn, "sync"], laptop, client_env, echo=console)
        console.print("[bold]$ cairn runs ls[/]  [dim](through the server)[/]")
        console.print(
            _run([*cairn, "runs", "ls"], laptop, client_env), highlight=False, markup=False
        )
    finally:
        _stop(server)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _run(command: list[str], cwd: Path, env: dict[str, str], echo: Console | None = None) -> str:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise CairnError(f"{' '.join(command[2:])} failed: {done.stderr[-2000:]}")
    if echo is not None and done.stderr.strip():
        echo.print(done.stderr.strip(), highlight=False, markup=False)
    return done.stdout


def _start_server(
    cairn: list[str], port: int, folder: Path, env: dict[str, str]
) -> subprocess.Popen[str]:
    server = subprocess.Popen(
        [*cairn, "server", "--port", str(port), "--auth"],
        cwd=folder,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_until_up(server, f"http://127.0.0.1:{port}/api/v1/health", "cairn server")
    return server


def wait_until_up(
    server: subprocess.Popen[str], url: str, what: str, *, log: Path | None = None
) -> None:
    """Wait (at most a minute) until ``url`` answers; otherwise stop ``server`` and raise with
    the end of what it said on its piped stderr (or in ``log``)."""
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:  # not listening yet, or answering 503 while it warms up
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            said = _stop(server)
            if log is not None:
                said = log.read_text(errors="replace")
            raise CairnError(f"{what} did not start: {said[-2000:]}")
        time.sleep(0.1)


def _stop(server: subprocess.Popen[str]) -> str:
    """Stop ``server`` (SIGTERM, then SIGKILL after 30 s); what it said on a piped stderr."""
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)
    try:
        _, said = server.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        _, said = server.communicate()
    return said or ""
