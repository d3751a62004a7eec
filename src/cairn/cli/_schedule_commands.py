"""``cairn pipeline schedule``, ``schedules`` and ``unschedule``: keep the schedules that
``cairn scheduler`` starts pipelines from."""

from __future__ import annotations

from typing import Annotated

import typer

from cairn.cli._project import require_project
from cairn.cli._render import console
from cairn.core.errors import InvalidInputError
from cairn.core.ids import describe_time


def add_schedule_commands(app: typer.Typer) -> None:
    """Add ``schedule``, ``schedules`` and ``unschedule`` to the ``cairn pipeline`` app."""
    app.command("schedule")(schedule_command)
    app.command("schedules")(schedules_command)
    app.command("unschedule")(unschedule_command)


def schedule_command(
    target: Annotated[str, typer.Argument(help="the pipeline, MODULE:PIPELINE")],
    cron: Annotated[
        str | None,
        typer.Option("--cron", help="a cron expression in UTC, e.g. '0 3 * * *' (daily at 3:00)"),
    ] = None,
    on_data: Annotated[
        str | None,
        typer.Option("--on-data", help="start it when this catalog dataset gets a new version"),
    ] = None,
    on_event: Annotated[
        str | None,
        typer.Option("--on-event", help="start it on this event, e.g. drift_detected"),
    ] = None,
    sets: Annotated[
        list[str] | None,
        typer.Option("--set", help="a pipeline param, key=value (repeatable)"),
    ] = None,
    executor: Annotated[
        str | None,
        typer.Option("--executor", help="inline, processes or dask[=ADDRESS]"),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option("--name", help="the schedule's name (default: the pipeline's)"),
    ] = None,
) -> None:
    """Start a pipeline on a cron expression, a dataset's new version or an event, from
    cairn scheduler."""
    from cairn.pipelines.schedule import schedule_pipeline

    made = schedule_pipeline(
        target,
        cron=cron,
        on_data=on_data,
        on_event=on_event,
        params=parse_sets(sets or []),
        executor=executor,
        name=name,
    )
    when = f", next at {describe_time(made.next_due_ms)}" if made.next_due_ms is not None else ""
    console.print(
        f"scheduled {made.name}: {made.target} on {made.trigger}{when}; "
        "cairn scheduler starts it (or cairn scheduler --once from cron or CI)",
        highlight=False,
        markup=False,
    )


def schedules_command() -> None:
    """List the schedules: what starts each pipeline and how its last start went."""
    require_project()
    from rich.table import Table
    from rich.text import Text

    from cairn.pipelines.schedule import list_schedules

    found = list_schedules()
    if not found:
        console.print("no schedules; add one with cairn pipeline schedule MODULE:PIPELINE --cron")
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("name", "pipeline", "trigger", "next", "last started", "last run", "error"):
        table.add_column(column, no_wrap=column != "error")
    for s in found:
        error = (s.last_error or "-").splitlines()
        table.add_row(
            Text(s.name),
            Text(s.target + "".join(f" {k}={v}" for k, v in s.params.items())),
            Text(s.trigger),
            describe_time(s.next_due_ms) if s.next_due_ms is not None else "-",
            describe_time(s.last_started_ms) if s.last_started_ms is not None else "-",
            s.last_run_uid or "-",
            Text(error[0] if error else "-"),
        )
    console.print(table)


def unschedule_command(
    name: Annotated[str, typer.Argument(help="the schedule (cairn pipeline schedules)")],
) -> None:
    """Remove a schedule (the pipeline runs it started stay)."""
    require_project()
    from cairn.pipelines.schedule import remove_schedule

    gone = remove_schedule(name)
    console.print(f"removed schedule {gone.name} ({gone.target} on {gone.trigger})", markup=False)


def parse_sets(items: list[str]) -> dict[str, str]:
    """``--set key=value`` options as the schedule's params, values as written."""
    params: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InvalidInputError(
                f"--set takes key=value (nested keys with dots), got {item!r}; "
                "e.g. --set optim.lr=0.01"
            )
        params[key.strip()] = value
    return params
