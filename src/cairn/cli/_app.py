"""The ``cairn`` command line as a Typer app.

A command line names one subcommand: only that subcommand's module is imported (``cairn data
add`` never loads the server, the registry or the validation engine), while ``cairn --help``
and anything unknown get the whole app.
"""

from __future__ import annotations

import importlib
from typing import Any

import typer

from cairn.cli._render import fail
from cairn.core.errors import CairnError

# name -> (module, attribute): command groups (Typer apps), then single commands, in help order.
GROUPS = {
    "runs": ("cairn.cli.runs", "app"),
    "data": ("cairn.cli.data", "app"),
    "models": ("cairn.cli.models", "app"),
    "validate": ("cairn.cli.validate", "app"),
}
COMMANDS = {
    "run": ("cairn.cli.run", "run_command"),
    "gc": ("cairn.cli.gc", "gc_command"),
    "quickstart": ("cairn.cli.quickstart", "quickstart_command"),
    "serve": ("cairn.cli.serve", "serve_command"),
    "predict": ("cairn.cli.predict", "predict_command"),
    "build": ("cairn.cli.build", "build_command"),
}


def build_app(only: str | None = None) -> typer.Typer:
    """The Typer app with every subcommand, or only ``only``."""
    app = typer.Typer(
        name="cairn",
        help="Self-hosted MLOps in one pip install: track experiments, then grow.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
    )
    # A callback keeps the app a group of subcommands even when it holds a single one.
    app.callback()(_root)
    for name, (module, attribute) in GROUPS.items():
        if only in (None, name):
            app.add_typer(getattr(importlib.import_module(module), attribute), name=name)
    for name, (module, attribute) in COMMANDS.items():
        if only in (None, name):
            app.command(name)(getattr(importlib.import_module(module), attribute))
    return app


def _root() -> None:
    """Self-hosted MLOps in one pip install: track experiments, then grow."""


def run_app(argv: list[str] | None = None) -> None:
    """Run the CLI; user errors print one message and exit 1, never a traceback.

    Usage errors (a missing argument, an unknown option) are reported by Typer itself with
    the command's usage and exit status 2.
    """
    first = argv[0] if argv else None
    only = first if first in GROUPS or first in COMMANDS else None
    try:
        build_app(only)(args=argv, prog_name="cairn")
    except CairnError as exc:
        fail(exc)


def __getattr__(name: str) -> Any:
    if name == "app":  # the whole app, built on first use (for tools and tests that want it)
        return build_app()
    raise AttributeError(f"module 'cairn.cli._app' has no attribute {name!r}")
