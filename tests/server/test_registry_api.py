"""The registry's REST routes: what they answer, who may call them, the audit log, and
hostile input, on both metadata stores."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from starlette.exceptions import StarletteDeprecationWarning

import cairn
from cairn import registry
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
        self.tokens = {role: create_token(db, f"{role}-ana", role)[0] for role in ROLES}

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


def _frame() -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(0)
    x = pd.DataFrame({"age": rng.integers(18, 90, 100), "income": rng.normal(5e4, 1e4, 100)})
    return x, pd.Series((x["income"] > 5e4).astype(int), name="label")


def _log_models(project: Path) -> tuple[registry.ModelVersion, registry.ModelVersion]:
    """Two versions of ``churn`` from one run that read the dataset ``customers``."""
    from sklearn.linear_model import LogisticRegression

    x, y = _frame()
    raw = project / "raw"
    raw.mkdir()
    x.to_parquet(raw / "customers.parquet")
    cairn.data.add(raw, "customers")
    with cairn.run():
        cairn.data.load("customers")
        cairn.log({"auc": 0.91, "loss": float("nan")})
        model = LogisticRegression().fit(x, y)
        first = cairn.log_model(model, "churn", input_example=x.head(5))
        second = cairn.log_model(model, "churn", input_example=x.head(5))
    return first, second


def test_reads_answer_what_the_registry_holds(quiet_capture: None, project: Path, api: Api) -> None:
    """Models, versions (by number, alias and latest), history and lineage read as the Python
    API returns them, with the run's metrics (NaN as null) and the version's files."""
    first, second = _log_models(project)
    registry.set_alias("churn", "champion", 1, reason="first")
    assert api.call("GET", "/models").json() == [plain(m) for m in registry.list_models()]
    model = api.call("GET", "/models/churn").json()
    assert model["name"] == "churn" and model["latest_version"] == 2
    assert model["aliases"] == {"champion": 1}
    assert [v["version"] for v in model["versions"]] == [2, 1]
    for ref, expected in (("1", "churn/1"), ("champion", "churn@champion"), ("latest", "churn")):
        answer = api.call("GET", f"/models/churn/versions/{ref}").json()
        version = registry.get_model_version(expected)
        assert {k: answer[k] for k in plain(version)} == plain(version)
        assert answer["uri"] == version.uri and answer["signature"] == version.signature
        assert answer["metrics"] == {"auc": 0.91, "loss": None}
    answer = api.call("GET", "/models/churn/versions/2").json()
    run = cairn.get_run(second.run_id or "")
    prefix = second.artifact_path + "/"
    assert {f["path"]: f["digest"] for f in answer["files"]} == {
        a.path.removeprefix(prefix): a.digest for a in run.artifacts if a.path.startswith(prefix)
    }
    assert "cairn-model.json" in {f["path"] for f in answer["files"]}
    history = api.call("GET", "/models/churn/aliases/champion/history").json()
    assert history == [plain(m) for m in registry.alias_history("churn")]
    lineage = api.call("GET", "/models/churn/versions/champion/lineage").json()
    assert lineage == plain(registry.model_lineage("churn@champion").to_dict())
    (run_node,) = lineage["parents"]
    assert run_node["ref"] == first.run_id
    assert [p["ref"] for p in run_node["parents"]] == ["customers@v1"]


def test_alias_moves_are_audited_with_the_tokens_user(
    quiet_capture: None, project: Path, api: Api
) -> None:
    """A writer's alias moves land in the alias history and the audit log under its token's
    user, with the versions moved from and to and the reason."""
    _log_models(project)
    set_1 = api.call("PUT", "/models/churn/aliases/champion", "writer", json={"version": 1})
    assert set_1.status_code == 200
    assert set_1.json()["from_version"] is None and set_1.json()["to_version"] == 1
    moved = api.call(
        "PUT",
        "/models/churn/aliases/champion",
        "writer",
        json={"version": "2", "reason": "better auc"},
    ).json()
    assert (moved["from_version"], moved["to_version"], moved["user"]) == (1, 2, "writer-ana")
    assert registry.get_model("churn").aliases == {"champion": 2}
    history = api.call("GET", "/models/churn/aliases/champion/history").json()
    assert [(h["from_version"], h["to_version"], h["user"]) for h in history] == [
        (None, 1, "writer-ana"),
        (1, 2, "writer-ana"),
    ]
    assert history[-1]["reason"] == "better auc"
    dropped = api.call("DELETE", "/models/churn/aliases/champion", "writer")
    assert dropped.status_code == 200 and registry.get_model("churn").aliases == {}
    events = list_events(get_store().db, action="alias.*")
    assert {(e.user, e.subject) for e in events} == {("writer-ana", "models:/churn@champion")}
    assert [(e.action, e.detail) for e in reversed(events)] == [
        ("alias.set", {"from": None, "to": 1, "reason": None}),
        ("alias.set", {"from": 1, "to": 2, "reason": "better auc"}),
        ("alias.delete", {"from": 2, "to": None, "reason": None}),
    ]
    assert api.call("DELETE", "/models/churn/aliases/champion", "writer").status_code == 404


def test_roles_no_token_and_admin_deletion(quiet_capture: None, project: Path, api: Api) -> None:
    """No token is 401; a reader cannot move aliases, a writer cannot delete; an admin's
    delete and restore are audited, and a version an alias points at is not deleted."""
    _log_models(project)
    assert api.call("GET", "/models", None).status_code == 401
    bad = api.client.get(f"{API}/models", headers={"Authorization": "Bearer cairn_abc_nope"})
    assert bad.status_code == 401 and bad.json()["error"]["type"] == "AuthenticationError"
    refused = api.call("PUT", "/models/churn/aliases/champion", "reader", json={"version": 1})
    assert refused.status_code == 403
    assert refused.json()["error"]["type"] == "PermissionDeniedError"
    assert api.call("DELETE", "/models/churn/aliases/champion", "reader").status_code == 403
    for action in ("delete", "restore"):
        for role in ("reader", "writer"):
            path = f"/models/churn/versions/1/{action}"
            assert api.call("POST", path, role).status_code == 403
    assert registry.get_model("churn").aliases == {}
    assert not registry.get_model_version("churn/1").deleted
    api.call("PUT", "/models/churn/aliases/champion", "writer", json={"version": 1})
    held = api.call("POST", "/models/churn/versions/1/delete", "admin")
    assert held.status_code == 400 and "champion" in held.json()["error"]["message"]
    gone = api.call("POST", "/models/churn/versions/2/delete", "admin")
    assert gone.status_code == 200 and gone.json()["deleted"] is True
    assert registry.get_model_version("churn/2", include_deleted=True).deleted
    shown = api.call("GET", "/models/churn/versions/2").json()
    assert shown["deleted"] is True
    assert [v["version"] for v in api.call("GET", "/models/churn").json()["versions"]] == [1]
    everything = api.call("GET", "/models/churn", params={"deleted": "true"}).json()
    assert [v["version"] for v in everything["versions"]] == [2, 1]
    back = api.call("POST", "/models/churn/versions/2/restore", "admin")
    assert back.status_code == 200 and back.json()["deleted"] is False
    events = list_events(get_store().db, action="model_version.*")
    assert [(e.action, e.user, e.subject) for e in reversed(events)] == [
        ("model_version.delete", "admin-ana", "models:/churn/2"),
        ("model_version.restore", "admin-ana", "models:/churn/2"),
    ]


BAD_PATHS = [
    "/models/nosuchmodel",
    "/models/nosuchmodel/versions/1",
    "/models/churn/versions/99",
    "/models/churn/versions/nosuchalias",
    "/models/churn/versions/0",
    "/models/churn/versions/99999999999999999999999",
    "/models/churn/versions/-1/lineage",
    "/models/churn/aliases/nosuch/history",
    "/models/churn/aliases/latest/history",
    "/models/%00",
    "/models/churn%00",
    "/models/churn/versions/1%00",
    "/models/%ED%A0%80",
    "/models/%F0%9F%92%A5",
    "/models/..%2F..%2Fetc%2Fpasswd",
    "/models/..",
    "/models/churn/versions/..%2F..%2F1",
    "/models/churn/aliases/%00/history",
    "/models/" + "x" * 60_000,  # httpx refuses URLs over 64 KiB
    "/models/churn/versions/" + "9" * 10_000,
]


def test_hostile_reads_are_refused_in_json(quiet_capture: None, project: Path, api: Api) -> None:
    """Unknown names are 404, malformed ones (NUL, lone surrogates, traversal, huge) 400 or
    404, always as JSON, never a server error."""
    _log_models(project)
    for path in BAD_PATHS:
        response = api.call("GET", path)
        assert response.status_code in (400, 404), (path[:80], response.text)
        body = response.json()
        assert isinstance(body, dict), path[:80]
    for path in BAD_PATHS[:4] + BAD_PATHS[7:8]:
        error = api.call("GET", path).json()["error"]
        assert error["type"].endswith("NotFoundError") and error["message"], path


BAD_BODIES: list[dict[str, Any]] = [
    {"json": {"version": [1]}},
    {"json": {"version": True}},
    {"json": {"version": 1.5}},
    {"json": {"version": None}},
    {"json": {}},
    {"json": {"version": 1, "reason": 7}},
    {"json": {"version": 1, "extra": "x"}},
    {"json": {"version": 1, "reason": "a\x00b"}},
    {"json": {"version": "one"}},
    {"json": {"version": 0}},
    {"json": {"version": -3}},
    {"json": {"version": 2**70}},
    {"json": {"version": "9" * 5000}},
    {"json": [1]},
    {"json": "1"},
    {"content": b"{not json", "headers": {"content-type": "application/json"}},
    {"content": b'{"version": "\\ud800"}', "headers": {"content-type": "application/json"}},
    {"content": b"\xff\xfe", "headers": {"content-type": "application/json"}},
    {},
]


def test_hostile_writes_are_refused_in_json(quiet_capture: None, project: Path, api: Api) -> None:
    """Alias moves with wrong JSON types, bad numbers, NUL or surrogates, or bad names are
    400 or 404 as JSON, and move nothing."""
    _log_models(project)
    for request in BAD_BODIES:
        headers = {"Authorization": f"Bearer {api.tokens['writer']}", **request.get("headers", {})}
        kwargs = {k: v for k, v in request.items() if k != "headers"}
        response = api.client.put(f"{API}/models/churn/aliases/champion", headers=headers, **kwargs)
        assert response.status_code == 400, (request, response.text)
        assert response.json()["error"]["type"] == "InvalidInputError"
    for path, status in (
        ("/models/churn/aliases/latest", 400),
        ("/models/churn/aliases/%00", 400),
        ("/models/churn/aliases/%ED%A0%80", 400),
        ("/models/churn/aliases/" + "a" * 50_000, 400),
        ("/models/nosuch/aliases/champion", 404),
        ("/models/..%2Fchurn/aliases/champion", 404),
    ):
        response = api.call("PUT", path, "writer", json={"version": 1})
        assert response.status_code == status, (path[:60], response.text)
    for path in ("/models/churn/versions/champion/delete", "/models/churn/versions/0/restore"):
        assert api.call("POST", path, "admin").status_code == 400
    assert api.call("POST", "/models/churn/versions/9/delete", "admin").status_code == 404
    assert registry.get_model("churn").aliases == {}
    assert list_events(get_store().db, action="alias.*") == []
