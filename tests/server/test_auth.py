"""Tokens and roles on the team server: who gets in, what each role may do, the admin routes
(tokens and the audit log), and hostile requests answered with 4xx JSON, on both stores."""

from __future__ import annotations

import hashlib
import json
import time
import warnings
from typing import Any

import pytest
from sqlalchemy import select

from cairn.core.ids import now_ms
from cairn.server.app import create_app
from cairn.server.audit import list_events
from cairn.server.auth import authenticate, create_token
from cairn.store import Store
from cairn.store.db.schema import server_tokens

with warnings.catch_warnings():
    # starlette asks for httpx2 at import; the client works the same on httpx.
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

API = "/api/v1"


def client(*, auth: bool = True) -> TestClient:
    """An in-process client of the server app over the configured store."""
    return TestClient(create_app(auth=auth))


def bearer(token: str) -> dict[str, str]:
    """The header that sends ``token``."""
    return {"Authorization": f"Bearer {token}"}


def admin_token(store: Store, user: str = "root") -> str:
    """A fresh admin token, made directly on the store (as `cairn server token create` does)."""
    return create_token(store.db, user, "admin")[0]


def assert_error(response: Any, status: int | None = None) -> str:
    """Check the answer is a 4xx JSON error (``status`` when given); return its message."""
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    if status is not None:
        assert response.status_code == status, response.text
    error = response.json()["error"]
    assert isinstance(error["type"], str) and isinstance(error["message"], str)
    return str(error["message"])


def test_no_token_is_refused_with_a_clear_message(store: Store) -> None:
    """A request without a token gets 401 JSON saying how to send one and where to get one."""
    message = assert_error(client().get(f"{API}/tokens"), 401)
    assert "Authorization: Bearer" in message and "cairn server token create" in message
    message = assert_error(client().get(f"{API}/tokens", headers={"Authorization": "Basic x"}))
    assert "Bearer" in message


def test_health_answers_without_a_token(store: Store) -> None:
    """The health route needs no token and says that auth is on."""
    response = client().get(f"{API}/health")
    assert response.status_code == 200 and response.json()["auth"] is True


def test_bad_tokens_are_refused(store: Store) -> None:
    """Malformed, unknown, wrong-secret and expired tokens each get 401 saying what is wrong."""
    good = admin_token(store)
    token_id = good.split("_")[1]
    app = client()
    for malformed in ("nope", "cairn_", "cairn_abc", "cairn_ab-c_x", "cairn_" + "a" * 40 + "_x"):
        assert "malformed" in assert_error(app.get(f"{API}/tokens", headers=bearer(malformed)), 401)
    unknown = f"cairn_{'0' * 16}_secret"
    assert "not known" in assert_error(app.get(f"{API}/tokens", headers=bearer(unknown)), 401)
    wrong = f"cairn_{token_id}_{'x' * 43}"
    assert "not known" in assert_error(app.get(f"{API}/tokens", headers=bearer(wrong)), 401)
    soon, _ = create_token(store.db, "ann", "admin", expires_ms=now_ms() + 300)
    assert app.get(f"{API}/tokens", headers=bearer(soon)).status_code == 200
    time.sleep(0.4)
    assert "expired" in assert_error(app.get(f"{API}/tokens", headers=bearer(soon)), 401)
    assert app.get(f"{API}/tokens", headers=bearer(good)).status_code == 200


def test_revoked_token_is_refused_on_the_next_request(store: Store) -> None:
    """Revoking a token through the API refuses it from the very next request."""
    root = admin_token(store)
    other = admin_token(store, "ann")
    app = client()
    assert app.get(f"{API}/tokens", headers=bearer(other)).status_code == 200
    response = app.delete(f"{API}/tokens/{other.split('_')[1]}", headers=bearer(root))
    assert response.status_code == 200 and response.json()["state"] == "revoked"
    assert "revoked" in assert_error(app.get(f"{API}/tokens", headers=bearer(other)), 401)


@pytest.mark.parametrize("role", ["reader", "writer"])
def test_admin_routes_refuse_readers_and_writers(store: Store, role: str) -> None:
    """A reader or writer gets 403 on every admin route, naming its role and the one needed."""
    token, _ = create_token(store.db, "ann", role)
    victim = admin_token(store).split("_")[1]
    app = client()
    headers = bearer(token)
    answers = [
        app.get(f"{API}/tokens", headers=headers),
        app.post(f"{API}/tokens", json={"user": "eve", "role": "admin"}, headers=headers),
        app.delete(f"{API}/tokens/{victim}", headers=headers),
        app.get(f"{API}/audit", headers=headers),
    ]
    for response in answers:
        message = assert_error(response, 403)
        assert role in message and "admin" in message
    assert authenticate(store.db, admin_token(store)).role == "admin"
    assert "eve" not in _tokens(app, admin_token(store), "user")


def _tokens(app: TestClient, token: str, field: str = "token_id", **params: Any) -> list[Any]:
    """One field of each token the list route answers."""
    response = app.get(f"{API}/tokens", headers=bearer(token), params=params)
    assert response.status_code == 200, response.text
    return [row[field] for row in response.json()["tokens"]]


def test_tokens_through_the_routes_with_audit_events(store: Store) -> None:
    """An admin creates (token shown once), lists and revokes (idempotently) tokens; create and
    revoke are audited once each with the admin's name, and the audit route filters."""
    root = admin_token(store)
    app = client()
    response = app.post(
        f"{API}/tokens",
        json={"user": "ann", "role": "writer", "expires": "30d"},
        headers=bearer(root),
    )
    assert response.status_code == 201, response.text
    made = response.json()
    token, token_id = made["token"], made["token_id"]
    assert token.startswith(f"cairn_{token_id}_") and made["created_by"] == "root"
    assert made["state"] == "active" and made["role"] == "writer"
    assert abs(made["expires_ms"] - (now_ms() + 30 * 86_400_000)) < 60_000
    assert authenticate(store.db, token).user == "ann"
    listed = app.get(f"{API}/tokens", headers=bearer(root))
    assert token.split("_", 2)[2] not in listed.text and 'token"' not in listed.text
    assert token_id in _tokens(app, root)
    for _ in range(2):  # revoking twice is harmless
        again = app.delete(f"{API}/tokens/{token_id}", headers=bearer(root))
        assert again.status_code == 200 and again.json()["state"] == "revoked"
    assert token_id not in _tokens(app, root)
    assert token_id in _tokens(app, root, all="true")
    assert_error(app.delete(f"{API}/tokens/{'0' * 16}", headers=bearer(root)), 404)

    events = app.get(f"{API}/audit", headers=bearer(root), params={"action": "token.*"}).json()
    assert [(e["action"], e["user"], e["subject"]) for e in events["events"]] == [
        ("token.revoke", "root", token_id),
        ("token.create", "root", token_id),
    ]
    assert events["events"][1]["detail"] == {
        "user": "ann",
        "role": "writer",
        "expires_ms": made["expires_ms"],
    }
    only = app.get(f"{API}/audit", headers=bearer(root), params={"action": "token.create"})
    assert [e["action"] for e in only.json()["events"]] == ["token.create"]
    for params in ({"user": "ann"}, {"since": "2999-01-01"}):
        found = app.get(f"{API}/audit", headers=bearer(root), params=params)
        assert found.status_code == 200 and found.json()["events"] == []
    recent = app.get(f"{API}/audit", headers=bearer(root), params={"since": "1h", "limit": 1})
    assert [e["action"] for e in recent.json()["events"]] == ["token.revoke"]


def test_auth_off_lets_in_an_admin_named_by_header(store: Store) -> None:
    """Without auth, a request is an admin named by X-Cairn-User, recorded in the audit log."""
    app = client(auth=False)
    response = app.post(
        f"{API}/tokens", json={"user": "bob", "role": "reader"}, headers={"X-Cairn-User": "alice"}
    )
    assert response.status_code == 201 and response.json()["created_by"] == "alice"
    assert app.get(f"{API}/tokens").status_code == 200
    events = list_events(store.db, action="token.create")
    assert [(e.user, e.detail["user"]) for e in events] == [("alice", "bob")]


def test_only_the_secret_hash_is_stored(store: Store) -> None:
    """The store keeps the SHA-256 of the secret, never the secret or the token itself."""
    app = client()
    made = app.post(
        f"{API}/tokens", json={"user": "ann", "role": "reader"}, headers=bearer(admin_token(store))
    ).json()
    secret = made["token"].split("_", 2)[2]
    with store.db.read() as conn:
        rows = [tuple(row) for row in conn.execute(select(server_tokens))]
        stored = [
            row.secret_hash
            for row in conn.execute(
                select(server_tokens.c.secret_hash).where(
                    server_tokens.c.token_id == made["token_id"]
                )
            )
        ]
    assert stored == [hashlib.sha256(secret.encode()).hexdigest()]
    assert not any(secret in str(value) for row in rows for value in row)
    events = list_events(store.db)
    assert not any(secret in repr(e) for e in events)


HOSTILE_BODIES: list[Any] = [
    {"user": "a\x00b", "role": "reader"},
    {"user": "\udc80", "role": "reader"},
    {"user": "x" * 1_000_000, "role": "reader"},
    {"user": 5, "role": "reader"},
    {"user": ["ann"], "role": "reader"},
    {"user": None, "role": "reader"},
    {"user": "ann", "role": "superuser"},
    {"user": "ann", "role": "reader\x00"},
    {"user": "ann", "role": "reader", "expires": 30},
    {"user": "ann", "role": "reader", "expires": "2020-01-01"},
    {"user": "ann", "role": "reader", "expires": "99999999w"},
    {"user": "ann", "role": "reader", "expires": "soon"},
    {"user": "ann", "role": "reader", "expires": "\x00"},
    {"user": "ann", "role": "reader", "expires": "y" * 1_000_000},
    {"user": "ann", "role": "reader", "extra": 1},
    {"user": "ann"},
    [],
    "ann",
    12,
]

LONG_URL = 60_000  # httpx refuses a longer URL (and servers cap theirs): 1 MB goes in bodies

HOSTILE_QUERIES: list[dict[str, Any]] = [
    {"limit": -1},
    {"limit": 0},
    {"limit": 10**30},
    {"limit": "many"},
    {"since": "\x00"},
    {"since": "x" * LONG_URL},
    {"since": "99999-01-01"},
    {"since": "yesterday"},
    {"action": "alias.set'; drop table runs"},
    {"action": "\x00"},
    {"action": "a" * LONG_URL},
    {"user": "\x00"},
    {"user": "u" * LONG_URL},
]


def test_hostile_values_get_4xx_json(store: Store) -> None:
    """NUL bytes, lone surrogates, 1 MB strings, wrong JSON types and out-of-range limits are
    each answered with a 4xx JSON error, never a 500; nothing is created."""
    root = admin_token(store)
    app = client()
    headers = bearer(root)
    # JSON as the standard library writes it (a lone surrogate as its \\u escape).
    raw = [json.dumps(body).encode() for body in HOSTILE_BODIES]
    raw += [b"{", b"\x00\xff", b'{"user": "a"' * 1000, b'{"user": "\\ud800\\u0000"}']
    for content in raw:
        response = app.post(
            f"{API}/tokens",
            content=content,
            headers={**headers, "content-type": "application/json"},
        )
        assert_error(response)
    for params in HOSTILE_QUERIES:
        assert_error(app.get(f"{API}/audit", params=params, headers=headers))
    for path in ("%00", "%ED%B2%80", "a" * 40, "x" * LONG_URL, "%20", "a%3B--"):
        assert_error(app.delete(f"{API}/tokens/{path}", headers=headers))
    for token in ("cairn_" + "x" * 1_000_000, f"cairn_{root.split('_')[1]}_" + "s" * 1_000_000):
        assert_error(app.get(f"{API}/tokens", headers=bearer(token)), 401)
    latin = {"Authorization": b"Bearer cairn_\xc3\xa9_\xff"}
    assert_error(app.get(f"{API}/tokens", headers=latin), 401)
    assert _tokens(app, root, "user") == ["root"]
