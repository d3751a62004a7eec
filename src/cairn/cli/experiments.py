"""``cairn experiments``: list, create, rename and delete experiments.

``cairn.tracking`` names its functions lazily: ``cairn experiments --help`` imports no
SQLAlchemy; each command loads what it uses when it runs.
"""

from __future__ import annotations

from dataclasses import asdict
from enum import Enum
from typing import Annotated

import typer

from cairn import tracking
from cairn.cli._project import require_project
from cairn.cli._render import console, write_csv, write_json
from cairn.cli._table import Column, write_table
from cairn.core.checks import show
from cairn.core.ids import describe_time

app = typer.Typer(help="List, create, rename and delete experiments.", no_args_is_help=True)

LIST_FIELDS = ("name", "runs", "deleted_runs", "last_run", "created")


class Format(str, Enum):
    """Output formats of listings."""

    table = "table"
    csv = "csv"
    json = "json"


@app.command("ls")
def list_command(
    output: Annotated[Format, typer.Option("--format", help="table, csv or json")] = Format.table,
) -> None:
    """List experiments with their runs, newest run and creation time."""
    require_project()
    found = tracking.list_experiments()
    if output is Format.json:
        write_json(
            [
                {
                    **asdict(e),
                    "last_run": describe_time(e.last_run_ms) if e.last_run_ms else None,
                    "created": describe_time(e.created_ms),
                }
                for e in found
            ]
        )
        return
    rows = [
        [
            e.name,
            str(e.runs),
            str(e.deleted_runs),
            describe_time(e.last_run_ms) if e.last_run_ms is not None else "-",
            describe_time(e.created_ms),
        ]
        for e in found
    ]
    if output is Format.csv:
        write_csv(LIST_FIELDS, rows)
        return
    if not found:
        print("no experiments yet: create one with cairn experiments create NAME")
        return
    columns = [
        Column("name", keep=True),
        Column("runs", right=True),
        Column("deleted", right=True),
        Column("last run"),
        Column("created"),
    ]
    write_table(columns, rows)


@app.command("create")
def create_command(
    name: Annotated[str, typer.Argument(help="the new experiment's name")],
) -> None:
    """Create an empty experiment (start runs in it with -e NAME or experiment=NAME)."""
    # No require_project: like `cairn run`, a command that records starts the project.
    made = tracking.create_experiment(name)
    console.print(f"created experiment {show(made.name)}", markup=False, highlight=False)


@app.command("rename")
def rename_command(
    old: Annotated[str, typer.Argument(help="the experiment's name")],
    new: Annotated[str, typer.Argument(help="its new name")],
) -> None:
    """Rename an experiment; its runs stay in it."""
    require_project()
    renamed = tracking.rename_experiment(old, new)
    console.print(
        f"renamed experiment {show(old)} to {show(renamed.name)} "
        f"({renamed.runs} run(s) in it, {renamed.deleted_runs} deleted)",
        markup=False,
        highlight=False,
    )


@app.command("rm")
def remove_command(
    name: Annotated[str, typer.Argument(help="the experiment's name")],
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="also delete its runs (soft: 'cairn runs restore' brings them back)"
        ),
    ] = False,
) -> None:
    """Delete an experiment; one with runs only with --force, which deletes them too (soft)."""
    require_project()
    done = tracking.delete_experiment(name, force=force)
    lines = []
    if done.deleted_runs:
        lines.append(
            f"deleted {len(done.deleted_runs)} run(s) of experiment {show(name)}: "
            f"{', '.join(done.deleted_runs)} (undo with 'cairn runs restore ID', remove for "
            "good with 'cairn gc')"
        )
    if done.removed:
        lines.append(f"deleted experiment {show(name)}")
    else:
        lines.append(
            f"experiment {show(name)} stays, empty, while {done.kept_for} deleted run(s) refer "
            "to it (so that they can be restored); after 'cairn gc' removes them, "
            f"'cairn experiments rm {name}' removes it"
        )
    console.print("\n".join(lines), markup=False, highlight=False, soft_wrap=True)
