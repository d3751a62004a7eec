"""The ``cairn`` command line as a Typer app.

A command line names one subcommand: only that subcommand's module is imported (``cairn data
add`` never loads the server, the registry or the validation engine). The root group lists
every subcommand from the one-line summaries of ``_commands`` (a test keeps them equal to each
module's own help), so a subcommand whose module fails to import cannot take the whole help
down with it; ``cairn --help`` itself is printed by ``main`` from the same table, without
Typer.
"""

from __future__ import annotations

import importlib
from typing import Any, get_args

import typer
from typer import _click
from typer.core import TyperCommand, TyperGroup, TyperOption, _TyperParameter

from cairn.cli._commands import COMMANDS, GROUPS, HELP
from cairn.cli._render import fail
from cairn.cli._version import version_text
from cairn.core.errors import CairnError

# -h everywhere: click passes the root context's help option names down to every subcommand.
CONTEXT = {"help_option_names": ["-h", "--help"]}


class _LazyGroup(TyperGroup):
    """The root group: it lists every subcommand, but only those added were imported; the
    others appear in the help through their summary."""

    def list_commands(self, ctx: _click.Context) -> list[str]:
        return [*GROUPS, *COMMANDS]

    def get_command(self, ctx: _click.Context, cmd_name: str) -> _click.Command | None:
        loaded = self.commands.get(cmd_name)
        if loaded is not None:
            return loaded
        entry = GROUPS.get(cmd_name) or COMMANDS.get(cmd_name)
        if entry is None:
            return None
        # Only the help and "no such command" suggestions reach here (run_app adds the
        # subcommand it runs), so a stand-in that carries the summary is all they need.
        return TyperCommand(name=cmd_name, help=entry[2])


def build_app(only: str | None = None) -> typer.Typer:
    """The Typer app with every subcommand, or only ``only`` ("" for none: the help lists
    every subcommand by its summary either way)."""
    app = typer.Typer(
        name="cairn",
        help=HELP,
        cls=_LazyGroup,
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
        context_settings=CONTEXT,
    )
    # A callback keeps the app a group of subcommands even when it holds a single one.
    app.callback()(_root)
    for name, (module, attribute, _) in GROUPS.items():
        if only in (None, name):
            app.add_typer(getattr(importlib.import_module(module), attribute), name=name)
    for name, (module, attribute, _) in COMMANDS.items():
        if only in (None, name):
            app.command(name)(getattr(importlib.import_module(module), attribute))
    return app


def _print_version(value: bool) -> None:
    if value:
        print(version_text())
        raise typer.Exit


def _root(
    version: bool = typer.Option(
        False,
        "--version",
        help="Show the version and exit.",
        is_eager=True,
        callback=_print_version,
    ),
) -> None:
    """Self-hosted MLOps in one pip install: track experiments, then grow."""


def run_app(argv: list[str] | None = None) -> None:
    """Run the CLI; user errors print one message and exit 1, never a traceback.

    Usage errors (a missing argument, an unknown option) are reported by Typer itself with
    the command's usage and exit status 2.
    """
    # The root's own options take no value, so the first other word names the subcommand.
    first = next((a for a in argv or [] if not a.startswith("-")), None)
    only = first if first in GROUPS or first in COMMANDS else ""
    try:
        build_app(only)(args=argv, prog_name="cairn")
    except CairnError as exc:
        fail(exc)


# Typer labels every option's value with its Python type, which reads as noise for a flag
# (`--deleted <bool>`) and as jargon for a repeatable option (`--sort <list[str]>`): a flag
# takes no value, and a repeatable option takes one value each time it is given.
_type_label = _TyperParameter.display_type


def _display_type(self: _TyperParameter, ctx: _click.Context) -> str:
    label = _type_label(self, ctx)
    if label.startswith("<list[") and label.endswith("]>"):
        inner = get_args(self.type_descriptor.annotation)
        label = f"<{self._bare_type(inner[0])}>" if inner else f"<{label[6:-2]}>"
    return label


def _option_type(self: TyperOption, ctx: _click.Context) -> str | None:
    if self.metavar is not None:
        return self.metavar
    if self.is_flag or self.count:
        return None
    label = self.display_type(ctx)
    return f"{label}..." if self.nargs != 1 else label


_TyperParameter.display_type = _display_type  # type: ignore[method-assign]
TyperOption.display_type_rich = _option_type  # type: ignore[method-assign]


def __getattr__(name: str) -> Any:
    if name == "app":  # the whole app, built on first use (for tools and tests that want it)
        return build_app()
    raise AttributeError(f"module 'cairn.cli._app' has no attribute {name!r}")
