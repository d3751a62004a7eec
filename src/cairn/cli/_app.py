"""The ``cairn`` command line as a Typer app (built on import; ``main`` imports it on demand)."""

from __future__ import annotations

import typer

from cairn.cli import build, data, gc, models, predict, quickstart, run, runs, serve, validate
from cairn.cli._render import fail
from cairn.core.errors import CairnError

app = typer.Typer(
    name="cairn",
    help="Self-hosted MLOps in one pip install: track experiments, then grow.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(runs.app, name="runs")
app.add_typer(data.app, name="data")
app.add_typer(models.app, name="models")
app.add_typer(validate.app, name="validate")
app.command("run")(run.run_command)
app.command("gc")(gc.gc_command)
app.command("quickstart")(quickstart.quickstart_command)
app.command("serve")(serve.serve_command)
app.command("predict")(predict.predict_command)
app.command("build")(build.build_command)


def run_app(argv: list[str] | None = None) -> None:
    """Run the full CLI; user errors print one message and exit 1, never a traceback.

    Usage errors (a missing argument, an unknown option) are reported by Typer itself with
    the command's usage and exit status 2.
    """
    try:
        app(args=argv, prog_name="cairn")
    except CairnError as exc:
        fail(exc)
