"""The data catalog's and validation's REST routes: what they answer, who may call them, the
audit log, and hostile input, on both metadata stores."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from starlette.exceptions import StarletteDeprecationWarning

import cairn
from cairn import data, validation
from cairn.server import create_app, create_token
from cairn.server.api._json import plain
from cairn.server.audit import list_events
from cairn.server.auth import ROLES
from cairn.store import Store, get_store

with warnings.catch_warnings():
    # starlette warns on import that it would rather use httpx2; the client works the same.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

API = "/api/v1"


class Api:
    """A test client over ``create_app(auth=True)`` with a token per role."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        db = get_store().db
        self.tokens = {role: create_token(db, f"{role}-bo", role)[0] for role in ROLES}

    def call(self, method: str, path: str, role: str | None = "reader", **kwargs: Any) -> Any:
        """The response to ``method path`` made with ``role``'s token (none when None)."""
        headers = {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}
        response = self.client.request(method, API + path, headers=headers, **kwargs)
        assert response.status_code < 500, response.text
        assert response.headers["content-type"].startswith("application/json")
        return response


@pytest.fixture
def api(store: Store) -> Iterator[Api]:
    """The API over the test's store, with reader, writer and admin tokens."""
    with TestClient(create_app(auth=True)) as client:
        yield Api(client)


def _two_versions(project: Path) -> None:
    """``customers@v1`` and ``@v2`` (a column and rows more, a file less, one added)."""
    raw = project / "raw"
    raw.mkdir()
    pd.DataFrame({"id": [1, 2, 3], "age": [30.0, 41.0, float("nan")]}).to_parquet(
        raw / "table.parquet"
    )
    (raw / "notes.txt").write_text("first")
    data.add(raw, "customers", owner="bo@team", frequency="daily", description="who buys")
    frame = pd.DataFrame(
        {"id": [1, 2, 3, 4], "age": [30.0, 41.0, 22.0, 57.0], "city": list("abcd")}
    )
    frame.to_parquet(raw / "table.parquet")
    (raw / "notes.txt").unlink()
    (raw / "readme.md").write_text("second")
    data.add(raw, "customers")


def test_reads_answer_what_the_catalog_holds(project: Path, api: Api) -> None:
    """Datasets, a dataset's detail, a version with its files (by v2, 2 and latest) and a diff
    read as the Python API returns them."""
    _two_versions(project)
    assert api.call("GET", "/datasets").json() == [plain(d) for d in data.list_datasets()]
    (listed,) = api.call("GET", "/datasets").json()
    assert listed["owner"] == "bo@team" and listed["latest"]["ref"] == "customers@v2"
    detail = api.call("GET", "/datasets/customers").json()
    assert detail == plain(data.show_dataset("customers"))
    assert [v["ref"] for v in detail["versions"]] == ["customers@v1", "customers@v2"]
    assert detail["tables"]["2"]["table.parquet"]["rows"] == 4
    for ref in ("v2", "2", "latest"):
        version = api.call("GET", f"/datasets/customers/versions/{ref}").json()
        assert {k: version[k] for k in plain(data.version("customers@v2"))} == plain(
            data.version("customers@v2")
        )
        assert version["files"] == [plain(f) for f in data.files("customers@v2")]
    page = api.call("GET", "/datasets/customers/versions/v2", params={"offset": 1, "limit": 1})
    assert page.json()["files"] == [plain(data.files("customers@v2")[1])]
    diff = api.call("GET", "/datasets/customers/diff", params={"a": "v1", "b": "v2"}).json()
    expected = data.diff_versions("customers@v1", "customers@v2")
    assert diff == {**plain(expected), "same": False}
    assert [f["path"] for f in diff["added"]] == ["readme.md"]
    assert [f["path"] for f in diff["removed"]] == ["notes.txt"]
    (table,) = diff["tables"]
    assert (table["rows_a"], table["rows_b"]) == (3, 4)
    assert table["columns_added"] == [["city", expected.tables[0].columns_added[0][1]]]
    same = api.call("GET", "/datasets/customers/diff", params={"a": "latest", "b": "customers@v2"})
    assert same.json()["same"] is True


def test_removing_and_restoring_is_for_admins_and_audited(project: Path, api: Api) -> None:
    """No token is 401; readers and writers are refused; an admin's removal and restore
    change the catalog, record its user and land in the audit log."""
    _two_versions(project)
    assert api.call("GET", "/datasets", None).status_code == 401
    for role in ("reader", "writer"):
        for action in ("delete", "restore"):
            response = api.call("POST", f"/datasets/customers/versions/v1/{action}", role)
            assert response.status_code == 403, (role, action)
            assert response.json()["error"]["type"] == "PermissionDeniedError"
    assert not data.show_dataset("customers").versions[0].deleted
    removed = api.call("POST", "/datasets/customers/versions/v1/delete", "admin")
    assert removed.status_code == 200 and removed.json()["deleted"] is True
    assert data.show_dataset("customers").versions[0].deleted
    again = api.call("POST", "/datasets/customers/versions/v1/delete", "admin")
    assert again.status_code == 400 and "already deleted" in again.json()["error"]["message"]
    assert api.call("GET", "/datasets/customers/versions/v1").status_code == 400
    restored = api.call("POST", "/datasets/customers/versions/1/restore", "admin")
    assert restored.status_code == 200 and restored.json()["deleted"] is False
    history = data.show_dataset("customers").events
    assert [(e.field, e.user) for e in history[-2:]] == [
        ("rm", "admin-bo"),
        ("restore", "admin-bo"),
    ]
    events = list_events(get_store().db, action="dataset_version.*")
    assert [(e.action, e.user, e.subject) for e in reversed(events)] == [
        ("dataset_version.delete", "admin-bo", "data:customers@v1"),
        ("dataset_version.restore", "admin-bo", "data:customers@v1"),
    ]
    latest = api.call("POST", "/datasets/customers/versions/latest/delete", "admin")
    assert latest.status_code == 400  # one version, named by its number


def test_suites_and_results_read_as_stored(project: Path, api: Api) -> None:
    """A stored suite reads as its plain form with its version; the checks recorded against a
    dataset version read as results_of returns them; the server never reads a file for a
    suite."""
    _two_versions(project)
    table = cairn.data.path("customers@v2") / "table.parquet"
    suite = validation.profile(pd.read_parquet(table), "cust", source="customers@v2")
    saved = validation.save_suite(suite)
    result = validation.validate(table, suite)
    validation.record_result(
        result, saved, target="data:customers@v2", dataset_version="customers@v2"
    )
    for ref in ("cust", "cust@v1", "cust@1"):
        shown = api.call("GET", f"/suites/{ref}").json()
        assert shown == {"suite": plain(suite.to_dict()), "version": plain(saved)}
    assert api.call("GET", "/suites/cust@v2").status_code == 404
    assert api.call("GET", "/suites/nosuch").status_code == 404
    checks = api.call("GET", "/datasets/customers/validation").json()
    assert checks == [plain(r) for r in validation.results_of("customers@v2")]
    assert checks[0]["suite"] == "cust@v1" and checks[0]["passed"] is True
    by_version = api.call("GET", "/datasets/customers/validation", params={"version": "v1"})
    assert by_version.json() == []
    (project / "secret").write_text("name: secret\nexpectations: []\n")
    (project / "leak.yaml").write_text("name: leak\nexpectations: []\n")
    for ref in ("secret", "leak.yaml", "..%2F..%2Fetc%2Fpasswd", "%2Fetc%2Fpasswd", "%00"):
        response = api.call("GET", f"/suites/{ref}")
        assert response.status_code in (400, 404), ref
        assert "expectations" not in response.text, ref


BAD_READS = [
    "/datasets/nosuch",
    "/datasets/nosuch/versions/v1",
    "/datasets/customers/versions/v9",
    "/datasets/nosuch/diff?a=v1&b=v2",
    "/datasets/customers/diff?a=v1&b=nosuch@v1",
    "/datasets/nosuch/validation",
    "/datasets/customers/versions/v0",
    "/datasets/customers/versions/" + "9" * 10_000,
    "/datasets/customers/versions/v" + "9" * 10_000,
    "/datasets/customers/diff?a=v1&b=v" + "9" * 10_000,
    "/datasets/customers/diff?a=v1&b=x@" + "9" * 10_000,
    "/datasets/customers/validation?version=" + "9" * 10_000,
    "/datasets/customers/diff?a=v1",
    "/datasets/customers/diff?a=v1&b=",
    "/datasets/customers/diff?a=%00&b=v1",
    "/datasets/customers/versions/v1?limit=0",
    "/datasets/customers/versions/v1?offset=-1",
    "/datasets/customers/versions/v1?limit=many",
    "/datasets/customers/versions/v1?offset=" + "9" * 5000,
    "/datasets/customers/versions/v1%00",
    "/datasets/customers/versions/x@v1",
    "/datasets/%00",
    "/datasets/%ED%A0%80",
    "/datasets/%ED%A0%80/validation",
    "/datasets/..%2F..%2Fetc",
    "/datasets/..",
    "/datasets/customers/versions/..%2F..%2Fv1",
    "/datasets/" + "x" * 60_000,  # httpx refuses URLs over 64 KiB
    "/datasets/customers/validation?version=%00",
    "/datasets/customers@v1/validation",
    "/suites/" + "s" * 60_000,
    "/suites/%ED%A0%80",
    "/suites/x@v" + "9" * 10_000,
]


def test_hostile_values_are_refused_in_json(project: Path, api: Api) -> None:
    """Unknown names are 404; NUL bytes, surrogates, traversal, huge values and wrong query
    types are 400 or 404, as JSON, never a server error; nothing is removed."""
    _two_versions(project)
    for path in BAD_READS:
        response = api.call("GET", path)
        assert response.status_code in (400, 404), (path[:80], response.text)
        assert isinstance(response.json(), dict)
    for path in BAD_READS[:6]:
        error = api.call("GET", path).json()["error"]
        assert error["type"] == "NotFoundError" and error["message"], path
    for path in (
        "/datasets/customers/versions/v1%00/delete",
        "/datasets/customers/versions/" + "9" * 10_000 + "/delete",
        "/datasets/customers/versions/v1/delete?force=maybe",
        "/datasets/%ED%A0%80/versions/v1/restore",
        "/datasets/nosuch/versions/v1/delete",
        "/datasets/customers/versions/v7/restore",
    ):
        response = api.call("POST", path, "admin")
        assert response.status_code in (400, 404), (path[:80], response.text)
    assert not any(v.deleted for v in data.show_dataset("customers").versions)
    assert list_events(get_store().db, action="dataset_version.*") == []


def test_a_catalog_edit_through_the_api_is_audited_like_the_uis(project: Path, api: Api) -> None:
    """A writer's PATCH changes the catalog and records ``dataset.edit`` with the fields it
    changed, the same event the web UI's edit records; a reader's is refused and records none."""
    _two_versions(project)
    refused = api.call("PATCH", "/datasets/customers", "reader", json={"owner": "x"})
    assert refused.status_code == 403
    edited = api.call("PATCH", "/datasets/customers", "writer", json={"owner": "ana"})
    assert edited.status_code == 200 and edited.json()["owner"] == "ana"
    events = list_events(get_store().db, action="dataset.*")
    assert [(e.action, e.user, e.subject, e.detail) for e in events] == [
        ("dataset.edit", "writer-bo", "data:customers", {"fields": ["owner"]})
    ]
