"""The tables of ``cairn runs ls``, ``cairn models ls`` and ``cairn data ls``.

One rendering for the full commands and for their lean path (``cairn.cli._lean``), so both print
the same; standard library only, so the lean path stays light.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from cairn.cli._render import fmt_value, human_size
from cairn.cli._table import Column, write_table
from cairn.core.ids import describe_time

MAX_TABLE_COLUMNS = 10
SYSTEM_PREFIX = "system/"


def duration(start_ms: int, end_ms: int | None) -> str:
    """A run's duration for people: 4.2s, 3.1m, 2.0h, or - while it runs."""
    if end_ms is None:
        return "-"
    seconds = (end_ms - start_ms) / 1000
    if seconds < 60:
        return f"{seconds:.1f}s"
    return f"{seconds / 60:.1f}m" if seconds < 3600 else f"{seconds / 3600:.1f}h"


def print_runs(records: Sequence[Any], filtered: bool) -> None:
    """The runs table (``RunRecord``s): attributes, then model metrics, then params."""
    if not records:
        print("no runs match" if filtered else "no runs yet: start one with cairn.run()")
        return
    metric_keys = sorted({k for r in records for k in r.metrics})
    param_keys = sorted({k for r in records for k in r.params})
    # The sampler's system/* metrics describe the machine, not the model: shown by runs show.
    shown_metrics = [k for k in metric_keys if not k.startswith(SYSTEM_PREFIX)]
    shown_metrics = shown_metrics[:MAX_TABLE_COLUMNS]
    shown_params = param_keys[: max(0, MAX_TABLE_COLUMNS - len(shown_metrics))]
    columns = [
        Column("run id", keep=True),
        Column("name"),
        Column("experiment"),
        Column("status"),
        Column("started"),
        Column("took", right=True),
        *(Column(k, right=True) for k in shown_metrics),
        *(Column(k, right=True) for k in shown_params),
    ]
    rows = [
        [
            r.id,
            ("└ " if r.parent_id else "") + r.name,
            r.experiment,
            r.status + (" (deleted)" if r.deleted else ""),
            describe_time(r.start_ms),
            duration(r.start_ms, r.end_ms),
            *[fmt_value(r.metrics.get(k)) for k in shown_metrics],
            *[fmt_value(r.params.get(k)) for k in shown_params],
        ]
        for r in records
    ]
    write_table(columns, rows)
    hidden = len(metric_keys) + len(param_keys) - len(shown_metrics) - len(shown_params)
    hidden -= sum(1 for k in metric_keys if k.startswith(SYSTEM_PREFIX))
    if hidden:
        sys.stderr.write(f"{hidden} more column(s): see --format csv or 'cairn runs show RUN'\n")


def print_models(models: Sequence[Any]) -> None:
    """The models table (``RegisteredModel``s): latest version, count, aliases, description."""
    if not models:
        print("no models yet: log one with cairn.log_model(model, name) inside a run")
        return
    columns = [
        Column("name", keep=True),
        Column("latest", right=True),
        Column("versions", right=True),
        Column("aliases"),
        Column("description"),
        Column("updated"),
    ]
    rows = [
        [
            m.name,
            str(m.latest_version or "-"),
            str(m.version_count),
            ", ".join(f"{a}={n}" for a, n in m.aliases.items()) or "-",
            _one_line(m.description),
            describe_time(m.updated_ms),
        ]
        for m in models
    ]
    write_table(columns, rows)


def _one_line(text: str | None) -> str:
    """A free-text field on one table line (its line breaks would break the columns)."""
    return " ".join(text.split()) if text else "-"


def print_datasets(datasets: Sequence[Any]) -> None:
    """The datasets table (``Dataset``s): catalog fields, latest version, whether overdue."""
    if not datasets:
        print("no datasets yet: add one with cairn data add PATH --name NAME")
        return
    columns = [
        Column("name", keep=True),
        Column("description"),
        Column("owner"),
        Column("frequency"),
        Column("latest"),
        Column("updated"),
        Column("size", right=True),
        Column("files", right=True),
        Column("stale"),
    ]
    rows = []
    for d in datasets:
        latest = d.latest
        rows.append(
            [
                d.name,
                _one_line(d.description),
                _one_line(d.owner),
                _one_line(d.frequency),
                f"v{latest.number}" if latest else "-",
                describe_time(latest.created_ms) if latest else "-",
                human_size(latest.size) if latest else "-",
                str(latest.file_count) if latest else "-",
                "overdue" if d.stale else "-",
            ]
        )
    write_table(columns, rows)
