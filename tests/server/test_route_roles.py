"""Every route of the team server against the role it needs: the table below names the least
role of each (method, path), and the tests enumerate the app's routes at test time, so a route
added without a line here fails until its role is written down. Also: writers change only their
own runs, and a revoked token is refused on the very next request. Both stores."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable, Iterator
from typing import Any

import pytest

from cairn.core.hashing import hash_bytes
from cairn.server.app import API_PREFIX, create_app
from cairn.server.auth import ROLES, create_token
from cairn.store import Store

with warnings.catch_warnings():
    # starlette asks for httpx2 at import; the client works the same on httpx.
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

A = API_PREFIX
PUBLIC = "public"

#: The least role each route lets in; "public" answers without a token.
ROUTE_ROLES: dict[tuple[str, str], str] = {
    # the API's own description (no data in it)
    ("GET", f"{A}/openapi.json"): PUBLIC,
    ("GET", f"{A}/docs"): PUBLIC,
    ("GET", "/docs/oauth2-redirect"): PUBLIC,
    ("GET", f"{A}/health"): PUBLIC,
    # admin: tokens and the audit log
    ("POST", f"{A}/tokens"): "admin",
    ("GET", f"{A}/tokens"): "admin",
    ("DELETE", f"{A}/tokens/{{token_id}}"): "admin",
    ("GET", f"{A}/audit"): "admin",
    # runs
    ("POST", f"{A}/runs"): "writer",
    ("POST", f"{A}/runs/{{uid}}/batch"): "writer",
    ("POST", f"{A}/runs/{{uid}}/end"): "writer",
    ("POST", f"{A}/runs/{{uid}}/claim"): "writer",
    ("POST", f"{A}/runs/heartbeat"): "writer",
    ("POST", f"{A}/runs/{{uid}}/artifacts"): "writer",
    ("POST", f"{A}/runs/search"): "reader",
    ("GET", f"{A}/runs/{{ref}}"): "reader",
    ("POST", f"{A}/runs/delete"): "admin",
    ("POST", f"{A}/runs/restore"): "admin",
    ("POST", f"{A}/runs/{{uid}}/inputs"): "writer",
    ("GET", f"{A}/runs/{{uid}}/datasets"): "reader",
    # experiments
    ("GET", f"{A}/experiments"): "reader",
    ("POST", f"{A}/experiments"): "writer",
    ("POST", f"{A}/experiments/rename"): "admin",
    ("POST", f"{A}/experiments/delete"): "admin",
    # artifacts by digest
    ("POST", f"{A}/artifacts/missing"): "reader",
    ("PUT", f"{A}/artifacts/{{digest}}"): "writer",
    ("POST", f"{A}/artifacts/{{digest}}/commit"): "writer",
    ("GET", f"{A}/artifacts/{{digest}}"): "reader",
    # models
    ("GET", f"{A}/models"): "reader",
    ("GET", f"{A}/models/{{name}}"): "reader",
    ("GET", f"{A}/models/{{name}}/versions/{{version}}"): "reader",
    ("GET", f"{A}/models/{{name}}/aliases/{{alias}}/history"): "reader",
    ("GET", f"{A}/models/{{name}}/versions/{{version}}/lineage"): "reader",
    ("GET", f"{A}/models/{{name}}/history"): "reader",
    ("GET", f"{A}/models/{{name}}/versions/{{version}}/files"): "reader",
    ("POST", f"{A}/models/{{name}}/versions"): "writer",
    ("POST", f"{A}/models/{{name}}/versions/{{version}}/inputs"): "writer",
    ("PUT", f"{A}/models/{{name}}/tags"): "writer",
    ("PUT", f"{A}/models/{{name}}/versions/{{version}}/tags"): "writer",
    ("PUT", f"{A}/models/{{name}}/description"): "writer",
    ("PUT", f"{A}/models/{{name}}/versions/{{version}}/description"): "writer",
    ("PUT", f"{A}/models/{{name}}/aliases/{{alias}}"): "writer",
    ("DELETE", f"{A}/models/{{name}}/aliases/{{alias}}"): "writer",
    ("POST", f"{A}/models/{{name}}/versions/{{version}}/delete"): "admin",
    ("POST", f"{A}/models/{{name}}/versions/{{version}}/restore"): "admin",
    # datasets
    ("GET", f"{A}/datasets"): "reader",
    ("GET", f"{A}/datasets/{{name}}"): "reader",
    ("GET", f"{A}/datasets/{{name}}/versions/{{ref}}"): "reader",
    ("GET", f"{A}/datasets/{{name}}/diff"): "reader",
    ("POST", f"{A}/datasets/{{name}}/versions"): "writer",
    ("PATCH", f"{A}/datasets/{{name}}"): "writer",
    ("POST", f"{A}/datasets/{{name}}/versions/{{ref}}/delete"): "admin",
    ("POST", f"{A}/datasets/{{name}}/versions/{{ref}}/restore"): "admin",
    # validation
    ("GET", f"{A}/suites/{{ref}}"): "reader",
    ("GET", f"{A}/datasets/{{name}}/validation"): "reader",
    ("POST", f"{A}/suites"): "writer",
    ("POST", f"{A}/validation/results"): "writer",
    # serving
    ("POST", f"{A}/prediction-logs"): "writer",
}

#: What a path parameter is filled with: well-formed values that name nothing stored.
DUMMY_VALUES = {
    "uid": "0" * 26,
    "ref": "0" * 26,
    "token_id": "0" * 16,
    "digest": "blake3:" + "0" * 64,
    "name": "nothing",
    "version": "1",
    "alias": "champion",
}
_PARAMETER = re.compile(r"\{(\w+)(?::\w+)?\}")


def routes_of(routes: Iterable[Any]) -> Iterator[tuple[str, str]]:
    """(method, path) of every route, routers included by the app walked into (HEAD is left
    out where GET answers it); a route with no methods (a mount) is listed as ``*``."""
    for route in routes:
        nested = getattr(route, "effective_route_contexts", None)  # an included router
        if callable(nested):
            yield from routes_of(nested())
            continue
        methods = set(getattr(route, "methods", None) or ())
        if "GET" in methods:
            methods.discard("HEAD")
        for method in sorted(methods) or ["*"]:
            yield method, str(route.path)


def app_routes() -> set[tuple[str, str]]:
    """Every (method, path) the server with tokens answers."""
    return set(routes_of(create_app(auth=True).routes))


def concrete(path: str) -> str:
    """``path`` with each parameter replaced by its dummy value."""
    return _PARAMETER.sub(lambda match: DUMMY_VALUES.get(match.group(1), "x"), path)


def client() -> TestClient:
    """An in-process client of the server app (tokens required) over the configured store."""
    return TestClient(create_app(auth=True))


def bearer(token: str) -> dict[str, str]:
    """The header that sends ``token``."""
    return {"Authorization": f"Bearer {token}"}


def assert_refused(response: Any, status: int, what: str) -> None:
    """``response`` is the JSON error ``status``."""
    assert response.status_code == status, (what, response.status_code, response.text)
    error = response.json()["error"]
    assert isinstance(error["type"], str) and isinstance(error["message"], str), what


def test_every_route_has_a_role_in_the_table(store: Store) -> None:
    """Each route of the app is in the table (a new route must state its role here), each
    entry of the table is still a route, and every route the API documents is enumerated."""
    routes = app_routes()
    missing = sorted(routes - ROUTE_ROLES.keys())
    assert not missing, f"routes without a role in ROUTE_ROLES (add each): {missing}"
    gone = sorted(ROUTE_ROLES.keys() - routes)
    assert not gone, f"ROUTE_ROLES names routes the app no longer has (remove each): {gone}"
    documented = create_app(auth=True).openapi()["paths"]
    for path, operations in documented.items():
        for method in operations:
            assert (method.upper(), path) in routes, (method, path)
    assert set(ROUTE_ROLES.values()) <= {PUBLIC, *ROLES}


def test_each_route_refuses_who_is_below_its_role(store: Store) -> None:
    """For every route: no token is 401 (public routes answer), each role below the least one
    is 403, and the least role and those above it are let in (never 401, 403 or a 5xx)."""
    tokens = {role: create_token(store.db, f"user-{role}", role)[0] for role in ROLES}
    app = client()
    for method, path in sorted(app_routes()):
        least = ROUTE_ROLES[(method, path)]
        url = concrete(path)
        what = f"{method} {path} ({least})"
        anonymous = app.request(method, url)
        if least == PUBLIC:
            assert anonymous.status_code not in (401, 403), (what, anonymous.text)
            assert anonymous.status_code < 500, (what, anonymous.text)
            continue
        assert_refused(anonymous, 401, what)
        rank = ROLES.index(least)
        for role in ROLES[:rank]:
            refused = app.request(method, url, headers=bearer(tokens[role]))
            assert_refused(refused, 403, f"{what} as {role}")
            assert role in refused.json()["error"]["message"], what
        for role in ROLES[rank:]:
            answer = app.request(method, url, headers=bearer(tokens[role]))
            assert answer.status_code not in (401, 403), (what, role, answer.text)
            assert answer.status_code < 500, (what, role, answer.text)


def _create_run(app: TestClient, token: str, uid: str) -> None:
    """A running run ``uid`` made over HTTP by the token's user."""
    body = {"uid": uid, "experiment": "e", "name": "r", "start_ms": 1}
    response = app.post(f"{A}/runs", json=body, headers=bearer(token))
    assert response.status_code == 201, response.text


def _batch(key: str, step: int = 0) -> dict[str, Any]:
    return {
        "key": key,
        "metrics": {"m": {"steps": [step], "ts": [1], "values": [1.0]}},
        "params": {"p": ["1", True]},
        "tags": {"t": "v"},
    }


def test_writers_change_only_their_own_runs(store: Store) -> None:
    """A writer gets 403 on create (its id taken), batch, end, claim, heartbeat and artifacts of
    another user's run and changes nothing; the owner and an admin may write it."""
    ann = create_token(store.db, "ann", "writer")[0]
    bob = create_token(store.db, "bob", "writer")[0]
    root = create_token(store.db, "root", "admin")[0]
    app = client()
    uid = "a" * 26
    _create_run(app, ann, uid)
    content = b"ann's file"
    digest = hash_bytes(content)
    assert app.put(f"{A}/artifacts/{digest}", content=content, headers=bearer(bob)).is_success
    entry = {"path": "f.txt", "digest": digest, "size": len(content)}
    taken = {"uid": uid, "experiment": "e", "name": "bobs", "start_ms": 2, "tags": {"b": "1"}}
    writes = [
        (f"{A}/runs", taken),
        (f"{A}/runs/{uid}/batch", _batch("bob-1")),
        (f"{A}/runs/{uid}/end", {"status": "killed", "end_ms": 5}),
        (f"{A}/runs/{uid}/end", {"status": "failed", "end_ms": 5, "fail": True}),
        (f"{A}/runs/{uid}/claim", {"host": "bobs-laptop", "pid": 7}),
        (f"{A}/runs/heartbeat", {"runs": [uid]}),
        (f"{A}/runs/{uid}/artifacts", {"entries": [entry]}),
    ]
    for url, body in writes:
        refused = app.post(url, json=body, headers=bearer(bob))
        assert_refused(refused, 403, url)
        assert "'ann'" in refused.json()["error"]["message"]
    run = app.get(f"{A}/runs/{uid}", headers=bearer(bob)).json()
    assert run["status"] == "running" and run["user"] == "ann" and run["name"] == "r"
    assert run["metrics"] == {} and run["params"] == {} and run["tags"] == {}
    assert run["artifacts"] == []

    assert app.post(f"{A}/runs/{uid}/batch", json=_batch("ann-1"), headers=bearer(ann)).is_success
    for url, body in writes:
        answer = app.post(url, json=body, headers=bearer(root))
        assert answer.is_success, (url, answer.text)
    run = app.get(f"{A}/runs/{uid}", headers=bearer(ann)).json()
    assert run["status"] == "killed" and run["metrics"] == {"m": 1.0}  # fail keeps a kill
    assert [a["path"] for a in run["artifacts"]] == ["f.txt"]


def test_a_revoked_token_is_refused_on_the_next_request(store: Store) -> None:
    """A writer's token that worked is refused (401, nothing written) on the request right
    after an admin revokes it, on reads and writes alike."""
    ann = create_token(store.db, "ann", "writer")[0]
    root = create_token(store.db, "root", "admin")[0]
    app = client()
    uid = "b" * 26
    _create_run(app, ann, uid)
    assert app.post(f"{A}/runs/{uid}/batch", json=_batch("k1"), headers=bearer(ann)).is_success
    token_id = ann.split("_")[1]
    assert app.delete(f"{A}/tokens/{token_id}", headers=bearer(root)).is_success
    refused = app.post(f"{A}/runs/{uid}/batch", json=_batch("k2", 1), headers=bearer(ann))
    assert_refused(refused, 401, "batch after revoke")
    assert "revoked" in refused.json()["error"]["message"]
    assert_refused(app.get(f"{A}/runs/{uid}", headers=bearer(ann)), 401, "read after revoke")
    run = app.get(f"{A}/runs/{uid}", headers=bearer(root)).json()
    assert [step for step, _ts, _value in run["metric_history"]["m"]] == [0]


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE"])
def test_an_unknown_route_is_a_json_404_without_a_token(store: Store, method: str) -> None:
    """A path no route answers is a JSON 404 (or 405), never a 5xx, with or without a token."""
    answer = client().request(method, f"{A}/no-such-thing")
    assert answer.status_code in (404, 405), answer.text
    assert isinstance(answer.json()["error"]["message"], str)
