"""Tracking in client mode against real ``cairn server`` processes, on both stores: runs,
params, tags, metrics, searches, artifacts (on S3 behind the server) and the CLI."""

from __future__ import annotations

import json
import math
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

import cairn
from cairn.core.errors import ParamConflictError, RunNotFoundError
from cairn.core.settings import configure
from cairn.store import get_store
from tests.records import own_artifacts, own_metrics
from tests.server.conftest import CAIRN, ServerProcess

pytestmark = pytest.mark.usefixtures("quiet_capture")


def _own(tags: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in tags.items() if not k.startswith("cairn.")}


def _populate() -> list[str]:
    """Four finished runs in two experiments, with params, tags and metrics to search."""
    ids = []
    for i, (lr, optim) in enumerate([(0.1, "adam"), (0.01, "sgd"), (0.001, "adam"), (0.5, "sgd")]):
        with cairn.run(
            name=f"r{i}",
            experiment="search" if i < 3 else "other",
            params={"lr": lr, "optim": {"name": optim}},
            tags={"idx": str(i)},
        ) as run:
            cairn.log({"auc": 0.5 + i / 10, "loss": 1.0 - i / 10})
        ids.append(run.id)
    return ids


def _client_cli(
    server: ServerProcess, project: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    """Run the ``cairn`` CLI as a client of ``server`` in a subprocess."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAIRN_")}
    env.update(CAIRN_SERVER=server.url, CAIRN_TOKEN=server.admin_token or "", COLUMNS="200")
    return subprocess.run(
        [CAIRN, *args], cwd=project, env=env, capture_output=True, text=True, timeout=60
    )


def test_runs_params_tags_and_metrics_round_trip(
    store_url: str, server_on: Callable[..., ServerProcess]
) -> None:
    """Nested runs, params (a conflict refused at the call), replaced tags, explicit and
    implicit steps, NaN and infinities come back from the server as they were logged."""
    server = server_on(store_url, auth=True)
    configure(server=server.url, token=server.admin_token)
    with cairn.run(experiment="sweeps", params={"lr": 0.1}, tags={"stage": "dev"}) as parent:
        with cairn.run(name="child") as child:
            cairn.log_params({"optim": {"name": "adam", "beta": 0.9}})
            cairn.log_params({"optim": {"name": "adam"}})  # the same value again is fine
            with pytest.raises(ParamConflictError, match="already logged"):
                cairn.log_params({"optim": {"name": "sgd"}})
            cairn.set_tags({"stage": "prod", "owner": 7})
            for _ in range(3):
                cairn.log({"loss": 0.5})
            cairn.log({"auc": 0.7}, step=10)
            cairn.log({"auc": 0.9}, step=30)
            cairn.log({"auc": float("nan")}, step=5)
            cairn.log({"inf": float("inf"), "ninf": float("-inf")}, step=1)
        assert cairn.active_run() is parent
    record = cairn.get_run(child.id[:10])
    assert record.id == child.id
    assert record.parent_id == parent.id
    assert record.experiment == "sweeps"
    assert record.status == "finished"
    assert record.params == {"lr": 0.1, "optim.beta": 0.9, "optim.name": "adam"}  # lr: inherited
    assert _own(record.tags) == {"owner": "7", "stage": "prod"}
    assert [p.step for p in record.metric_history["loss"]] == [0, 1, 2]
    assert [p.step for p in record.metric_history["auc"]] == [10, 30, 5]
    assert math.isnan(record.metric_history["auc"][-1].value)
    assert own_metrics(record)["auc"] == 0.9
    assert record.metrics["inf"] == math.inf and record.metrics["ninf"] == -math.inf
    assert cairn.get_run(parent.id).params == {"lr": 0.1}
    with pytest.raises(RunNotFoundError):
        cairn.get_run("nosuchrun0000")


def test_searches_go_through_the_server(
    store_url: str, server_on: Callable[..., ServerProcess], project: Path
) -> None:
    """search_runs and find_runs apply filters, order_by, experiment and limit on the server;
    ``cairn runs ls`` and ``runs show`` read the server's runs, and a command not offered
    through a server (``cairn gc``) says so and exits 1, without a traceback."""
    server = server_on(store_url, auth=True)
    configure(server=server.url, token=server.admin_token)
    ids = _populate()
    assert list(cairn.search_runs()["run_id"]) == list(reversed(ids))
    frame = cairn.search_runs("metrics.auc > 0.55 AND params.optim.name = 'adam'")
    assert list(frame["run_id"]) == [ids[2]]
    frame = cairn.search_runs("params.lr < 0.2", order_by=["metrics.auc ASC"])
    assert list(frame["run_id"]) == [ids[0], ids[1], ids[2]]
    frame = cairn.search_runs(experiment="search", order_by="params.lr DESC", limit=2)
    assert list(frame["run_id"]) == [ids[0], ids[1]]
    found = cairn.tracking.find_runs("tags.idx IN ('1', '3') OR run_name = 'r0'", ["name"])
    assert [r.name for r in found] == ["r0", "r1", "r3"]
    assert [r.id for r in cairn.tracking.find_runs(experiment="other")] == [ids[3]]
    assert cairn.search_runs("metrics.auc > 5").empty

    listed = _client_cli(server, project, "runs", "ls", "--format", "json")
    assert listed.returncode == 0, listed.stderr
    assert {item["run_id"] for item in json.loads(listed.stdout)} == set(ids)
    shown = _client_cli(server, project, "runs", "show", ids[1][:10])
    assert shown.returncode == 0, shown.stderr
    assert ids[1] in shown.stdout and "sgd" in shown.stdout and "auc" in shown.stdout
    refused = _client_cli(server, project, "gc")
    assert refused.returncode == 1
    assert "not offered through a cairn server" in refused.stderr
    assert "Traceback" not in refused.stderr + refused.stdout


def _counting(requests: list[tuple[str, str]]) -> None:
    """Record each request the client's session sends (method, path)."""
    session = get_store().remote
    assert session is not None

    def hook(request: httpx.Request) -> None:
        requests.append((request.method, request.url.path))

    session._http().event_hooks["request"].append(hook)


def test_artifacts_round_trip_and_are_uploaded_once(
    store_url: str,
    server_on: Callable[..., ServerProcess],
    s3_bucket: tuple[str, dict[str, Any]],
    project: Path,
) -> None:
    """A folder, a dict and a text reach the server's S3 store and download byte for byte;
    logging the same bytes again (another run) asks the server and sends no bytes."""
    server = server_on(store_url, artifacts=s3_bucket, auth=True)
    configure(server=server.url, token=server.admin_token)
    requests: list[tuple[str, str]] = []
    _counting(requests)
    folder = project / "report"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("a")
    (folder / "sub" / "b.bin").write_bytes(os.urandom(300_000))
    with cairn.run() as run:
        cairn.log_artifact(folder, name="reports/final")
        cairn.log_text("hello", "notes/hello.txt")
        cairn.log_dict({"k": [1, 2]}, "config.json")
    record = cairn.get_run(run.id)
    assert own_artifacts(record) == [
        "config.json",
        "notes/hello.txt",
        "reports/final/a.txt",
        "reports/final/sub/b.bin",
    ]
    puts = [path for method, path in requests if method == "PUT"]
    assert len(puts) == 4
    out = cairn.tracking.download_artifacts(run.id, dest=project / "download")
    assert (out / "reports/final/sub/b.bin").read_bytes() == (folder / "sub/b.bin").read_bytes()
    assert (out / "reports/final/a.txt").read_text() == "a"
    assert json.loads((out / "config.json").read_text()) == {"k": [1, 2]}
    assert (out / "notes/hello.txt").read_text() == "hello"
    import boto3  # type: ignore[import-untyped]

    url, options = s3_bucket
    bucket = url.removeprefix("s3://").split("/")[0]
    s3 = boto3.client("s3", endpoint_url=options["client_kwargs"]["endpoint_url"])
    stored = s3.list_objects_v2(Bucket=bucket).get("Contents", [])
    assert len(stored) >= 4

    requests.clear()
    with cairn.run() as again:
        cairn.log_artifact(folder, name="copy")
        cairn.log_text("hello", "notes/hello.txt")
    assert [m for m, _ in requests if m == "PUT"] == []
    assert sum(1 for m, p in requests if p.endswith("/artifacts/missing")) == 3
    assert own_artifacts(cairn.get_run(again.id)) == [
        "copy/a.txt",
        "copy/sub/b.bin",
        "notes/hello.txt",
    ]
    assert len(s3.list_objects_v2(Bucket=bucket).get("Contents", [])) == len(stored)
