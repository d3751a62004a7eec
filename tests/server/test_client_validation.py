"""Validation in client mode against real ``cairn server`` processes, on both stores: suites
saved and loaded through the server, checks run on the client's data and recorded there
(once, even when replayed from the spool), and ``cairn validate`` as a client."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import cairn
from cairn import validation
from cairn.core.errors import (
    ArtifactNotFoundError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
)
from cairn.core.hashing import hash_bytes
from cairn.core.settings import configure
from cairn.store import get_store, reset_store
from tests.server.conftest import CAIRN, ServerProcess

pytestmark = pytest.mark.usefixtures("quiet_capture")


def _table(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame: pd.DataFrame = pd.DataFrame(
        {"age": rng.integers(18, 90, n), "city": rng.choice(["paris", "lyon"], n)}
    )
    return frame


def _serve_with_dataset(
    store_url: str, server_on: Callable[..., ServerProcess], project: Path
) -> ServerProcess:
    """A server whose store holds dataset ``cust`` v1 (added where the stores are, before
    this process turns client), and this process configured as its client."""
    artifacts = project / "server-artifacts"
    raw = project / "raw"
    raw.mkdir()
    _table(2000, 1).to_parquet(raw / "t.parquet", index=False)
    configure(store=store_url, artifacts=str(artifacts))
    cairn.data.add(raw, "cust")
    reset_store()
    server = server_on(store_url, artifacts=(str(artifacts), {}), auth=True)
    configure(server=server.url, token=server.admin_token)
    return server


def _cli(server: ServerProcess, project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAIRN_")}
    env.update(CAIRN_SERVER=server.url, CAIRN_TOKEN=server.admin_token or "", COLUMNS="200")
    return subprocess.run(
        [CAIRN, *args], cwd=project, env=env, capture_output=True, text=True, timeout=120
    )


def test_suites_are_saved_loaded_and_checked_through_the_server(
    store_url: str, server_on: Callable[..., ServerProcess], project: Path
) -> None:
    """A profiled suite is stored as v1 (again: still v1; edited: v2) with its source and the
    token's user; load_suite reads either version back; validate runs here with a stored
    suite; the result is recorded against the dataset version and the active run."""
    _serve_with_dataset(store_url, server_on, project)
    suite = validation.profile(_table(2000, 1), "cust", source="cust@v1")
    first = validation.save_suite(suite)
    assert (first.ref, first.source) == ("cust@v1", "cust@v1")
    assert validation.save_suite(suite) == first
    suite.expectations = suite.expectations[:-1]
    second = validation.save_suite(suite)
    assert second.number == 2 and second.digest != first.digest
    loaded, version = validation.load_suite("cust@v1")
    assert version == first and len(loaded.expectations) == len(suite.expectations) + 1
    latest, version = validation.load_suite("cust")
    assert version == second and latest.to_yaml() == suite.to_yaml()
    with pytest.raises(NotFoundError, match="no suite named"):
        validation.load_suite("nosuch")

    broken = _table(500, 2)
    broken.loc[broken.index[:100], "city"] = "rome"
    result = validation.validate(broken, "cust@v1")
    assert not result.passed
    with cairn.run() as run:
        validation.record_result(result, first, target="batch-2", dataset_version="cust@v1")
    assert validation.validate(_table(500, 3), "cust").passed
    (recorded,) = validation.results_of("cust@v1")
    assert recorded["suite"] == "cust@v1" and not recorded["passed"]
    report = recorded["report"]
    assert isinstance(report, dict)
    assert report["failures"] == json.loads(result.to_json())["failures"]
    assert validation.results_of("data:cust") == [recorded]
    with pytest.raises(NotFoundError):
        validation.results_of("cust@v9")

    reset_store()
    configure()
    configure(store=store_url, artifacts=str(project / "server-artifacts"))
    from sqlalchemy import select

    from cairn.store.db.schema import runs, validation_results, validation_suites

    with get_store().db.read() as conn:
        users = set(conn.execute(select(validation_suites.c.user)).scalars())
        linked = conn.execute(
            select(runs.c.uid).select_from(validation_results.join(runs))
        ).scalar_one()
    assert users == {"admin"} and linked == run.id


def test_a_result_waits_in_the_spool_and_is_recorded_once(
    store_url: str, server_on: Callable[..., ServerProcess], project: Path
) -> None:
    """While the server is down, recording a result raises nothing and spools it; when the
    server answers again it is recorded, and the same request sent again records nothing."""
    server = _serve_with_dataset(store_url, server_on, project)
    suite = validation.profile(_table(2000, 1), "cust", source="cust@v1")
    version = validation.save_suite(suite)
    result = validation.validate(_table(400, 4), suite)
    server.stop()
    validation.record_result(result, version, target="offline", dataset_version="cust@v1")
    session = get_store().remote
    assert session is not None and session.spool.own_pending() == 2  # the report, the record
    server.start()
    assert session.drain(30) == 0
    (recorded,) = validation.results_of("cust@v1")
    report = recorded["report"]
    assert recorded["passed"] and isinstance(report, dict) and report["rows"] == 400

    digest = hash_bytes(result.to_json().encode())  # the report the replay uploaded
    body = {
        "suite": "cust",
        "number": 1,
        "digest": digest,
        "target": "twice",
        "dataset_version": "cust@v1",
        "run": None,
        "created_ms": 1_700_000_000_000,
    }
    assert session.call("POST", "/validation/results", body) == {"recorded": True}
    assert session.call("POST", "/validation/results", body) == {"recorded": False}
    assert len(validation.results_of("cust@v1")) == 2


def test_the_server_refuses_what_a_local_save_would(
    store_url: str, server_on: Callable[..., ServerProcess], project: Path
) -> None:
    """A suite not uploaded, text that is no suite, a name that differs from the suite's, a
    report that is no result, and a reader's save are refused with the server's error."""
    server = _serve_with_dataset(store_url, server_on, project)
    session = get_store().remote
    assert session is not None
    artifacts = get_store().artifacts
    missing = "blake3:" + "0" * 64
    with pytest.raises(ArtifactNotFoundError, match="upload it first"):
        session.call("POST", "/suites", {"name": "x", "digest": missing})
    garbage = artifacts.put_bytes(b"- just\n- a list\n").digest
    with pytest.raises(InvalidInputError, match="mapping"):
        session.call("POST", "/suites", {"name": "x", "digest": garbage})
    other = artifacts.put_bytes(validation.Suite("other").to_yaml().encode()).digest
    with pytest.raises(InvalidInputError, match="not 'x'"):
        session.call("POST", "/suites", {"name": "x", "digest": other})
    validation.save_suite(validation.Suite("other"))
    bad = {"suite": "other", "number": 1, "digest": garbage, "target": "t", "created_ms": 1}
    with pytest.raises(InvalidInputError, match="report"):
        session.call("POST", "/validation/results", bad)

    made = subprocess.run(
        [CAIRN, "server", "token", "create", "--user", "bob", "--role", "reader"],
        cwd=server.folder,
        env=server.env,
        capture_output=True,
        text=True,
        check=True,
    )
    reset_store()
    configure(server=server.url, token=made.stdout.strip().splitlines()[-1])
    assert validation.load_suite("other")[1] is not None  # a reader reads
    with pytest.raises(PermissionDeniedError, match="writer"):
        validation.save_suite(validation.Suite("mine"))


def test_cairn_validate_works_as_a_client(
    store_url: str, server_on: Callable[..., ServerProcess], project: Path
) -> None:
    """``cairn validate profile``, ``save``, ``show``, ``check`` (exit 3 on errors) and
    ``results`` with CAIRN_SERVER store and read everything on the server."""
    server = _serve_with_dataset(store_url, server_on, project)
    _table(2000, 5).to_parquet(project / "ref.parquet", index=False)
    done = _cli(server, project, "validate", "profile", "ref.parquet", "--suite", "c",
                "--output", "c.yaml")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "c@v1" in done.stdout
    text = (project / "c.yaml").read_text().replace("extra_columns: warn", "extra_columns: error")
    (project / "c.yaml").write_text(text)
    done = _cli(server, project, "validate", "save", "c.yaml")
    assert done.returncode == 0 and "c@v2" in done.stdout, done.stderr
    done = _cli(server, project, "validate", "show", "c@v2")
    assert done.returncode == 0 and "extra_columns: error" in done.stdout, done.stderr

    wide = _table(300, 6).assign(extra=1)
    wide.to_parquet(project / "wide.parquet", index=False)
    done = _cli(server, project, "validate", "check", "wide.parquet", "--suite", "c")
    assert done.returncode == 3, done.stderr
    assert "no columns beyond the suite's" in done.stdout
    _table(300, 7).to_csv(project / "ok.csv", index=False)
    done = _cli(server, project, "validate", "check", "ok.csv", "--suite", "c@v1")
    assert done.returncode == 0, done.stderr

    validation.record_result(
        validation.validate(project / "ok.csv", "c@v1"),
        validation.load_suite("c@v1")[1],
        target="ok.csv",
        dataset_version="cust@v1",
    )
    done = _cli(server, project, "validate", "results", "data:cust@v1", "--format", "json")
    assert done.returncode == 0, done.stderr
    assert [(c["suite"], c["passed"]) for c in json.loads(done.stdout)] == [("c@v1", True)]
    done = _cli(server, project, "validate", "results", "cust")
    assert done.returncode == 0 and "c@v1" in done.stdout and "passed" in done.stdout
