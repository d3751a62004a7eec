"""cairn serve on the command line: it says where it listens and can log every request."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

import cairn


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_prints_its_url_and_logs_requests_with_access_log(
    project: Path, quiet_capture: None
) -> None:
    """cairn serve logs its URL once it listens (stderr, not stdout); --access-log logs each
    request."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    x = pd.DataFrame({"age": rng.integers(18, 90, 40), "income": rng.normal(5e4, 9e3, 40)})
    model = LogisticRegression(max_iter=500).fit(x, (x["income"] > 5e4).astype(int))
    with cairn.run():
        cairn.log_model(model, "churn", input_example=x.head(3))
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAIRN_")}
    env["CAIRN_LOG_FORMAT"] = "plain"
    command = [sys.executable, "-m", "cairn", "serve", "models:/churn/1", "--port", str(port)]
    with subprocess.Popen(
        [*command, "--no-log", "--access-log"],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as server:
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(server.stderr or []), daemon=True)
        reader.start()
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_for(lambda: any("listening at" in line for line in lines), server, lines)
            [listening] = [line for line in lines if "listening at" in line]
            assert f"listening at {url}" in listening and "/v1/models/churn/predict" in listening
            with urllib.request.urlopen(f"{url}/healthz", timeout=10) as answer:
                assert answer.status == 200
            _wait_for(lambda: any("GET /healthz" in line for line in lines), server, lines)
        finally:
            server.terminate()
            out, _ = server.communicate(timeout=30)
    assert out == ""  # cairn's and uvicorn's lines never reach stdout


def _wait_for(
    condition: Callable[[], bool], server: subprocess.Popen[str], lines: list[str]
) -> None:
    """Wait up to 90 s for ``condition`` while the server runs."""
    deadline = time.monotonic() + 90
    while not condition():
        assert server.poll() is None and time.monotonic() < deadline, "".join(lines)
        time.sleep(0.05)
