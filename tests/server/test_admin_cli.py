"""``cairn server token create|ls|revoke`` and ``cairn server audit``, on both stores."""

from __future__ import annotations

import json

import pytest

from cairn.cli.main import main
from cairn.core.ids import now_ms
from cairn.core.user import current_user
from cairn.server.auth import authenticate, list_tokens
from cairn.store import Store
from tests.server.test_auth import API, bearer, client

DAY_MS = 86_400_000


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run ``cairn server ARGS`` in-process; return (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as exit_info:
        main(["server", *args])
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


def make(capsys: pytest.CaptureFixture[str], user: str, role: str, *more: str) -> str:
    """A token made with ``cairn server token create``."""
    code, out, err = cli(capsys, "token", "create", "--user", user, "--role", role, *more)
    assert code == 0, err
    return out.strip()


def test_create_prints_the_token_once(capsys: pytest.CaptureFixture[str], store: Store) -> None:
    """create prints only the token on stdout, says on stderr it is shown once, and the token
    lets its user in with its role."""
    code, out, err = cli(capsys, "token", "create", "--user", "ann", "--role", "writer")
    token = out.strip()
    assert code == 0 and out == token + "\n" and token.startswith("cairn_")
    assert "shown only once" in err and "ann" in err and token not in err
    caller = authenticate(store.db, token)
    assert (caller.user, caller.role) == ("ann", "writer")
    (info,) = list_tokens(store.db)
    assert info.created_by == current_user() and info.expires_ms is None


def test_create_with_an_expiry(capsys: pytest.CaptureFixture[str], store: Store) -> None:
    """--expires takes a duration ahead or a date; a past date or nonsense is refused (exit 1)."""
    make(capsys, "ann", "reader", "--expires", "30d")
    make(capsys, "bob", "reader", "--expires", "2999-01-31")
    expiries = {t.user: t.expires_ms or 0 for t in list_tokens(store.db)}
    assert abs(expiries["ann"] - (now_ms() + 30 * DAY_MS)) < 60_000
    assert expiries["bob"] == 32_474_736_000_000  # 2999-01-31T00:00Z
    for bad in ("2020-01-01", "soon", "-3d", "0h"):
        code, out, err = cli(
            capsys, "token", "create", "--user", "eve", "--role", "reader", "--expires", bad
        )
        assert code == 1 and out == "" and "error:" in err and "Traceback" not in err
    assert "eve" not in {t.user for t in list_tokens(store.db)}


def test_bad_input_fails_with_a_message(capsys: pytest.CaptureFixture[str], store: Store) -> None:
    """A bad role or user, or an unknown token id, exits 1 with one line and no traceback."""
    cases = [
        ("token", "create", "--user", "ann", "--role", "boss"),
        ("token", "create", "--user", "a\tb", "--role", "reader"),
        ("token", "create", "--user", "x" * 300, "--role", "reader"),
        ("token", "revoke", "0" * 16),
        ("token", "revoke", "not-an-id"),
    ]
    for args in cases:
        code, out, err = cli(capsys, *args)
        assert code == 1 and out == "" and err.startswith("error:"), (args, err)
        assert "Traceback" not in err
    assert list_tokens(store.db, include_revoked=True) == []


def test_ls_never_prints_secrets(capsys: pytest.CaptureFixture[str], store: Store) -> None:
    """ls shows id, user, role, created, expires and state, never a secret; revoked tokens
    only with --all; --json says the same."""
    ann = make(capsys, "ann", "reader", "--expires", "2w")
    bob = make(capsys, "bob", "admin")
    secrets = [token.split("_", 2)[2] for token in (ann, bob)]
    ann_id, bob_id = ann.split("_")[1], bob.split("_")[1]
    code, out, _ = cli(capsys, "token", "ls")
    assert code == 0 and out.split()[:6] == ["ID", "USER", "ROLE", "CREATED", "EXPIRES", "STATE"]
    assert ann_id in out and bob_id in out and "never" in out and "active" in out
    assert cli(capsys, "token", "revoke", ann_id)[0] == 0
    code, out, _ = cli(capsys, "token", "ls")
    assert ann_id not in out and bob_id in out
    code, out, _ = cli(capsys, "token", "ls", "--all")
    assert ann_id in out and "revoked" in out
    code, out, _ = cli(capsys, "token", "ls", "--all", "--json")
    listed = {t["token_id"]: t for t in json.loads(out)}
    assert listed[ann_id]["state"] == "revoked" and listed[bob_id]["role"] == "admin"
    printed = [cli(capsys, "token", "ls", *flags) for flags in ((), ("--all",), ("--json",))]
    assert not any(s in out + err for _, out, err in printed for s in secrets)


def test_revoke_is_seen_by_the_server(capsys: pytest.CaptureFixture[str], store: Store) -> None:
    """A token revoked from the CLI is refused by a running app on its next request, and
    revoking it again changes nothing."""
    token = make(capsys, "ann", "admin")
    app = client()
    assert app.get(f"{API}/tokens", headers=bearer(token)).status_code == 200
    code, _, err = cli(capsys, "token", "revoke", token.split("_")[1])
    assert code == 0 and "revoked" in err
    response = app.get(f"{API}/tokens", headers=bearer(token))
    assert response.status_code == 401 and "revoked" in response.json()["error"]["message"]
    assert cli(capsys, "token", "revoke", token.split("_")[1])[0] == 0


def test_audit_lists_token_events(capsys: pytest.CaptureFixture[str], store: Store) -> None:
    """create and revoke are audited under the OS user; audit filters by action, user, time
    and count, and prints JSON."""
    me = current_user()
    assert me is not None
    token = make(capsys, "ann", "reader")
    token_id = token.split("_")[1]
    cli(capsys, "token", "revoke", token_id)
    code, out, _ = cli(capsys, "audit")
    assert code == 0 and "token.create" in out and "token.revoke" in out and token not in out
    code, out, _ = cli(capsys, "audit", "--json")
    events = json.loads(out)
    assert [(e["action"], e["user"], e["subject"]) for e in events] == [
        ("token.revoke", me, token_id),
        ("token.create", me, token_id),
    ]
    assert events[1]["detail"] == {"user": "ann", "role": "reader", "expires_ms": None}
    for flags, expected in [
        (("--action", "token.create"), ["token.create"]),
        (("--action", "token.*", "--limit", "1"), ["token.revoke"]),
        (("--user", me, "--since", "1h"), ["token.revoke", "token.create"]),
        (("--user", "nobody-else"), []),
        (("--since", "2999-01-01"), []),
    ]:
        code, out, _ = cli(capsys, "audit", "--json", *flags)
        assert code == 0 and [e["action"] for e in json.loads(out)] == expected, flags
    for flags in (("--since", "whenever"), ("--action", "a b"), ("--user", "\x00")):
        code, out, err = cli(capsys, "audit", *flags)
        assert code == 1 and out == "" and err.startswith("error:"), flags
    assert cli(capsys, "audit", "--limit", "0")[0] == 2  # usage error, from typer
