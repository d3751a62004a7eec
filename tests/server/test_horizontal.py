"""Several server processes over one PostgreSQL behave as one server: two ``cairn server``
processes share runs, batches and artifacts; ``--workers 2`` answers many requests at once;
SIGTERM lets an upload in flight finish before the server exits 0 (PostgreSQL only)."""

from __future__ import annotations

import os
import secrets
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

import cairn
from cairn.core.hashing import StreamingHasher
from cairn.core.ids import now_ms
from cairn.core.settings import configure
from cairn.store.artifacts.store import ArtifactStore
from cairn.tracking import RunRecord
from tests.server.conftest import ServerProcess, free_port, server_environment

pytestmark = pytest.mark.postgres

API = "/api/v1"
RUNS = 60  # runs made through the workers at once, three requests each


def _client(server: ServerProcess, token: str | None) -> httpx.Client:
    """A plain HTTP client of ``server`` with ``token``."""
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=f"{server.url}{API}", headers=headers, timeout=60)


@pytest.fixture
def second_server(postgres_url: str, tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Start a second ``cairn server --auth`` on the same stores as another (no token of its
    own: it knows the tokens of the shared database); stopped when the test ends."""
    started: list[ServerProcess] = []

    def start(artifacts: tuple[str, dict[str, Any]]) -> ServerProcess:
        folder = tmp_path / "second"
        folder.mkdir()
        port = free_port()
        server = ServerProcess(
            f"http://127.0.0.1:{port}",
            port,
            folder,
            server_environment(folder, postgres_url, artifacts),
            ["--auth"],
            log=folder / "server.log",
        )
        started.append(server)
        server.start()
        return server

    yield start
    for server in started:
        server.stop(timeout=10)


def _summary(record: RunRecord) -> dict[str, Any]:
    """What two servers must agree on about a run."""
    return {
        "status": record.status,
        "params": record.params,
        "tags": record.tags,
        "metrics": record.metrics,
        "history": {k: [(p.step, p.value) for p in v] for k, v in record.metric_history.items()},
        "artifacts": [(a.path, a.digest) for a in record.artifacts],
    }


def test_two_servers_over_one_database_behave_as_one(
    postgres_url: str,
    server_on: Callable[..., ServerProcess],
    second_server: Callable[..., ServerProcess],
    tmp_path: Path,
    quiet_capture: None,
) -> None:
    """A run created through server A gets batches through server B, a batch key sent to both is
    applied once, A's token works on B, and reads through either server agree."""
    shared: tuple[str, dict[str, Any]] = (str(tmp_path / "shared-artifacts"), {})
    a = server_on(postgres_url, artifacts=shared, auth=True, name="a")
    b = second_server(shared)
    assert httpx.get(f"{b.url}{API}/runs/{'0' * 26}").status_code == 401
    configure(server=a.url, token=a.admin_token)
    with cairn.run(params={"lr": 0.1}) as run:
        run.log({"loss": 0.5}, step=0)
        run.log_text("from a", "notes/a.txt")
    with _client(b, a.admin_token) as via_b, _client(a, a.admin_token) as via_a:
        batch = {
            "key": secrets.token_hex(16),
            "metrics": {"loss": {"steps": [1, 2], "ts": [now_ms()] * 2, "values": [0.4, 0.3]}},
            "tags": {"via": "b"},
        }
        first = via_b.post(f"/runs/{run.id}/batch", json=batch)
        assert first.status_code == 200, first.text
        assert first.json() == {"applied": True}
        again = via_a.post(f"/runs/{run.id}/batch", json=batch)
        assert again.json() == {"applied": False}
        both = list(
            ThreadPoolExecutor(2).map(
                lambda c: c.post(f"/runs/{run.id}/batch", json={**batch, "key": "same-key"}),
                [via_a, via_b],
            )
        )
        assert sorted(r.json()["applied"] for r in both) == [False, True]
    through_a = cairn.get_run(run.id)
    configure(server=b.url, token=a.admin_token)
    through_b = cairn.get_run(run.id)
    assert _summary(through_a) == _summary(through_b)
    assert [p.step for p in through_b.metric_history["loss"]] == [0, 1, 2, 1, 2]
    assert through_b.tags["via"] == "b"
    out = cairn.tracking.download_artifacts(run.id, "notes", tmp_path / "download")
    assert (out / "a.txt").read_text() == "from a"


def _slow_upload(
    url: str, size_mb: int, halfway: threading.Event
) -> tuple[str, Callable[[], httpx.Response]]:
    """A ``size_mb`` MB body streamed slowly: its digest, and a function sending it."""
    chunk = os.urandom(1 << 20)
    hasher = StreamingHasher()
    for _ in range(size_mb):
        hasher.update(chunk)
    digest = hasher.digest

    def body() -> Iterator[bytes]:
        for index in range(size_mb):
            if index == size_mb // 4:
                halfway.set()
            time.sleep(0.01)
            yield chunk

    def send() -> httpx.Response:
        return httpx.put(f"{url}{API}/artifacts/{digest}", content=body(), timeout=120)

    return digest, send


@pytest.mark.exclusive  # a 200 MB upload must finish inside the drain's grace period
def test_workers_answer_together_and_sigterm_lets_an_upload_finish(
    postgres_url: str, server_on: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    """``--workers 2`` runs two worker processes that answer 180 concurrent requests without an
    error; SIGTERM during a slow 200 MB upload lets it finish (200, stored) and the server
    exits 0."""
    store_dir = tmp_path / "artifacts"
    server = server_on(postgres_url, artifacts=(str(store_dir), {}), workers=2)
    assert server.process is not None
    children = psutil.Process(server.process.pid).children()
    assert sum("spawn_main" in " ".join(child.cmdline()) for child in children) == 2

    def work(index: int) -> int:
        uid = f"w{index:04d}{secrets.token_hex(8)}"
        with httpx.Client(base_url=f"{server.url}{API}", timeout=60) as http:
            run = {"uid": uid, "experiment": "load", "name": f"r{index}", "start_ms": now_ms()}
            codes = [http.post("/runs", json=run).status_code]
            batch = {"key": uid, "metrics": {"m": {"steps": [0], "ts": [now_ms()], "values": [1]}}}
            codes.append(http.post(f"/runs/{uid}/batch", json=batch).status_code)
            codes.append(http.get(f"/runs/{uid}").status_code)
        assert codes == [201, 200, 200], codes
        return index

    with ThreadPoolExecutor(16) as pool:
        assert sorted(pool.map(work, range(RUNS))) == list(range(RUNS))
    with httpx.Client(base_url=f"{server.url}{API}", timeout=60) as http:
        found = http.post("/runs/search", json={"experiment": ["load"]}).json()["runs"]
    assert len(found) == RUNS

    halfway = threading.Event()
    digest, send = _slow_upload(server.url, 200, halfway)
    answers: list[httpx.Response] = []
    upload = threading.Thread(target=lambda: answers.append(send()))
    upload.start()
    assert halfway.wait(60)
    server.process.send_signal(signal.SIGTERM)
    upload.join(120)
    assert answers and answers[0].status_code == 200, answers and answers[0].text
    assert answers[0].json() == {"digest": digest, "size": 200 << 20, "stored": True}
    assert server.process.wait(60) == 0
    assert ArtifactStore(str(store_dir)).exists(digest)
