"""``cairn run``: launch a command as a tracked, seeded run (cairn's own lines on stderr)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from cairn import tracking
from cairn.cli._render import err_console, fmt_value


def run_command(
    command: Annotated[list[str], typer.Argument(help="the command to run, after --")],
    seed: Annotated[
        int | None,
        typer.Option("--seed", help="seed for every RNG, in every Python process, from its start"),
    ] = None,
    seeds: Annotated[
        str | None, typer.Option("--seeds", help="run once per seed, e.g. 1,2,3")
    ] = None,
    overrides: Annotated[
        list[str] | None, typer.Option("--set", help="param override key=value (repeatable)")
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="run name")] = None,
    experiment: Annotated[
        str | None,
        typer.Option("--experiment", "-e", help="the experiment to record the run in"),
    ] = None,
) -> None:
    """Run COMMAND as a tracked run: seeded, with params overridden, its logging attached.

    Its output and system metrics are recorded; cairn's own lines go to stderr.
    """
    result = tracking.launch(
        command,
        seed=seed,
        seeds=tracking.parse_seeds(seeds) if seeds else None,
        overrides=tracking.parse_overrides(overrides or []),
        name=name,
        experiment=experiment,
    )
    status = "finished" if result.exit_code == 0 else f"failed (exit {result.exit_code})"
    # cairn's own lines go to stderr: stdout is the command's alone, clean for a pipe.
    err_console.print(f"run {result.run_id} {status}", highlight=False)
    if result.aggregates:
        table = Table("metric", "mean", "std", "min", "max", box=None, title="across seeds")
        for key in sorted({k.rsplit(".", 1)[0] for k in result.aggregates}):
            table.add_row(
                key,
                *[
                    fmt_value(result.aggregates[f"{key}.{s}"])
                    for s in ("mean", "std", "min", "max")
                ],
            )
        err_console.print(table)
    raise typer.Exit(result.exit_code)
