"""The data catalog in client mode against real ``cairn server`` processes, on both stores:
adding (only missing objects uploaded), reading back verified, lineage, roles, a server that
goes away during an add, the catalog's other functions and the CLI's shortcuts."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

import cairn
from cairn.core.errors import (
    InvalidInputError,
    PermissionDeniedError,
    ServerUnavailableError,
)
from cairn.core.settings import configure, get_settings
from cairn.store import get_store
from tests.server.conftest import CAIRN, ServerProcess

pytestmark = pytest.mark.usefixtures("quiet_capture")
PAST = 1_700_000_000  # seconds: a modification time long gone

#: Run in the server's environment: what the server's own Python API reports, as JSON.
_SERVER_SIDE = """
import dataclasses, json, sys
from cairn import data
what, ref = sys.argv[1], sys.argv[2]
if what == "version":
    found = {"version": dataclasses.asdict(data.version(ref)),
             "files": [dataclasses.asdict(f) for f in data.files(ref)]}
elif what == "show":
    found = dataclasses.asdict(data.show_dataset(ref))
elif what == "list":
    found = [dataclasses.asdict(d) for d in data.list_datasets()]
else:
    found = [[r, dataclasses.asdict(v)] for r, v in data.run_datasets(ref)]
print(json.dumps(found))
"""


def _server_says(server: ServerProcess, what: str, ref: str = "") -> Any:
    """What the server's Python API answers (run in a process with the server's stores)."""
    done = subprocess.run(
        [sys.executable, "-c", _SERVER_SIDE, what, ref],
        cwd=server.folder,
        env=server.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def _as_json(value: Any) -> Any:
    """A client's answer as the JSON the server side prints (tuples as lists, text keys)."""
    return json.loads(json.dumps(dataclasses.asdict(value)))


def _counting() -> list[tuple[str, str]]:
    """Record each request the client's session sends (method, path)."""
    requests: list[tuple[str, str]] = []
    session = get_store().remote
    assert session is not None
    session._http().event_hooks["request"].append(
        lambda request: requests.append((request.method, request.url.path))
    )
    return requests


def _puts(requests: list[tuple[str, str]]) -> int:
    return sum(1 for method, _ in requests if method == "PUT")


def _tables(folder: Path) -> Path:
    """A folder with a Parquet table, a CSV table and two other files."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    (folder / "raw").mkdir(parents=True)
    pq.write_table(pa.table({"id": [1, 2, 3], "name": ["a", "b", "c"]}), folder / "t.parquet")
    (folder / "raw" / "extra.csv").write_text("x,y\n1,2\n3,4\n")
    (folder / "readme.txt").write_text("customers\n")
    (folder / "raw" / "blob.bin").write_bytes(os.urandom(200_000))
    return _aged(folder)


def _aged(folder: Path) -> Path:
    """Files last changed long ago: the stat cache remembers them (it never trusts a
    file changed within its racy window)."""
    for path in [folder, *folder.rglob("*")]:
        os.utime(path, (PAST, PAST))
    return folder


def _client(server: ServerProcess, token: str | None = None) -> None:
    configure(server=server.url, token=token or server.admin_token)


def test_a_folder_added_as_a_client_is_the_servers_version(
    store_url: str, server_on: Callable[..., ServerProcess], project: Path
) -> None:
    """A folder with Parquet and CSV tables added in client mode is, file for file, the
    version the server's Python API reports, with its table facts and the token's user."""
    server = server_on(store_url, auth=True)
    _client(server)
    folder = _tables(project / "customers")
    result = cairn.data.add(folder, "customers", owner="ana@team", tags={"team": "growth"})
    assert result.created and result.files == 4 and result.stored == 4
    assert result.version.ref == "customers@v1" and result.version.user == "admin"
    on_server = _server_says(server, "version", "customers@v1")
    assert on_server["version"] == _as_json(result.version)
    assert on_server["files"] == [_as_json(f) for f in cairn.data.files("customers@v1")]
    assert [f["path"] for f in on_server["files"]] == [
        "raw/blob.bin",
        "raw/extra.csv",
        "readme.txt",
        "t.parquet",
    ]
    detail = cairn.data.show_dataset("customers")
    assert _as_json(detail) == _server_says(server, "show", "customers")
    assert detail.dataset.owner == "ana@team" and detail.dataset.tags == {"team": "growth"}
    assert detail.tables[1]["t.parquet"].rows == 3
    assert detail.tables[1]["raw/extra.csv"].columns == [("x", "int64"), ("y", "int64")]
    assert [_as_json(d) for d in cairn.data.list_datasets()] == _server_says(server, "list")
    audit = subprocess.run(
        [CAIRN, "server", "audit"],
        cwd=server.folder,
        env=server.env,
        capture_output=True,
        text=True,
    )
    assert "dataset_version.add" in audit.stdout and "customers@v1" in audit.stdout
    table = _tables(project / "single") / "t.parquet"
    one = cairn.data.add(table, "single-table")
    assert one.files == 1 and one.stored == 0  # its bytes are on the server already
    assert cairn.data.load("single-table")["name"].tolist() == ["a", "b", "c"]


def test_adding_again_uploads_nothing_and_a_change_uploads_only_itself(
    store_url: str, server_on: Callable[..., ServerProcess], project: Path
) -> None:
    """The same content again is "unchanged" with no upload (also when every file is hashed
    again); a changed file is the one object uploaded for the next version."""
    server = server_on(store_url, auth=True)
    _client(server)
    folder = _tables(project / "data")
    first = cairn.data.add(folder, "d")
    requests = _counting()
    again = cairn.data.add(folder, "d")
    assert not again.created and again.version == first.version and again.hashed == 0
    assert _puts(requests) == 0
    (get_settings().home_dir / "cache" / "stat.sqlite").unlink()  # every file hashed again
    rehashed = cairn.data.add(folder, "d", description="the same bytes")
    assert not rehashed.created and rehashed.hashed == 4 and rehashed.stored == 0
    assert _puts(requests) == 0
    assert cairn.data.show_dataset("d").dataset.description == "the same bytes"
    (folder / "readme.txt").write_text("customers, revised\n")
    _aged(folder)
    changed = cairn.data.add(folder, "d")
    assert changed.created and changed.version.number == 2
    assert changed.hashed == 1 and changed.stored == 1
    assert [p for m, p in requests if m == "PUT"] == [
        f"/api/v1/artifacts/{cairn.data.files('d@v2')[2].digest}"
    ]
    diff = cairn.data.diff_versions("d@v1", "d@v2")
    assert [c.path for c in diff.changed] == ["readme.txt"] and not diff.added


def test_reads_come_back_verified_and_the_runs_input_is_on_the_server(
    store_url: str, server_on: Callable[..., ServerProcess], project: Path
) -> None:
    """load, path, files, get and version read a version back from the server (a damaged
    cached file is fetched again); the run that added and loaded it has the output and input
    edges on the server."""
    server = server_on(store_url, auth=True)
    _client(server)
    folder = _tables(project / "customers")
    with cairn.run() as run:
        cairn.data.add(folder, "customers")
        frame = cairn.data.load("customers@v1", file="t.parquet")
    assert frame["id"].tolist() == [1, 2, 3]
    local = cairn.data.path("customers")
    for entry in cairn.data.files("customers"):
        assert (local / entry.path).read_bytes() == (folder / entry.path).read_bytes()
    damaged = local / "readme.txt"
    os.chmod(damaged, 0o644)
    damaged.write_text("tampered\n")
    assert (cairn.data.path("customers") / "readme.txt").read_text() == "customers\n"
    copy = cairn.data.get("customers@v1", project / "copy")
    assert (copy / "raw" / "blob.bin").read_bytes() == (folder / "raw" / "blob.bin").read_bytes()
    assert cairn.data.version("customers@latest").number == 1
    session = get_store().remote
    assert session is not None and session.drain(10) == 0
    inputs = _server_says(server, "run", run.id)
    assert [(r, v["dataset"], v["number"]) for r, v in inputs] == [
        ("input", "customers", 1),
        ("output", "customers", 1),
    ]
    assert [(r, v.ref) for r, v in cairn.data.run_datasets(run.id)] == [
        ("input", "customers@v1"),
        ("output", "customers@v1"),
    ]
    assert cairn.data.version("customers").run_id == run.id
    assert cairn.data.show_dataset("customers").uses[1][0].run_id == run.id


def test_the_catalog_edits_and_admin_changes_go_to_the_server(
    store_url: str, server_on: Callable[..., ServerProcess], project: Path
) -> None:
    """edit_dataset, stale_datasets, remove_version and restore_version act on the server's
    catalog; status compares a local folder with the server's version."""
    server = server_on(store_url, auth=True)
    _client(server)
    folder = _tables(project / "d")
    cairn.data.add(folder, "d")
    edited = cairn.data.edit_dataset("d", owner="bo@team", frequency="daily", tags={"k": "v"})
    assert edited.owner == "bo@team" and edited.tags == {"k": "v"}
    assert cairn.data.edit_dataset("d", owner="").owner is None
    assert cairn.data.stale_datasets() == []
    assert cairn.data.status("d").unchanged
    (folder / "new.txt").write_text("new")
    assert cairn.data.status("d", folder).added == ["new.txt"]
    assert cairn.data.remove_version("d@v1").deleted
    with pytest.raises(InvalidInputError, match="was deleted"):
        cairn.data.load("d@v1")
    assert not cairn.data.restore_version("d@v1").deleted
    assert _server_says(server, "version", "d@v1")["version"]["deleted"] is False


def test_on_s3_behind_the_server(
    store_url: str,
    server_on: Callable[..., ServerProcess],
    s3_bucket: tuple[str, dict[str, Any]],
    project: Path,
) -> None:
    """With the server's artifacts on S3, a version added by a client is stored there and
    reads back verified; adding it again uploads nothing."""
    import boto3  # type: ignore[import-untyped]

    server = server_on(store_url, artifacts=s3_bucket, auth=True)
    _client(server)
    folder = _tables(project / "s3data")
    added = cairn.data.add(folder, "s3data")
    assert added.created and added.stored == 4
    assert _server_says(server, "version", "s3data@v1")["version"] == _as_json(added.version)
    url, options = s3_bucket
    bucket = url.removeprefix("s3://").split("/")[0]
    s3 = boto3.client("s3", endpoint_url=options["client_kwargs"]["endpoint_url"])
    assert len(s3.list_objects_v2(Bucket=bucket).get("Contents", [])) >= 5  # and the manifest
    requests = _counting()
    assert not cairn.data.add(folder, "s3data").created
    assert _puts(requests) == 0
    assert cairn.data.load("s3data", file="raw/extra.csv")["y"].tolist() == [2, 4]


def test_a_reader_token_may_read_but_not_add(
    store_url: str, server_on: Callable[..., ServerProcess], project: Path
) -> None:
    """A reader's token lists and reads the catalog; its add is refused and records nothing."""
    server = server_on(store_url, auth=True)
    _client(server)
    cairn.data.add(_tables(project / "a"), "a")
    made = subprocess.run(
        [CAIRN, "server", "token", "create", "--user", "ann", "--role", "reader"],
        cwd=server.folder,
        env=server.env,
        capture_output=True,
        text=True,
        check=True,
    )
    _client(server, made.stdout.strip().splitlines()[-1])
    assert [d.name for d in cairn.data.list_datasets()] == ["a"]
    assert cairn.data.files("a")
    folder = project / "b"
    folder.mkdir()
    (folder / "f.txt").write_text("b")
    with pytest.raises(PermissionDeniedError):
        cairn.data.add(folder, "b")
    assert [d["name"] for d in _server_says(server, "list")] == ["a"]


def test_a_server_gone_during_add_is_a_clear_error_and_no_version(
    store_url: str, server_on: Callable[..., ServerProcess], project: Path
) -> None:
    """The server killed as the first object is uploaded: add raises ServerUnavailableError,
    and once the server is back there is no version, half or whole; adding again works."""
    server = server_on(store_url, auth=True)
    _client(server)
    folder = _tables(project / "d")
    session = get_store().remote
    assert session is not None

    def kill_on_upload(request: httpx.Request) -> None:
        if request.method == "PUT":
            server.kill()

    session._http().event_hooks["request"].append(kill_on_upload)
    with pytest.raises(ServerUnavailableError, match="cannot reach the cairn server"):
        cairn.data.add(folder, "d")
    session._http().event_hooks["request"].remove(kill_on_upload)
    server.start()
    assert _server_says(server, "list") == []
    assert cairn.data.list_datasets() == []
    assert cairn.data.add(folder, "d").version.ref == "d@v1"


def test_the_cli_reads_the_server_not_a_local_store(
    store_url: str, server_on: Callable[..., ServerProcess], project: Path
) -> None:
    """In client mode ``cairn data add|ls|status`` answer from the server, never from the
    project's own SQLite catalog (which holds another dataset under the same name)."""
    server = server_on(store_url, auth=True)
    client = project / "client"
    _tables(client / "d")
    local_env = {k: v for k, v in os.environ.items() if not k.startswith("CAIRN_")}

    def cli(*args: str, remote: bool = True) -> subprocess.CompletedProcess[str]:
        env = dict(local_env, COLUMNS="200")
        if remote:
            env.update(CAIRN_SERVER=server.url, CAIRN_TOKEN=server.admin_token or "")
        return subprocess.run(
            [CAIRN, *args], cwd=client, env=env, capture_output=True, text=True, timeout=120
        )

    (client / ".cairn").mkdir()
    other = client / "other"
    other.mkdir()
    (other / "x.txt").write_text("local only")
    _aged(other)
    assert cli("data", "add", "d", "--name", "only-local", remote=False).returncode == 0
    assert cli("data", "add", "other", "--name", "d", remote=False).returncode == 0
    assert "unchanged" in cli("data", "status", "d", "other", remote=False).stdout
    added = cli("data", "add", "d", "--name", "d")
    assert added.returncode == 0, added.stderr
    assert "added d@v1" in added.stdout
    again = cli("data", "add", "d", "--name", "d")
    assert "d is unchanged: same content as d@v1" in again.stdout
    listed = cli("data", "ls")
    assert listed.returncode == 0, listed.stderr
    assert "only-local" not in listed.stdout and "v1" in listed.stdout
    status = cli("data", "status", "d")
    assert status.returncode == 0, status.stderr
    assert "unchanged" in status.stdout
    differs = cli("data", "status", "d", "other")
    assert "differs from d@v1" in differs.stdout, differs.stderr
    assert [d["name"] for d in _server_says(server, "list")] == ["d"]


def test_the_server_refuses_a_manifest_it_cannot_trust(
    store_url: str, server_on: Callable[..., ServerProcess]
) -> None:
    """A manifest naming an object the server lacks, a path outside the version, a file
    listed twice or facts of no file of it is refused, and records nothing."""
    from cairn.core.errors import ArtifactNotFoundError

    server = server_on(store_url, auth=True)
    _client(server)
    session = get_store().remote
    assert session is not None
    stored = get_store().artifacts.put_bytes(b"hello")
    good = {"path": "a.txt", "digest": stored.digest, "size": 5}
    absent = {"path": "b.txt", "digest": "blake3:" + "0" * 64, "size": 1}
    with pytest.raises(ArtifactNotFoundError, match="upload them first"):
        session.call("POST", "/datasets/x/versions", {"files": [good, absent]})
    for files, message in (
        ([dict(good, path="../a.txt")], "not a path inside a version"),
        ([dict(good, path="/etc/a")], "not a path inside a version"),
        ([good, good], "listed twice"),
        ([dict(good, digest="md5:abc")], "not a cairn digest"),
    ):
        with pytest.raises(InvalidInputError, match=message):
            session.call("POST", "/datasets/x/versions", {"files": files})
    facts = {"blake3:" + "1" * 64: {"format": "csv", "columns": [], "rows": 0}}
    with pytest.raises(InvalidInputError, match="no file of it"):
        session.call("POST", "/datasets/x/versions", {"files": [good], "tables": facts})
    assert _server_says(server, "list") == []
    first = session.call("POST", "/datasets/x/versions", {"files": [good]})
    again = session.call("POST", "/datasets/x/versions", {"files": [good]})
    assert first["created"] and not again["created"]
    assert again["version"] == first["version"]
