"""``cairn server token create|ls|revoke`` and ``cairn server audit``: manage the server's tokens
and read its audit log, directly on the configured stores (no server needs to run).

Token changes are recorded in the audit log under this machine's login name.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Annotated

import typer

from cairn.cli._render import fail, write_json
from cairn.cli._table import Column, write_table
from cairn.core.errors import CairnError

if TYPE_CHECKING:
    from cairn.server.audit import AuditEvent
    from cairn.server.auth import TokenInfo

token_app = typer.Typer(help="Make, list and revoke the server's API tokens.", no_args_is_help=True)


def add_commands(app: typer.Typer) -> None:
    """Add the ``token`` group and ``audit`` to the ``cairn server`` group."""
    app.add_typer(token_app, name="token")
    app.command("audit")(audit_command)


def _actor() -> str:
    from cairn.core.user import current_user

    return current_user() or "unknown"


@token_app.command("create")
def create_command(
    user: Annotated[str, typer.Option("--user", help="whose token (the name it records)")],
    role: Annotated[str, typer.Option("--role", help="reader, writer or admin")],
    expires: Annotated[
        str | None,
        typer.Option("--expires", help="a duration (30d, 12h, 2w) or a date (2027-01-31)"),
    ] = None,
) -> None:
    """Make a token and print it (once: the server keeps only a hash of its secret).

    Give it to its user as CAIRN_TOKEN, with CAIRN_SERVER=http://HOST:PORT.
    """
    from cairn.server.auth import create_token, parse_expiry
    from cairn.store import get_store

    try:
        expires_ms = parse_expiry(expires)
        token, info = create_token(
            get_store().db, user, role, expires_ms=expires_ms, actor=_actor()
        )
    except CairnError as exc:
        fail(exc)
    sys.stdout.write(token + "\n")
    sys.stdout.flush()
    until = "never expires" if info.expires_ms is None else f"expires {_time(info.expires_ms)}"
    sys.stderr.write(
        f"token {info.token_id} for {info.user} ({info.role}, {until}); it is shown only "
        "once: copy it now (revoke with `cairn server token revoke "
        f"{info.token_id}`)\n"
    )


@token_app.command("ls")
def ls_command(
    include_all: Annotated[bool, typer.Option("--all", help="include revoked tokens")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the tokens as JSON")] = False,
) -> None:
    """List the tokens (never their secrets): id, user, role, created, expires, state."""
    from cairn.server.auth import list_tokens
    from cairn.store import get_store

    try:
        tokens = list_tokens(get_store().db, include_revoked=include_all)
    except CairnError as exc:
        fail(exc)
    if as_json:
        write_json([info.to_dict() for info in tokens])
    elif tokens:
        _write_tokens(tokens)
    else:
        sys.stderr.write(
            "no tokens" + ("" if include_all else " (--all shows revoked ones)") + "; make one "
            "with `cairn server token create --user NAME --role reader|writer|admin`\n"
        )


@token_app.command("revoke")
def revoke_command(
    token_id: Annotated[str, typer.Argument(help="the token's id (see cairn server token ls)")],
) -> None:
    """Revoke a token: the server refuses it from the next request on."""
    from cairn.server.auth import revoke_token
    from cairn.store import get_store

    try:
        info = revoke_token(get_store().db, token_id, actor=_actor())
    except CairnError as exc:
        fail(exc)
    sys.stderr.write(f"token {info.token_id} of {info.user} ({info.role}) is revoked\n")


def audit_command(
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="at most this many")] = 50,
    action: Annotated[
        str | None, typer.Option("--action", help="alias.set, or a family: alias.*")
    ] = None,
    user: Annotated[str | None, typer.Option("--user", help="only this user's events")] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="a duration ago (7d, 24h) or a date")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the events as JSON")] = False,
) -> None:
    """Show the audit log, newest first: alias moves, deletions, restores, token changes."""
    from cairn.server.audit import MAX_LIMIT, list_events
    from cairn.server.auth import check_action, check_user, parse_since
    from cairn.store import get_store

    try:
        events = list_events(
            get_store().db,
            since_ms=parse_since(since),
            action=check_action(action),
            user=None if user is None else check_user(user),
            limit=min(limit, MAX_LIMIT),
        )
    except CairnError as exc:
        fail(exc)
    if as_json:
        write_json([dataclasses.asdict(e) for e in events])
    elif events:
        _write_events(events)
    else:
        sys.stderr.write("no audit events match\n")


def _write_tokens(tokens: list[TokenInfo]) -> None:
    columns = [
        Column("ID", keep=True),
        Column("USER", keep=True),
        Column("ROLE", keep=True),
        Column("CREATED"),
        Column("EXPIRES"),
        Column("STATE", keep=True),
    ]
    rows = [
        [
            t.token_id,
            t.user,
            t.role,
            _time(t.created_ms),
            "never" if t.expires_ms is None else _time(t.expires_ms),
            t.state,
        ]
        for t in tokens
    ]
    write_table(columns, rows)


def _write_events(events: list[AuditEvent]) -> None:
    columns = [
        Column("TIME", keep=True),
        Column("USER", keep=True),
        Column("ACTION", keep=True),
        Column("SUBJECT"),
        Column("DETAIL"),
    ]
    rows = [
        [
            _time(e.ts_ms),
            e.user,
            e.action,
            e.subject,
            json.dumps(e.detail, sort_keys=True, default=str, ensure_ascii=False),
        ]
        for e in events
    ]
    write_table(columns, rows)


def _time(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M")
