"""``cairn monitor run``, ``show`` and ``reference``: a served model's drift, window by window,
against its training reference."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from cairn.cli._project import require_project

TREND_WINDOWS = 8  # windows ``show`` prints by default (the newest)


def add_commands(app: typer.Typer) -> None:
    """Add ``run``, ``show`` and ``reference`` to the ``cairn monitor`` group."""
    app.command("run")(run_command)
    app.command("show")(show_command)
    app.command("reference")(reference_command)


def run_command(
    model: Annotated[
        str, typer.Argument(help="the model: churn (every version served), churn@champion, churn/3")
    ],
    window: Annotated[
        str, typer.Option("--window", help="1h, 1d, 7d (aligned to UTC) or a row count (10000)")
    ] = "1d",
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help="from: 2026-12-01, 2026-12-01T08:00Z or 24h back (default: after the "
            "windows already computed)",
        ),
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="up to this time (same forms)")
    ] = None,
    executor: Annotated[
        str | None,
        typer.Option(
            "--executor",
            help="dask (a local Dask cluster) or a scheduler's address tcp://HOST:8786",
        ),
    ] = None,
) -> None:
    """Compare the served model's logged inputs and predictions with its training data,
    window by window, and store each window's result; print one line per window."""
    from cairn.monitoring.windows import format_ms, monitor_model

    require_project()
    run = monitor_model(model, window=window, since=since, until=until, executor=executor)
    for note in run.notes:
        print(note, file=sys.stderr)
    if run.windows:
        from cairn.cli._table import Column, write_table

        several = len({w.version for w in run.windows}) > 1
        columns = [
            Column("start (UTC)", keep=True),
            *([Column("version", right=True)] if several else []),
            Column("rows", right=True),
            Column("dataset drift", keep=True),
            Column("drift share", right=True),
            Column("drifted columns"),
        ]
        rows = [
            [
                format_ms(w.start_ms) + (" (open)" if w.partial else ""),
                *([str(w.version)] if several else []),
                f"{w.rows:,}",
                _dataset_verdict(w.verdict),
                "-" if w.share is None else f"{w.share:.0%}",
                ", ".join(w.drifted) or "-",
            ]
            for w in run.windows
        ]
        write_table(columns, rows)
    versions = ", ".join(f"{run.model}/{v}" for v in run.versions)
    print(
        f"{len(run.windows)} window(s) of {run.window} stored for {versions}; see the trend "
        f"with: cairn monitor show {run.model}",
        file=sys.stderr,
    )
    for alert in run.alerts:
        print(
            f"alert {getattr(alert, 'rule', '')}: {getattr(alert, 'message', alert)}",
            file=sys.stderr,
        )


def show_command(
    model: Annotated[str, typer.Argument(help="the model: churn, churn@champion or churn/3")],
    limit: Annotated[
        int | None,
        typer.Option(
            "--limit",
            min=1,
            max=100_000,
            help=f"the newest N windows (default {TREND_WINDOWS}; all with --json)",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="the stored windows as JSON")] = False,
) -> None:
    """The drift trend per feature: one row per feature (and the prediction), one column per
    recent window, each cell the effect size, marked * when that feature drifted."""
    from dataclasses import asdict

    from cairn.monitoring.windows import monitor_history

    require_project()
    stored = monitor_history(model, limit=limit if limit is not None or as_json else TREND_WINDOWS)
    if as_json:
        from cairn.cli._render import write_json

        write_json([asdict(w) for w in stored])
        return
    if not stored:
        print(
            f"no monitoring windows stored for {model}; compute them with: "
            f"cairn monitor run {model}",
            file=sys.stderr,
        )
        return
    _write_trend(stored)


def _write_trend(stored: list[Any]) -> None:
    """One row per feature, one column per window: effect sizes, * where drifted."""
    from cairn.cli._table import Column, write_table
    from cairn.monitoring.windows import format_ms

    several = len({w.version for w in stored}) > 1
    titles = []
    for w in stored:
        title = format_ms(w.start_ms)[5:]  # MM-DD HH:MM: the year is the same nearly always
        title += f" v{w.version}" if several else ""
        titles.append(title + ("~" if w.result.get("partial") else ""))
    features: list[str] = []
    cells: dict[tuple[str, int], str] = {}
    for index, w in enumerate(stored):
        for column in w.result.get("columns", []):
            name = str(column.get("column"))
            if name not in features:
                features.append(name)
            cells[(name, index)] = _cell(column)
    # The prediction's row last, under the inputs.
    features.sort(key=lambda name: name == "_prediction")
    rows = [[name, *(cells.get((name, i), "") for i in range(len(stored)))] for name in features]
    rows.append(
        ["(rows)", *(f"{w.rows:,}" for w in stored)],
    )
    rows.append(["(dataset)", *(_dataset_verdict(w.verdict) for w in stored)])
    columns = [Column("feature", keep=True), *(Column(t, right=True) for t in titles)]
    write_table(columns, rows)
    print(
        "cells: effect size (numeric: Wasserstein distance in training sd; categorical: "
        "Cramer's V); * drifted; ~ window still open; . too few rows",
        file=sys.stderr,
    )


def _cell(column: dict[str, Any]) -> str:
    """A window's cell of one feature: its effect, * when drifted."""
    verdict = column.get("verdict")
    if verdict == "not enough data":
        return "."
    if verdict in ("missing", "incomparable"):
        return str(verdict)
    effect = column.get("effect")
    text = "-" if effect is None else f"{effect:.2f}"
    return text + ("*" if verdict == "drift" else " ")


def reference_command(
    model: Annotated[str, typer.Argument(help="the model version: churn/3 or churn@champion")],
    data: Annotated[
        str | None,
        typer.Option(
            "--data",
            help="the training data: a Parquet/CSV file or folder, or data:NAME@vN "
            "(default: the dataset the run that logged it read)",
        ),
    ] = None,
    refresh: Annotated[
        bool, typer.Option("--refresh", help="compute it again even if one is stored")
    ] = False,
) -> None:
    """Compute (or show) a model version's training reference: the summary monitoring
    compares its served traffic with."""
    from cairn.monitoring.reference import compute_reference, describe_source

    require_project()
    source: Any = data
    if data is not None and not data.startswith("data:"):
        from pathlib import Path

        from cairn.core.errors import InvalidInputError

        if "\x00" in data or not data.strip():
            raise InvalidInputError(
                f"--data {data!r} is not a path; give a file, a folder or data:NAME@vN"
            )
        source = Path(data)
        if not source.exists():
            raise InvalidInputError(
                f"no file or folder at {source}; give a Parquet/CSV file, a folder of them or "
                "data:NAME@vN"
            )
    found = compute_reference(model, source, refresh=refresh or data is not None)
    print(f"{found.model}/{found.version}: reference of {describe_source(found)}")
    if found.note:
        print(f"  {found.note}", file=sys.stderr)


def _dataset_verdict(verdict: str) -> str:
    """The window's verdict on the dataset as a whole (half its columns drifted, as in
    Evidently's dataset drift): "yes" / "no", so that "no" beside a drifted column reads
    as what it is."""
    return {"drift": "yes", "no drift": "no"}.get(verdict, verdict)
