"""``cairn scheduler``: start the pipelines whose schedules are due, once or as a long-lived
process."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from cairn.cli._project import require_project

if TYPE_CHECKING:
    from cairn.pipelines import SchedulerCompanion


def scheduler_command(
    once: Annotated[
        bool,
        typer.Option("--once", help="start what is due, wait for it, and exit (for cron or CI)"),
    ] = False,
    poll: Annotated[
        float,
        typer.Option("--poll", min=0.05, help="how often to look for due schedules, in SECONDS"),
    ] = 30.0,
) -> None:
    """Start the pipelines whose schedules are due: cron times, new dataset versions, events.

    Runs until Ctrl-C or SIGTERM; with --once it starts what is due, waits for those
    pipelines and exits 1 when one of them failed. Schedulers running at once start each due
    pipeline once.
    """
    require_project()
    import sys

    from cairn.pipelines.schedule import run_due, run_scheduler

    companions = _companions()
    if not once:
        run_scheduler(poll_s=poll, companions=companions)
        return
    started = run_due(companions=companions)
    for start in started:
        sys.stderr.write(start.summary() + "\n")
    if not started:
        sys.stderr.write("nothing due\n")
    raise typer.Exit(0 if all(s.ok for s in started) else 1)


def _companions() -> list[SchedulerCompanion]:
    """The work the scheduler drives besides schedules: the closed loop's retrainings."""
    from cairn.loop import Retrainer

    return [Retrainer()]
