"""cairn ui: this project's web UI on 127.0.0.1, with no sign-in, until stopped."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import cairn


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAIRN_")}
    env["CAIRN_LOG_FORMAT"] = "plain"
    return env


def test_cairn_ui_serves_the_projects_pages_and_says_where_on_stderr(
    project: Path, quiet_capture: None
) -> None:
    """cairn ui --no-browser serves the runs of this project at the URL it prints (on stderr,
    stdout stays empty) and stops cleanly on SIGINT."""
    with cairn.start_run(name="first-run"):
        cairn.log({"loss": 0.5})
    port = _free_port()
    command = [sys.executable, "-m", "cairn", "ui", "--no-browser", "--port", str(port)]
    with subprocess.Popen(
        command, cwd=project, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as ui:
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/health", timeout=2)
                    break
                except OSError:
                    assert ui.poll() is None, ui.stderr.read() if ui.stderr else ""
                    assert time.monotonic() < deadline, "cairn ui did not answer"
                    time.sleep(0.1)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/runs", timeout=10) as answer:
                body = answer.read().decode()
            ui.send_signal(signal.SIGINT)
            out, err = ui.communicate(timeout=30)
        finally:
            ui.kill()
    assert "first-run" in body
    assert f"cairn ui on http://127.0.0.1:{port}/" in err
    assert out == ""
    assert ui.returncode in (0, 130)  # 130: stopped by Ctrl+C, as the shell reports it


def test_cairn_ui_refuses_an_address_others_can_reach_and_client_mode(project: Path) -> None:
    """cairn ui has no sign-in, so it refuses a non-loopback address; in client mode it
    points at the server's own UI; a port in use is named with how to pick another; each
    exits 1 without a traceback."""
    wide = subprocess.run(
        [sys.executable, "-m", "cairn", "ui", "--no-browser", "--host", "0.0.0.0"],
        cwd=project,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert wide.returncode == 1
    assert "cairn server" in wide.stderr and "Traceback" not in wide.stderr
    env = {**_env(), "CAIRN_SERVER": "http://127.0.0.1:9", "CAIRN_TOKEN": "cairn_ab_cd"}
    client = subprocess.run(
        [sys.executable, "-m", "cairn", "ui", "--no-browser"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert client.returncode == 1
    assert "open its web UI at http://127.0.0.1:9/" in client.stderr
    assert "Traceback" not in client.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        busy = subprocess.run(
            [sys.executable, "-m", "cairn", "ui", "--no-browser", "--port", port],
            cwd=project,
            env=_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert busy.returncode == 1 and "pick another port with --port" in busy.stderr
