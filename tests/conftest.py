"""Real stores for every test: a fresh project per test, SQLite and PostgreSQL, local and S3.

PostgreSQL is the server at 127.0.0.1:5432 (user postgres, trust auth); each test gets its own
schema. S3 is moto's ThreadedMotoServer on 127.0.0.1 with a bucket per test. Where PostgreSQL
is not running, its parametrization is skipped with the reason, unless
CAIRN_TEST_REQUIRE_SERVICES=1 (set by .ci/run), which turns the skip into a failure.

The suite runs in two pytest-xdist workers (``-n 2``, as the README's command says). A test
marked ``exclusive`` (a load test that fills both cores, a timing of a drain) runs alone: the
other worker waits at its next test until it is done.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import socket
import tempfile
import uuid
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

import cairn
from cairn.core.settings import configure
from cairn.store import Store, get_store, reset_store

PG_HOST, PG_PORT = "127.0.0.1", 5432
PG_BASE = f"postgresql://postgres@{PG_HOST}:{PG_PORT}/postgres"


def _no_gpu_reason() -> str | None:
    """Why tests marked gpu cannot run here, or None (checked without importing torch)."""
    if not Path("/proc/driver/nvidia/version").exists() and shutil.which("nvidia-smi") is None:
        return "no NVIDIA GPU on this machine (tests marked gpu run where one is present)"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip tests marked gpu, with the reason, on machines without an NVIDIA GPU."""
    gpu_items = [item for item in items if "gpu" in item.keywords]
    reason = _no_gpu_reason() if gpu_items else None
    if reason:
        for item in gpu_items:
            item.add_marker(pytest.mark.skip(reason=reason))


@contextlib.contextmanager
def _turn(item: pytest.Item) -> Iterator[None]:
    """Run ``item`` beside the other worker's tests, or alone if it is marked ``exclusive``.

    Two locks shared by the workers of one run: every test passes a gate and holds the room
    shared; an exclusive test keeps the gate closed and holds the room alone, so the other
    worker stops at the gate instead of slipping in ahead of it.
    """
    run = getattr(item.config, "workerinput", {}).get("testrunuid")
    if run is None:  # not under pytest-xdist: one test at a time anyway
        yield
        return
    exclusive = item.get_closest_marker("exclusive") is not None
    folder = Path(tempfile.gettempdir())
    with (
        open(folder / f"cairn-tests-{run}.gate", "a") as gate,
        open(folder / f"cairn-tests-{run}.room", "a") as room,
    ):
        fcntl.flock(gate, fcntl.LOCK_EX)
        try:
            fcntl.flock(room, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        finally:
            if not exclusive:
                fcntl.flock(gate, fcntl.LOCK_UN)
        try:
            yield
        finally:
            fcntl.flock(room, fcntl.LOCK_UN)
            if exclusive:
                fcntl.flock(gate, fcntl.LOCK_UN)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None]:
    """Each test's set-up, call and teardown pass the turnstile (see ``_turn``)."""
    with _turn(item):
        return (yield)


def _unavailable(reason: str) -> None:
    if os.environ.get("CAIRN_TEST_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} (CAIRN_TEST_REQUIRE_SERVICES=1 makes this a failure)")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh project folder as the working directory, with no CAIRN_* settings leaking in."""
    for name in list(os.environ):
        if name.startswith("CAIRN_") and name != "CAIRN_TEST_REQUIRE_SERVICES":
            monkeypatch.delenv(name)
    root = tmp_path / "project"
    root.mkdir()
    monkeypatch.chdir(root)
    reset_store()
    configure()
    yield root
    monkeypatch.undo()  # the test's environment changes too, before re-reading settings
    while cairn.active_run() is not None:
        cairn.end_run()
    reset_store()
    configure()


@pytest.fixture
def quiet_capture(project: Path) -> None:
    """Runs record only what each test logs (no automatic git, packages or machine facts)."""
    import dataclasses

    from cairn.core.settings import CaptureSettings

    switches = {
        f.name: False
        for f in dataclasses.fields(CaptureSettings)
        if f.type == "bool" and f.name != "params"
    }
    configure(capture=switches)


@pytest.fixture(scope="session")
def postgres_available() -> str | None:
    """None when the PostgreSQL server answers, else why not."""
    try:
        import psycopg

        with psycopg.connect(PG_BASE, connect_timeout=3):
            return None
    except Exception as exc:
        return f"PostgreSQL is not reachable at {PG_HOST}:{PG_PORT}: {exc}".strip()


@pytest.fixture
def postgres_url(postgres_available: str | None) -> Iterator[str]:
    """A store URL on the real PostgreSQL server, in a schema of its own."""
    if postgres_available:
        _unavailable(postgres_available)
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_BASE, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    yield f"{PG_BASE}?options=-csearch_path%3D{schema}"
    reset_store()
    with psycopg.connect(PG_BASE, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, project: Path) -> str:
    """The metadata store URL, once for SQLite and once for PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{project / '.cairn' / 'cairn.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def store(store_url: str) -> Store:
    """cairn configured on each metadata store in turn."""
    configure(store=store_url)
    return get_store()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """An S3-protocol server (moto) on loopback."""
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3_bucket(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> tuple[str, dict[str, Any]]:
    """A fresh bucket: (s3://bucket/prefix URL, fsspec storage options)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    import boto3

    bucket = f"cairn-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").create_bucket(
        Bucket=bucket
    )
    options = {
        "key": "testing",
        "secret": "testing",
        "client_kwargs": {"endpoint_url": s3_endpoint, "region_name": "us-east-1"},
        "skip_instance_cache": True,
        "use_listings_cache": False,
    }
    return f"s3://{bucket}/artifacts", options


@pytest.fixture(params=["local", "s3"])
def artifacts(request: pytest.FixtureRequest, project: Path) -> Store:
    """cairn configured with its artifact store on local files, then on S3."""
    if request.param == "local":
        configure(artifacts=str(project / "artifact-store"))
    else:
        url, options = request.getfixturevalue("s3_bucket")
        configure(artifacts=url, artifacts_options=options)
    return get_store()
