"""``cairn monitor report``: a model's monitoring as one self-contained HTML file."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from cairn.cli._project import require_project


def add_commands(app: typer.Typer) -> None:
    """Add ``report`` to the ``cairn monitor`` group."""
    app.command("report")(report_command)


def report_command(
    model: Annotated[str, typer.Argument(help="the model: churn, churn/3 or churn@champion")],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="the HTML file to write (its folder must exist)")
    ] = Path("report.html"),
    since: Annotated[
        str | None,
        typer.Option("--since", help="windows starting from: 2026-01-31, 2026-01-31T12:00 or 7d"),
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="windows starting before this time")
    ] = None,
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="only the newest N windows")
    ] = None,
) -> None:
    """Write an HTML report (works offline): drift per feature over time, reference vs
    current distributions, quality and alerts. Prints the file's path."""
    from cairn.monitoring.report import build_report, check_destination

    require_project()
    check_destination(output)
    report = build_report(model, since=since, until=until, limit=limit)
    written = report.save(output)
    print(written)
    print(report.summary, file=sys.stderr)
