"""``cairn monitor labels``: a served model's quality once the ground truth arrives."""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from typing import Annotated, Any

import typer

from cairn.cli._project import require_project


def add_commands(app: typer.Typer) -> None:
    """Add ``labels`` to the ``cairn monitor`` group."""
    app.command("labels")(labels_command)


def labels_command(
    model: Annotated[
        str, typer.Argument(help="the served model: churn (every version), churn/3, churn@champion")
    ],
    file: Annotated[
        str,
        typer.Argument(
            help="labels (Parquet or CSV file or folder), or a batch-scoring output holding "
            "a label column beside its prediction column"
        ),
    ],
    id_column: Annotated[
        str, typer.Option("--id-column", help="the labels' column holding the request id")
    ] = "request_id",
    label_column: Annotated[
        str, typer.Option("--label-column", help="the labels' column holding the truth")
    ] = "label",
    window: Annotated[
        str, typer.Option("--window", help="30m, 1h, 1d, 7d, or a number of rows")
    ] = "1d",
    task: Annotated[
        str | None,
        typer.Option("--task", help="classification or regression (default: told from the values)"),
    ] = None,
    output_format: Annotated[str, typer.Option("--format", help="table or json")] = "table",
) -> None:
    """Join labels to the logged predictions by request id, measure each window (accuracy,
    F1, ROC AUC; or MAE, RMSE), compare with the training run's metrics, and store it."""
    from cairn.cli._render import fail, write_json
    from cairn.monitoring.quality import record_labels

    if output_format not in ("table", "json"):
        fail(f"--format is table or json, not {output_format!r}")
    require_project()
    run = record_labels(
        model, file, id_column=id_column, label_column=label_column, window=window, task=task
    )
    if output_format == "json":
        write_json(_as_json(run))
    else:
        _print_table(run)
        print(run.summary())
    for note in run.notes:
        print(f"note: {note}", file=sys.stderr)


def _print_table(run: Any) -> None:
    from cairn.cli._render import fmt_value

    print(f"{run.model}: {run.task} ({run.task_reason})")
    if run.f1_average:
        print(f"F1: {run.f1_average}")
    for w in run.windows:
        start = datetime.fromtimestamp(w.start_ms / 1000, tz=timezone.utc)
        parts = [f"{start:%Y-%m-%d %H:%M}", f"v{w.version}", f"{w.rows:,} rows"]
        for name, entry in w.metrics.items():
            if entry["value"] is None:
                continue
            text = f"{name} {fmt_value(round(entry['value'], 4))}"
            if entry["training"] is not None:
                text += f" (training {fmt_value(round(entry['training'], 4))})"
            parts.append(text)
        parts.append(w.verdict.upper() if w.verdict == "worse" else w.verdict)
        print("  ".join(parts))


def _as_json(run: Any) -> dict[str, Any]:
    import dataclasses

    return dataclasses.asdict(run) | {"summary": run.summary()}
