"""``cairn validate``: profile a reference table into a suite, check tables against it."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from cairn import data, validation
from cairn.cli._project import require_project
from cairn.cli._render import console, fail
from cairn.core.errors import InvalidInputError

app = typer.Typer(
    help="Profile data into expectations and validate every batch against them.",
    no_args_is_help=True,
)

FAILED = 3  # the exit status of a check that found errors (1: the command itself failed)


class ReportFormat(str, Enum):
    """Output formats of a check."""

    text = "text"
    json = "json"
    html = "html"


def _table_of(source: str) -> tuple[Path, str | None]:
    """The local path to read, and the dataset version ``name@vN`` when it is one."""
    if source.startswith("data:"):
        ref = source.removeprefix("data:")
        version = data.version(ref)
        return data.path(version.ref), version.ref
    path = Path(source)
    if not path.exists():
        raise InvalidInputError(
            f"no file or folder at {path}; give a Parquet or CSV file or data:NAME"
        )
    return path, None


@app.command("profile")
def profile_command(
    source: Annotated[str, typer.Argument(help="a Parquet/CSV file, a folder, or data:NAME[@vN]")],
    suite: Annotated[str, typer.Option("--suite", help="the suite's name")],
    holdout: Annotated[float, typer.Option("--holdout", min=0, max=0.9)] = 0.2,
    output: Annotated[
        Path | None, typer.Option("--output", help="also write the YAML here")
    ] = None,
    columns: Annotated[
        list[str] | None,
        typer.Option("--columns", help="profile only these columns (repeatable, or a,b,c)"),
    ] = None,
    exclude: Annotated[
        list[str] | None,
        typer.Option("--exclude", help="leave these columns out, e.g. the target (repeatable)"),
    ] = None,
) -> None:
    """Suggest a suite from reference data (checked on a held-out part), and store it.

    For data:NAME that models were trained on, the columns none of them takes (the target)
    are left out unless --columns or --exclude say otherwise: scoring batches lack them.
    """
    path, dataset_version = _table_of(source)
    chosen, left_out = _split(columns), _split(exclude)
    notes: list[str] = []
    if dataset_version is not None and chosen is None and not left_out:
        left_out, notes = _model_targets(dataset_version, path)
    table = _read_all(path)
    made = validation.profile(
        table,
        suite,
        holdout=holdout,
        source=dataset_version,
        columns=chosen,
        exclude=left_out or (),
    )
    stored = validation.save_suite(made)
    if output is not None:
        _write(output, made.to_yaml())
    console.print(
        Text(
            f"{stored.ref}: {len(made.expectations)} expectations for {len(made.columns())} columns"
        )
    )
    for note in [*notes, *made.notes]:
        console.print(Text(f"  {note}", style="dim"))
    console.print(Text(f"see it with: cairn validate show {stored.ref}"))


def _split(values: list[str] | None) -> list[str] | None:
    """Repeated options and comma-separated lists as one list of names."""
    if values is None:
        return None
    return [name.strip() for value in values for name in value.split(",") if name.strip()]


def _model_targets(dataset_version: str, path: Path) -> tuple[list[str], list[str]]:
    """The columns no model trained on ``dataset_version`` takes, and a note saying so."""
    from cairn import registry

    inputs = registry.model_inputs_from(dataset_version)
    if not inputs:
        return [], []
    taken = {column for names in inputs.values() for column in names}
    targets = sorted(c for c in _columns_of(path) if c not in taken)
    if not targets:
        return [], []
    models = ", ".join(sorted(inputs))
    note = (
        f"left out {', '.join(targets)}: no input of {models}, made from {dataset_version} "
        "(--columns or --exclude choose the columns yourself)"
    )
    return targets, [note]


@app.command("check")
def check_command(
    source: Annotated[str, typer.Argument(help="a Parquet/CSV file, a folder, or data:NAME[@vN]")],
    suite: Annotated[str, typer.Option("--suite", help="NAME, NAME@vN, or a suite .yaml file")],
    output: Annotated[ReportFormat, typer.Option("--format", help="text, json or html")] = (
        ReportFormat.text
    ),
    report: Annotated[
        Path | None, typer.Option("--report", help="write an HTML report here")
    ] = None,
) -> None:
    """Validate a table against a suite; exit 3 when an error-severity expectation fails."""
    the_suite, version = validation.load_suite(suite)
    path, dataset_version = _table_of(source)
    present = _columns_of(path)
    missing = [c for c in the_suite.columns() if c not in present]
    if missing:
        fail(
            f"{source} lacks column(s) {', '.join(missing)} that suite {suite} names; check the "
            "data, or edit the suite (cairn validate show) if the columns were renamed"
        )
    result = validation.validate(path, the_suite)
    validation.record_result(result, version, target=source, dataset_version=dataset_version)
    if report is not None:
        _write(report, validation.to_html(result))
    if output is ReportFormat.json:
        typer.echo(result.to_json())
    elif output is ReportFormat.html:
        typer.echo(validation.to_html(result))
    else:
        _print(result)
    if not result.passed:
        raise typer.Exit(FAILED)


@app.command("show")
def show_command(suite: Annotated[str, typer.Argument(help="NAME or NAME@vN")]) -> None:
    """Print a stored suite as YAML."""
    require_project()
    the_suite, version = validation.load_suite(suite)
    if version is not None:
        console.print(
            Text(
                f"# {version.ref}"
                + (f", profiled from {version.source}" if version.source else ""),
                style="dim",
            )
        )
    typer.echo(the_suite.to_yaml())


@app.command("save")
def save_command(
    file: Annotated[Path, typer.Argument(help="a suite's YAML file (e.g. one edited by hand)")],
) -> None:
    """Store a suite's YAML file as the next version of its name (unchanged text makes none)."""
    if not file.is_file():
        fail(f"no suite file at {file}; check the path")
    the_suite, _ = validation.load_suite(file)
    stored = validation.save_suite(the_suite)
    console.print(
        Text(f"{stored.ref}: {len(the_suite.expectations)} expectations (digest {stored.digest})")
    )


@app.command("results")
def results_command(
    dataset: Annotated[str, typer.Argument(help="data:NAME[@vN] or NAME[@vN] (latest if no @)")],
    output: Annotated[ReportFormat, typer.Option("--format", help="text or json")] = (
        ReportFormat.text
    ),
) -> None:
    """List the checks recorded against a dataset version, oldest first."""
    require_project()
    if output is ReportFormat.html:
        fail("cairn validate results prints text or json; use check --report for HTML")
    checks = validation.results_of(dataset.removeprefix("data:"))
    if output is ReportFormat.json:
        import json

        typer.echo(json.dumps(checks, indent=2, default=str))
        return
    if not checks:
        console.print(Text(f"no checks recorded against {dataset}"))
        return
    table = Table("suite", "verdict", "errors", "warnings", "rows", "when (UTC)", box=None)
    for check in checks:
        report = check.get("report")
        rows = report.get("rows", "-") if isinstance(report, dict) else "-"
        table.add_row(
            Text(str(check["suite"])),
            Text("passed", style="green") if check["passed"] else Text("FAILED", style="red"),
            Text(str(check["errors"])),
            Text(str(check["warnings"])),
            Text(f"{rows:,}" if isinstance(rows, int) else str(rows)),
            Text(_when(int(str(check["created_ms"])))),
        )
    console.print(table)


def _when(ms: int) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _print(result: validation.ValidationResult) -> None:
    style = "bold green" if result.passed else "bold red"
    console.print(Text(result.summary(), style=style))
    if not result.failures:
        return
    table = Table(
        "severity", "expectation", "observed", "expected", "rows", box=None, header_style="bold"
    )
    for f in result.failures:
        table.add_row(
            Text(f.severity, style="red" if f.severity == "error" else "yellow"),
            Text(f.expectation),
            Text(str(f.observed)),
            Text(str(f.expected)),
            Text(", ".join(str(r) for r in f.rows) or "-"),
        )
    console.print(table)


def _write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` whole or not at all, never through a link (decision 0011)."""
    from cairn.core.destination import write_file

    write_file(path, text.encode("utf-8"))


def _columns_of(path: Path) -> set[str]:
    from cairn.validation.validate import batches

    for batch in batches(path, 1):
        return set(batch.schema.names)
    return set()


def _read_all(path: Path) -> object:
    import pyarrow as pa

    from cairn.validation.validate import batches

    parts = list(batches(path))
    if not parts:
        fail(f"{path} holds no rows to profile")
    return pa.Table.from_batches(parts)
