"""``cairn runs``: list, show, compare, diff and delete runs."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from cairn import data, tracking
from cairn.cli._listing import print_runs
from cairn.cli._project import require_project
from cairn.cli._render import console, fmt_value, human_size, write_csv, write_json
from cairn.cli._runs_artifacts import artifacts_command
from cairn.core.errors import InvalidInputError
from cairn.tracking import RunDiff, RunRecord, describe_time

app = typer.Typer(help="List, show, compare, diff and delete runs.", no_args_is_help=True)

MAX_TABLE_COLUMNS = 10
SYSTEM_PREFIX = "system/"


class Format(str, Enum):
    """Output formats of listings."""

    table = "table"
    csv = "csv"
    json = "json"


class DiffFormat(str, Enum):
    """Output formats of a diff (its sections have different columns: no single CSV)."""

    table = "table"
    json = "json"


def _duration(record: RunRecord) -> str:
    seconds = record.duration_s
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    return f"{seconds / 60:.1f}m" if seconds < 3600 else f"{seconds / 3600:.1f}h"


def _status(status: str) -> str:
    colour = {
        "finished": "green",
        "failed": "red",
        "killed": "yellow",
        "crashed": "bold red",
        "running": "cyan",
    }
    return f"[{colour.get(status, 'white')}]{status}[/]"


def record_dict(record: RunRecord) -> dict[str, Any]:
    """A run record as plain JSON-ready data (metric history left out)."""
    return {
        "run_id": record.id,
        "run_name": record.name,
        "experiment": record.experiment,
        "status": record.status,
        "start_time": describe_time(record.start_ms),
        "end_time": describe_time(record.end_ms),
        "parent_run_id": record.parent_id,
        "user": record.user,
        "params": record.params,
        "metrics": record.metrics,
        "tags": record.tags,
    }


@app.command("ls")
def list_runs(
    filter: Annotated[
        str | None,
        typer.Option("--filter", "-f", help='e.g. "metrics.auc > 0.9 AND params.lr < 0.1"'),
    ] = None,
    sort: Annotated[
        list[str] | None, typer.Option("--sort", "-s", help='e.g. "metrics.auc DESC" (repeatable)')
    ] = None,
    limit: Annotated[
        int | None, typer.Option("--limit", "-n", help="at most this many runs")
    ] = None,
    experiment: Annotated[
        str | None, typer.Option("--experiment", "-e", help="only the runs of this experiment")
    ] = None,
    output: Annotated[Format, typer.Option("--format", help="table, csv or json")] = Format.table,
    deleted: Annotated[bool, typer.Option("--deleted", help="include deleted runs")] = False,
) -> None:
    """List runs, newest first, with their metrics and params."""
    require_project()
    records = tracking.find_runs(filter, sort, experiment, limit, include_deleted=deleted)
    metric_keys = sorted({k for r in records for k in r.metrics})
    param_keys = sorted({k for r in records for k in r.params})
    if output is Format.json:
        write_json([record_dict(r) for r in records])
        return
    if output is Format.csv:
        header = ["run_id", "run_name", "experiment", "status", "start_time", "end_time"]
        write_csv(
            header + [f"metrics.{k}" for k in metric_keys] + [f"params.{k}" for k in param_keys],
            [
                [
                    r.id,
                    r.name,
                    r.experiment,
                    r.status,
                    describe_time(r.start_ms),
                    describe_time(r.end_ms),
                ]
                + [r.metrics.get(k) for k in metric_keys]
                + [r.params.get(k) for k in param_keys]
                for r in records
            ],
        )
        return
    print_runs(records, filtered=bool(filter))


@app.command("show")
def show_run(
    run_id: Annotated[str, typer.Argument(help="run id or a unique prefix of it")],
) -> None:
    """Show everything recorded about one run."""
    require_project()
    r = tracking.get_run(run_id)
    console.print(f"[bold]{escape(r.name)}[/]  {r.id}")
    facts = [
        ("experiment", r.experiment),
        ("status", _status(r.status) + (" (deleted)" if r.deleted else "")),
        ("parent", r.parent_id or "-"),
        ("user", r.user or "-"),
        ("started", describe_time(r.start_ms) + " UTC"),
        ("ended", describe_time(r.end_ms) + (" UTC" if r.end_ms is not None else "")),
        ("took", _duration(r)),
    ]
    for label, value in facts:
        console.print(f"  [dim]{label:>10}[/]  {value}")
    if r.params:
        table = Table("param", "value", title="params", title_justify="left", box=None)
        for key, value in r.params.items():
            table.add_row(escape(key), fmt_value(value))
        console.print(table)
    if r.metrics:
        table = Table(
            "metric",
            "latest",
            "min",
            "max",
            "points",
            title="metrics",
            title_justify="left",
            box=None,
        )
        for key, latest in r.metrics.items():
            values = [p.value for p in r.metric_history.get(key, [])]
            table.add_row(
                escape(key),
                fmt_value(latest),
                fmt_value(min(values)) if values else "-",
                fmt_value(max(values)) if values else "-",
                str(len(values)),
            )
        console.print(table)
    if r.tags:
        table = Table("tag", "value", title="tags", title_justify="left", box=None)
        for key, value in r.tags.items():
            table.add_row(escape(key), escape(value))
        console.print(table)
    used = data.run_datasets(r.id)
    if used:
        table = Table(
            "dataset", "version", "files", "size", title="data", title_justify="left", box=None
        )
        for relation, version in used:
            label = "read" if relation == "input" else "wrote"
            table.add_row(
                f"{label} {escape(version.dataset)}",
                f"v{version.number}" + (" (deleted)" if version.deleted else ""),
                str(version.file_count),
                human_size(version.size),
            )
        console.print(table)
    if r.artifacts:
        table = Table(
            "artifact", "size", "digest", title="artifacts", title_justify="left", box=None
        )
        for artifact in r.artifacts:
            table.add_row(escape(artifact.path), f"{artifact.size:,} B", artifact.digest[:19] + "…")
        console.print(table)
    if r.error:
        console.print("[bold red]error[/]")
        console.print(r.error, markup=False, highlight=False)


@app.command("compare")
def compare_runs(
    run_ids: Annotated[list[str], typer.Argument(help="two or more run ids (or prefixes)")],
    system: Annotated[
        bool, typer.Option("--system", help="also compare the system/* metrics (the machine's)")
    ] = False,
) -> None:
    """Show runs' params and metrics side by side; rows that differ are marked with *."""
    require_project()
    if len(run_ids) < 2:
        raise InvalidInputError(
            "compare needs at least two run ids, e.g. cairn runs compare 01jd 01je"
        )
    records = [tracking.get_run(ref) for ref in run_ids]
    table = Table(box=None, header_style="bold")
    table.add_column("")
    for r in records:
        table.add_column(f"{r.name}\n[dim]{r.id[:10]}[/]", justify="right")
    hidden = 0
    for prefix, attribute in (("params", "params"), ("metrics", "metrics")):
        keys = sorted({k for r in records for k in getattr(r, attribute)})
        for key in keys:
            if prefix == "metrics" and key.startswith(SYSTEM_PREFIX) and not system:
                hidden += 1  # the machine's load, not the model's quality: --system shows them
                continue
            cells = [fmt_value(getattr(r, attribute).get(key)) for r in records]
            differs = len(set(cells)) > 1
            style = "bold yellow" if differs else "dim"
            # The * marks a difference where colours are lost (piped, NO_COLOR).
            label = escape(f"{'* ' if differs else '  '}{prefix}.{key}")
            table.add_row(f"[{style}]{label}[/]", *[f"[{style}]{escape(c)}[/]" for c in cells])
    table.add_row("[dim]  status[/]", *[_status(r.status) for r in records])
    table.add_row("[dim]  took[/]", *[_duration(r) for r in records])
    console.print(table)
    note = "rows marked * differ between the runs"
    if hidden:
        note += f"; {hidden} system/* metric(s) left out (--system shows them)"
    console.print(f"[dim]{note}[/]", highlight=False)


@app.command("diff")
def diff_runs(
    run_a: Annotated[str, typer.Argument(help="run id (or a unique prefix) of run A")],
    run_b: Annotated[str, typer.Argument(help="run id (or a unique prefix) of run B")],
    output: Annotated[
        DiffFormat, typer.Option("--format", help="table or json")
    ] = DiffFormat.table,
    full: Annotated[
        bool, typer.Option("--full", help="show the whole diff of the uncommitted changes")
    ] = False,
) -> None:
    """Show what differs between two runs: seed, params, code, packages, environment, metrics."""
    require_project()
    if full:
        diff = tracking.diff_runs(run_a, run_b, max_diff_lines=None)
    else:
        diff = tracking.diff_runs(run_a, run_b)
    if output is DiffFormat.json:
        write_json(_diff_dict(diff))
        return
    _print_diff(diff)


def _diff_dict(diff: RunDiff) -> dict[str, Any]:
    return {
        "run_a": {"run_id": diff.run_a, "run_name": diff.name_a},
        "run_b": {"run_id": diff.run_b, "run_name": diff.name_b},
        "same": diff.same,
        "same_setup": diff.same_setup,
        "sections": {
            section.name: [
                {"key": d.key, "a": d.a, "b": d.b, "change": d.change} for d in section.differences
            ]
            for section in diff.sections
        },
        "code_diff": diff.code_diff,
        "code_diff_omitted": diff.code_diff_omitted,
    }


def _print_diff(diff: RunDiff) -> None:
    # Names, keys and values are the user's text: escaped or wrapped in Text, never markup.
    console.print(f"[dim]A[/]  [bold]{escape(diff.name_a)}[/]  {diff.run_a}", highlight=False)
    console.print(f"[dim]B[/]  [bold]{escape(diff.name_b)}[/]  {diff.run_b}", highlight=False)
    for section in diff.sections:
        if section.same:
            continue
        table = Table(
            box=None, header_style="bold", pad_edge=False, title=section.name, title_justify="left"
        )
        table.add_column("key", no_wrap=True)
        table.add_column(Text(f"A {diff.name_a}"), style="red")
        table.add_column(Text(f"B {diff.name_b}"), style="green")
        for d in section.differences:
            table.add_row(Text(d.key), Text(fmt_value(d.a)), Text(fmt_value(d.b)))
        console.print()
        console.print(table)
    if diff.code_diff:
        console.print()
        console.print("[bold]uncommitted changes[/] [dim](diff of cairn/git.diff, A → B)[/]")
        console.print(_diff_text(diff.code_diff), soft_wrap=True, highlight=False)
        if diff.code_diff_omitted:
            console.print(f"[dim]… {diff.code_diff_omitted} more line(s) left out: see --full[/]")
    console.print()
    if diff.same_setup:
        console.print(
            f"runs {diff.run_a} and {diff.run_b} do not differ in seed, params, code, packages "
            "or environment",
            highlight=False,
        )
    else:
        differing = [s.name for s in diff.sections if not s.same]
        console.print(
            f"runs {diff.run_a} and {diff.run_b} differ in {', '.join(differing)}",
            highlight=False,
        )


def _diff_text(code_diff: str) -> Text:
    styles = (("+++", "bold"), ("---", "bold"), ("@@", "cyan"), ("+", "green"), ("-", "red"))
    text = Text()
    for number, line in enumerate(code_diff.splitlines()):
        style = next((s for prefix, s in styles if line.startswith(prefix)), "")
        text.append(("\n" if number else "") + line, style=style)
    return text


app.command("artifacts")(artifacts_command)


@app.command("rm")
def remove_runs(
    run_ids: Annotated[list[str], typer.Argument(help="run ids (or unique prefixes)")],
) -> None:
    """Delete runs (reversible with 'cairn runs restore' until 'cairn gc')."""
    require_project()
    removed = tracking.delete_runs(run_ids)
    console.print(
        f"deleted {len(removed)} run(s): {', '.join(removed)}\n"
        "[dim]undo with 'cairn runs restore ID', remove for good with 'cairn gc'[/]"
    )


@app.command("restore")
def restore_runs(
    run_ids: Annotated[list[str], typer.Argument(help="run ids (or unique prefixes)")],
) -> None:
    """Bring back runs deleted with 'cairn runs rm'."""
    require_project()
    restored = tracking.restore_runs(run_ids)
    console.print(f"restored {len(restored)} run(s): {', '.join(restored)}")
