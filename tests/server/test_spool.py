"""The offline spool with real processes: a client keeps logging while its server is killed and
restarted, a client started while the server is down exits at once and ``cairn sync`` sends
what it left, refused requests are kept aside, and a client killed mid-write loses no line."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import cairn
from cairn.core.settings import CaptureSettings, configure
from tests.server.conftest import CAIRN, ServerProcess, free_port, server_environment

QUIET = {f.name: False for f in dataclasses.fields(CaptureSettings) if f.type == "bool"}


@pytest.fixture
def down_server(store_url: str, tmp_path: Path) -> Iterator[ServerProcess]:
    """A ``cairn server`` on ``store_url`` that is not started yet (clients find it down)."""
    folder = tmp_path / "server"
    folder.mkdir()
    port = free_port()
    server = ServerProcess(
        f"http://127.0.0.1:{port}",
        port,
        folder,
        server_environment(folder, store_url, None),
        ["--workers", "1"],
        log=folder / "server.log",
    )
    yield server
    server.stop(timeout=10)


def _client_env(server: ServerProcess) -> dict[str, str]:
    """The environment of a client process of ``server`` (no implicit capture)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAIRN_")}
    env.update(
        CAIRN_SERVER=server.url,
        CAIRN_TOKEN=server.admin_token or "",
        CAIRN_CAPTURE=json.dumps(QUIET),
        CAIRN_LOG_FORMAT="plain",
    )
    return env


def _start_client(server: ServerProcess, project: Path, code: str) -> subprocess.Popen[str]:
    """Start a Python client script of ``server`` in ``project`` (stdout piped)."""
    script = project / "client.py"
    script.write_text(textwrap.dedent(code))
    return subprocess.Popen(
        [sys.executable, str(script)],
        cwd=project,
        env=_client_env(server),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _sync(server: ServerProcess, project: Path) -> subprocess.CompletedProcess[str]:
    """``cairn sync`` as a client of ``server``."""
    return subprocess.run(
        [CAIRN, "sync"],
        cwd=project,
        env=_client_env(server),
        capture_output=True,
        text=True,
        timeout=60,
    )


def _spool_files(project: Path) -> list[Path]:
    """The spool files of client processes (not the file of refused requests)."""
    folder = project / ".cairn" / "spool"
    return sorted(p for p in folder.glob("*.jsonl") if p.name != "rejected.jsonl")


def _spooled_points(lines: list[str]) -> dict[str, list[int]]:
    """The metric steps held by spooled batch requests, per key."""
    steps: dict[str, list[int]] = {}
    for line in lines:
        entry = json.loads(line)
        if entry.get("p", "").endswith("/batch"):
            for key, series in entry["b"].get("metrics", {}).items():
                steps.setdefault(key, []).extend(series["steps"])
    return steps


def test_every_point_arrives_once_when_the_server_is_killed_mid_logging(
    store_url: str, server_on: Callable[..., ServerProcess], project: Path
) -> None:
    """A client logging 20,000 points keeps going while its server is SIGKILLed and restarted
    on the same port; every point arrives, none twice (the client ends after the restart: a
    client ending while the server is down leaves the rest to ``cairn sync``)."""
    server = server_on(store_url, auth=True)
    client = _start_client(
        server,
        project,
        """
        import pathlib
        import time
        import cairn

        with cairn.run(params={"points": 20_000}) as run:
            print(run.id, flush=True)
            for step in range(20_000):
                run.log({"x": float(step)}, step=step)
                if step % 500 == 499:
                    time.sleep(0.1)
            while not pathlib.Path("restarted").exists():  # a training outlasting the outage
                time.sleep(0.05)
        """,
    )
    assert client.stdout is not None
    run_id = client.stdout.readline().strip()
    configure(server=server.url, token=server.admin_token)
    deadline = time.monotonic() + 30
    while not (before := cairn.get_run(run_id).metric_history.get("x")):
        assert time.monotonic() < deadline, "no point reached the server"
        time.sleep(0.1)
    server.kill()
    assert len(before) < 20_000
    assert client.poll() is None, "the client finished before the server was killed"
    time.sleep(0.5)
    server.start()
    (project / "restarted").touch()
    _out, err = client.communicate(timeout=60)
    assert client.returncode == 0, err
    record = cairn.get_run(run_id)
    steps = [point.step for point in record.metric_history["x"]]
    assert len(steps) == 20_000
    assert sorted(steps) == list(range(20_000))
    assert record.status == "finished"
    assert _spool_files(project) == []


def test_a_client_of_a_server_that_is_down_spools_and_cairn_sync_sends(
    down_server: ServerProcess, project: Path
) -> None:
    """With the server down, a run's params, points and artifact wait in .cairn/spool and the
    client exits at once (code 0); ``cairn sync`` delivers them, keeps a refused request (a
    param conflict) in rejected.jsonl with the reason, exits 1 saying so, and a second
    ``cairn sync`` finds nothing left."""
    server = down_server
    (project / "weights.bin").write_bytes(os.urandom(100_000))
    client = _start_client(
        server,
        project,
        """
        import time
        import cairn

        with cairn.run(experiment="offline", params={"lr": 0.1}, tags={"where": "train"}) as run:
            for step in range(1_000):
                run.log({"loss": 1 / (step + 1)}, step=step)
            run.log_params({"lr": 0.2})
            run.log_artifact("weights.bin", name="model/weights.bin")
        print(run.id, time.time(), flush=True)
        """,
    )
    out, err = client.communicate(timeout=60)
    exited = time.time()
    assert client.returncode == 0, err
    run_id, done = out.split()
    assert exited - float(done) < 5
    assert "spool" in err
    (spooled,) = _spool_files(project)
    entries = [json.loads(line) for line in spooled.read_text().splitlines()]
    paths = {entry.get("p", "upload" if "upload" in entry else "?") for entry in entries}
    run_path = f"/runs/{run_id}"
    assert {"/runs", f"{run_path}/batch", f"{run_path}/artifacts", f"{run_path}/end"} <= paths
    assert "upload" in paths
    assert len(_spooled_points(spooled.read_text().splitlines())["loss"]) == 1_000
    kept = list((project / ".cairn" / "spool" / "objects").iterdir())
    assert len(kept) == 1 and kept[0].read_bytes() == (project / "weights.bin").read_bytes()

    server.start()
    sent = _sync(server, project)
    assert sent.returncode == 1
    assert "refused 1 spooled request" in sent.stderr and "rejected.jsonl" in sent.stderr
    assert "Traceback" not in sent.stderr
    rejected = (project / ".cairn" / "spool" / "rejected.jsonl").read_text().splitlines()
    assert len(rejected) == 1
    refused = json.loads(rejected[0])
    assert refused["entry"]["b"]["params"] == {"lr": ["0.2", True]}
    assert "already logged" in refused["error"]
    again = _sync(server, project)
    assert again.returncode == 0, again.stderr
    assert "nothing to send" in again.stderr
    assert _spool_files(project) == []
    assert list((project / ".cairn" / "spool" / "objects").iterdir()) == []

    configure(server=server.url)
    record = cairn.get_run(run_id)
    assert record.experiment == "offline"
    assert record.status == "finished"
    assert record.params == {"lr": 0.1}
    assert record.tags["where"] == "train"
    assert [p.step for p in record.metric_history["loss"]] == list(range(1_000))
    out_dir = cairn.tracking.download_artifacts(run_id, "model", project / "download")
    assert (out_dir / "weights.bin").read_bytes() == (project / "weights.bin").read_bytes()


def test_the_spool_survives_a_client_killed_mid_write(
    down_server: ServerProcess, project: Path
) -> None:
    """A client SIGKILLed while spooling leaves its file; a line cut mid-write is never sent;
    ``cairn sync`` with a token the server does not know keeps everything spooled (exit 1,
    saying so), and with the right token delivers every whole line exactly once."""
    server = down_server
    server.args.append("--auth")
    made = subprocess.run(
        [CAIRN, "server", "token", "create", "--user", "admin", "--role", "admin"],
        cwd=server.folder,
        env=server.env,
        capture_output=True,
        text=True,
        check=True,
    )
    token = made.stdout.strip().splitlines()[-1]
    server.admin_token = "cairn_not_a_token_of_this_server"
    client = _start_client(
        server,
        project,
        """
        import time
        import cairn

        run = cairn.start_run(name="killed")
        print(run.id, flush=True)
        step = 0
        while True:
            run.log({"x": float(step)}, step=step)
            step += 1
            if step % 100 == 0:
                time.sleep(0.05)
        """,
    )
    assert client.stdout is not None
    run_id = client.stdout.readline().strip()
    deadline = time.monotonic() + 30
    while sum(len(f.read_text().splitlines()) for f in _spool_files(project)) < 4:
        assert time.monotonic() < deadline, "the client spooled nothing"
        time.sleep(0.1)
    client.send_signal(signal.SIGKILL)
    client.communicate(timeout=30)
    (spooled,) = _spool_files(project)
    text = spooled.read_text()
    whole, last = text[: text.rstrip("\n").rfind("\n") + 1], text.rstrip("\n").rsplit("\n", 1)[1]
    spooled.write_text(whole + last[: len(last) // 2])  # the last line, cut mid-write
    expected = _spooled_points(whole.splitlines())["x"]
    assert expected

    server.start()
    refused = _sync(server, project)
    assert refused.returncode == 1
    assert "token" in refused.stderr and "still in the spool" in refused.stderr
    assert _spool_files(project) == [spooled]
    server.admin_token = token
    sent = _sync(server, project)
    assert sent.returncode == 0, sent.stderr
    assert "the spool is empty" in sent.stderr
    assert not (project / ".cairn" / "spool" / "rejected.jsonl").exists()
    assert _spool_files(project) == []
    configure(server=server.url, token=token)
    record = cairn.get_run(run_id)
    assert record.name == "killed"
    assert [p.step for p in record.metric_history["x"]] == expected
