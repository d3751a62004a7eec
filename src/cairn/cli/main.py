"""Entry point of the ``cairn`` command."""

from __future__ import annotations

import sys

import click
import typer

from cairn.cli import gc, quickstart, runs
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
app.command("gc")(gc.gc_command)
app.command("quickstart")(quickstart.quickstart_command)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; user errors print one message and exit 1, never a traceback."""
    command = typer.main.get_command(app)
    try:
        code = command.main(args=argv, prog_name="cairn", standalone_mode=False)
    except CairnError as exc:
        fail(exc)
    except click.exceptions.Abort:
        sys.stderr.write("aborted\n")
        raise SystemExit(130) from None
    except click.ClickException as exc:
        exc.show()
        raise SystemExit(exc.exit_code) from None
    except click.exceptions.Exit as exc:
        raise SystemExit(exc.exit_code) from None
    raise SystemExit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
