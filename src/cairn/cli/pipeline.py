"""``cairn pipeline``: run pipelines (only what changed), see what is stale, resume a failure.

Step progress and cairn's own messages go to stderr: stdout carries only what the steps
print.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from cairn import pipelines
from cairn.cli._interrupt import interrupted
from cairn.cli._pipeline_run import (
    COLOURS,
    INTERRUPTED,
    parse_tags,
    step_line,
    summary_lines,
)
from cairn.cli._project import require_project
from cairn.cli._render import console, err_console

app = typer.Typer(
    help="Run pipelines of Python steps: only what changed re-runs; resume, fan out, schedule.",
    no_args_is_help=True,
)

Target = Annotated[str, typer.Argument(help="MODULE:PIPELINE, e.g. train:training")]
Sets = Annotated[
    list[str] | None,
    typer.Option("--set", help="override a param: key=value (repeatable; nested keys with dots)"),
]
ExecutorOption = Annotated[
    str,
    typer.Option(
        "--executor", help="inline, processes, dask (a local cluster) or dask=tcp://HOST:PORT"
    ),
]
Workers = Annotated[int | None, typer.Option("--workers", min=1, max=1024, help="worker processes")]


def _params(sets: list[str] | None) -> dict[str, Any]:
    from cairn.tracking import parse_overrides

    return parse_overrides(sets or [])


class _Progress:
    """One line per step on stderr as it ends, and a bar on a terminal."""

    def __init__(self) -> None:
        self.count = 0
        self._progress: Any = None
        self._task: Any = None

    def plan(self, nodes: list[str]) -> None:
        """Show a bar over the ``nodes`` about to run (on a terminal)."""
        if err_console.is_terminal and nodes:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

            self._progress = Progress(
                TextColumn("steps"),
                BarColumn(),
                MofNCompleteColumn(),
                console=err_console,
                transient=True,
            )
            self._task = self._progress.add_task("steps", total=len(nodes))
            self._progress.start()

    def __call__(self, outcome: pipelines.StepOutcome) -> None:
        from rich.markup import escape

        self.count += 1
        mark, rest = step_line(outcome)
        colour = COLOURS.get(outcome.status, "red")
        # The rest holds the user's text (errors, node names): never read it as markup.
        line = f"[{colour}]{mark}[/] {escape(rest)}"
        err_console.print(line, highlight=False, markup=True, soft_wrap=True)
        if self._progress is not None:
            self._progress.advance(self._task)

    def stop(self) -> None:
        """Take the bar down (again is fine)."""
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


def _report(result: pipelines.PipelineResult) -> None:
    for line in summary_lines(result):
        err_console.print(line, highlight=False, markup=False, soft_wrap=True)
    if result.status != "finished":
        raise typer.Exit(1)


@app.command("run")
def run_command(
    target: Target,
    sets: Sets = None,
    executor: ExecutorOption = "processes",
    force: Annotated[
        list[str] | None,
        typer.Option("--force", help="run this step even if cached (repeatable)"),
    ] = None,
    only: Annotated[
        str | None, typer.Option("--only", help="run only this step (and what it needs)")
    ] = None,
    workers: Workers = None,
    tags: Annotated[
        list[str] | None, typer.Option("--tag", help="tag the pipeline run: KEY=VALUE")
    ] = None,
) -> None:
    """Run a pipeline: unchanged steps come from the cache, the rest run (in parallel where
    independent). Exits 1 when a step failed."""
    params = _params(sets)
    progress = _Progress()
    try:
        result = pipelines.run_pipeline(
            target,
            params,
            executor=executor,
            force=force or [],
            only=only,
            workers=workers,
            on_step=progress,
            on_plan=progress.plan,
            tags=parse_tags(tags),
        )
    except KeyboardInterrupt:
        progress.stop()
        interrupted(INTERRUPTED)
    finally:
        progress.stop()
    _report(result)


@app.command("resume")
def resume_command(
    run_id: Annotated[str, typer.Argument(help="the failed pipeline run's id")],
    executor: ExecutorOption = "processes",
    workers: Workers = None,
) -> None:
    """Run a failed pipeline run again: its finished steps are reused, so only the failed
    steps and those below them run."""
    require_project()
    progress = _Progress()
    try:
        result = pipelines.resume_pipeline(
            run_id, executor=executor, workers=workers, on_step=progress, on_plan=progress.plan
        )
    except KeyboardInterrupt:
        progress.stop()
        interrupted("the resumed run and its running steps were recorded as killed")
    finally:
        progress.stop()
    _report(result)


@app.command("status")
def status_command(target: Target, sets: Sets = None) -> None:
    """Say which steps would run and why (code, params, input data, packages or catalog data
    changed). Exits 1 when any would: CI can retrain only when needed."""
    require_project()
    statuses = pipelines.pipeline_status(target, _params(sets))
    stale = [s for s in statuses if s.stale]
    for status in statuses:
        mark = "[yellow]would run[/]" if status.stale else "[green]up to date[/]"
        why = "; ".join(status.reasons)
        console.print(f"{status.node:<24} {mark}  {why}", highlight=False, soft_wrap=True)
    if stale:
        err_console.print(f"{len(stale)} of {len(statuses)} steps would run", highlight=False)
        raise typer.Exit(1)
    err_console.print(f"all {len(statuses)} steps are up to date", highlight=False)


@app.command("show")
def show_command(
    target: Annotated[str, typer.Argument(help="MODULE:PIPELINE, or a pipeline run's id")],
    sets: Sets = None,
) -> None:
    """Show the pipeline's graph as text: each step, what it takes, its last status and
    duration."""
    require_project()
    for line in pipelines.describe_pipeline(target, _params(sets)):
        console.print(line, highlight=False, soft_wrap=True, markup=False)


@app.command("ls")
def ls_command(
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="at most this many")] = 20,
    name: Annotated[str | None, typer.Option("--name", help="only this pipeline")] = None,
) -> None:
    """List pipeline runs, newest first, with their step counts."""
    require_project()
    from rich.table import Table

    rows = pipelines.find_pipeline_runs(name=name, limit=limit)
    table = Table(box=None, pad_edge=False)
    for column in ("run id", "pipeline", "status", "started", "took", "steps"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row.run_id,
            row.name,
            row.status,
            row.started,
            row.took,
            ", ".join(f"{n} {s}" for s, n in sorted(row.steps.items())) or "-",
        )
    if not rows:
        err_console.print("no pipeline runs yet: cairn pipeline run MODULE:PIPELINE")
        return
    console.print(table)


def _add_schedules() -> None:
    try:
        from cairn.cli._schedule_commands import add_schedule_commands
    except ImportError:  # not there yet
        return
    add_schedule_commands(app)


_add_schedules()
