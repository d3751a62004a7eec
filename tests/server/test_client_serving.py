"""The prediction log of a ``cairn serve`` running as a client of a real ``cairn server``, on
both stores: sealed files are uploaded and listed on the server (once each), wait in the
client's spool while the server is down, and are read there by monitoring's readers."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cairn.core.errors import ArtifactNotFoundError, InvalidInputError, PermissionDeniedError
from cairn.core.settings import configure
from cairn.serving import read_prediction_log
from cairn.serving.prediction_log import LoggedBatch, PredictionLog
from cairn.store import Store, get_store, reset_store
from tests.server.conftest import CAIRN, ServerProcess


def _batch(n: int, start: int = 0, model: str = "m") -> LoggedBatch:
    return LoggedBatch(
        model,
        1,
        [{"x": float(i)} for i in range(start, start + n)],
        [i * 2 for i in range(start, start + n)],
        [f"r{i}" for i in range(start, start + n)],
        [False] * n,
    )


def _token(server: ServerProcess, role: str) -> str:
    made = subprocess.run(
        [CAIRN, "server", "token", "create", "--user", f"svc-{role}", "--role", role],
        cwd=server.folder,
        env=server.env,
        capture_output=True,
        text=True,
        check=True,
    )
    return made.stdout.strip().splitlines()[-1]


def _serve(
    store_url: str, server_on: Callable[..., ServerProcess], project: Path
) -> tuple[ServerProcess, str]:
    """A server with its artifacts in ``project/server-artifacts``, and this process its
    client with a writer's token."""
    server = server_on(store_url, artifacts=(str(project / "server-artifacts"), {}), auth=True)
    token = _token(server, "writer")
    configure(server=server.url, token=token)
    return server, token


def _servers_store(store_url: str, project: Path) -> Store:
    """The server's stores, opened directly (as the server and monitoring read them)."""
    reset_store()
    configure()
    configure(store=store_url, artifacts=str(project / "server-artifacts"))
    return get_store()


def _log_and_close(batches: list[LoggedBatch]) -> None:
    log = PredictionLog()
    log.start()
    for batch in batches:
        assert log.append(batch)
    log.close()
    assert log.health is None


def test_a_clients_log_is_listed_on_the_server_and_read_by_monitoring(
    store_url: str, server_on: Callable[..., ServerProcess], project: Path
) -> None:
    """Rows a client logs are sealed, uploaded and listed on the server; read_prediction_log
    and monitoring's reader of log files see every row there; nothing stays on the client."""
    _serve(store_url, server_on, project)
    _log_and_close([_batch(10, start=i * 10) for i in range(5)])
    session = get_store().remote
    assert session is not None and session.spool.own_pending() == 0
    assert list((project / ".cairn" / "spool" / "predictions").iterdir()) == []

    store = _servers_store(store_url, project)
    frame = read_prediction_log("m")
    assert frame["x"].tolist() == [float(i) for i in range(50)]
    assert frame["_prediction"].tolist() == [2 * i for i in range(50)]
    from cairn.monitoring._log_scan import file_batches, log_files, logged_versions

    (listed,) = log_files(store, "m", None)
    assert (listed.version, listed.rows) == (1, 50)
    assert logged_versions(store, "m") == [1]
    seen = [v for batch, _ in file_batches(store.artifacts, listed.digest, ["x"]) for v in
            batch.column("x").to_pylist()]  # fmt: skip
    assert seen == [float(i) for i in range(50)]


def test_files_wait_in_the_spool_while_the_server_is_down_and_are_listed_once(
    store_url: str, server_on: Callable[..., ServerProcess], project: Path
) -> None:
    """A log sealed while the server is down raises nothing and keeps its file in the spool;
    once the server answers it is listed, and registering it again lists nothing new."""
    server, _token_ = _serve(store_url, server_on, project)
    server.stop()
    _log_and_close([_batch(7)])
    session = get_store().remote
    assert session is not None and session.spool.own_pending() == 2  # the file, its listing
    server.start()
    assert session.drain(30) == 0
    store = _servers_store(store_url, project)
    from cairn.monitoring._log_scan import log_files

    (listed,) = log_files(store, "m", None)
    assert listed.rows == 7
    reset_store()
    configure()
    configure(server=server.url, token=_token_)
    again = {"model": "m", "version": 1, "day": "2026-01-01", "digest": listed.digest}
    remote = get_store().remote
    assert remote is not None
    assert remote.call("POST", "/prediction-logs", again) == {"recorded": False}
    assert read_prediction_log_on_server(store_url, project)["x"].tolist() == [
        float(i) for i in range(7)
    ]


def read_prediction_log_on_server(store_url: str, project: Path, model: str = "m") -> Any:
    """``read_prediction_log(model)`` on the server's stores."""
    _servers_store(store_url, project)
    return read_prediction_log(model)


KILLED_CLIENT = """
import os
from cairn.serving.prediction_log import LoggedBatch, PredictionLog
log = PredictionLog(seal_after_s=3600)
log.start()
for i in range(3):
    log.append(LoggedBatch("k", 2, [{"x": float(i)}], [i], [f"r{i}"], [False]))
while log.written_rows < 3:
    pass
os._exit(9)  # killed: no close, no seal
"""


def test_a_killed_clients_spool_is_sent_by_the_next_log(
    store_url: str, server_on: Callable[..., ServerProcess], project: Path
) -> None:
    """Rows a killed client served had fsynced are sealed and listed on the server when the
    next log starts in client mode."""
    server, token = _serve(store_url, server_on, project)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAIRN_")}
    env.update(CAIRN_HOME=str(project / ".cairn"), CAIRN_SERVER=server.url, CAIRN_TOKEN=token)
    done = subprocess.run([sys.executable, "-c", KILLED_CLIENT], env=env, timeout=60)
    assert done.returncode == 9
    _log_and_close([])
    frame = read_prediction_log_on_server(store_url, project, "k")
    assert frame["x"].tolist() == [0.0, 1.0, 2.0]
    assert frame["_version"].tolist() == [2, 2, 2]


def test_the_server_lists_only_sealed_log_files_from_writers(
    store_url: str, server_on: Callable[..., ServerProcess], project: Path
) -> None:
    """A file not uploaded, an object that is no Parquet log, a bad day and a reader's
    registration are refused with the server's error."""
    server, _ = _serve(store_url, server_on, project)
    remote = get_store().remote
    assert remote is not None
    body = {"model": "m", "version": 1, "day": "2026-01-01", "digest": "blake3:" + "0" * 64}
    with pytest.raises(ArtifactNotFoundError, match="upload it first"):
        remote.call("POST", "/prediction-logs", body)
    body["digest"] = get_store().artifacts.put_bytes(b"not parquet").digest
    with pytest.raises(InvalidInputError, match="not a readable Parquet"):
        remote.call("POST", "/prediction-logs", body)
    with pytest.raises(InvalidInputError, match="YYYY-MM-DD"):
        remote.call("POST", "/prediction-logs", {**body, "day": "2026-13-45"})
    reset_store()
    configure(server=server.url, token=_token(server, "reader"))
    reader = get_store().remote
    assert reader is not None
    with pytest.raises(PermissionDeniedError, match="writer"):
        reader.call("POST", "/prediction-logs", body)
