"""``cairn monitor check`` and ``cairn monitor alerts``: evaluate the alert rules now, and list
the alerts fired so far with how their delivery went."""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Annotated

import typer

from cairn.cli._project import require_project
from cairn.cli._render import write_json
from cairn.cli._table import Column, write_table

if TYPE_CHECKING:
    from cairn.monitoring import Alert

FLUSH_S = 60.0  # how long check waits for the webhooks (each alert: at most ~18 s a webhook)


def add_commands(app: typer.Typer) -> None:
    """Add ``check`` and ``alerts`` to the ``cairn monitor`` group."""
    app.command("check")(check_command)
    app.command("alerts")(alerts_command)


def check_command(
    model: Annotated[
        str | None, typer.Argument(help="check only this model's rules (default: every rule)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the alerts as JSON")] = False,
) -> None:
    """Evaluate the alert rules now and print the alerts that fired.

    Each rule fires once per window. Waits for the webhooks; exits 1 when a delivery failed.
    """
    from cairn.monitoring import alert_config, check_alerts, flush_alerts, list_alerts

    require_project()
    if not alert_config().rules:
        sys.stderr.write(
            "no alert rules: add them under monitoring.alerts in cairn.yaml, e.g.\n"
            "  monitoring:\n    alerts:\n"
            "      - {name: churn-drift, model: churn, when: drift_share > 0.3}\n"
        )
        return
    fired = check_alerts(None if model is None else [model])
    finished = flush_alerts(FLUSH_S) if fired else True
    # Re-read: the delivery outcome was recorded on each alert by the background thread.
    shown = list_alerts(limit=None, alert_ids=[a.id for a in fired]) if fired else []
    shown.sort(key=lambda a: (a.window_start_ms, a.id))
    if as_json:
        write_json([a.to_dict() for a in shown])
    elif shown:
        _write(shown)
    else:
        sys.stderr.write("no alert fired\n")
    failed = [a for a in shown if a.delivery == "failed"]
    for alert in failed:
        sys.stderr.write(f"alert {alert.id} ({alert.rule}) was not delivered: {alert.last_error}\n")
    if not finished:
        sys.stderr.write(
            f"deliveries still under way after {FLUSH_S:.0f} s; `cairn monitor alerts` shows "
            "how they end\n"
        )
    if failed or not finished:
        raise typer.Exit(1)


def alerts_command(
    model: Annotated[
        str | None,
        typer.Argument(help="a model's alerts (or data:NAME for a dataset's); default: all"),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="at most this many")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="print the alerts as JSON")] = False,
) -> None:
    """List the alerts fired so far, newest first, with how each was delivered.

    Delivery: delivered, failed (with the error), pending, or none (no webhook is set).
    """
    from cairn.monitoring import list_alerts

    require_project()
    found = list_alerts(model, limit=limit)
    if as_json:
        write_json([a.to_dict() for a in found])
        return
    if not found:
        sys.stderr.write("no alerts" + (f" for {model}" if model else "") + "\n")
        return
    _write(found)


def _write(alerts: list[Alert]) -> None:
    columns = [
        Column("ID", right=True, keep=True),
        Column("FIRED", keep=True),
        Column("RULE", keep=True),
        Column("SUBJECT"),
        Column("WINDOW"),
        Column("DELIVERY"),
        Column("MESSAGE"),
    ]
    rows = [
        [
            str(a.id),
            _time(a.fired_ms),
            a.rule,
            a.subject,
            f"{_time(a.window_start_ms)} - {_time(a.window_end_ms)}",
            _delivery(a),
            a.message,
        ]
        for a in alerts
    ]
    write_table(columns, rows)


def _delivery(alert: Alert) -> str:
    if alert.delivery == "failed":
        return f"failed after {alert.attempts} attempt(s): {alert.last_error}"
    if alert.delivery == "delivered":
        return "delivered"
    return alert.delivery


def _time(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M")
