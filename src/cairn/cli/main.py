"""Entry point of the ``cairn`` command.

Light on purpose: the commands that must answer fastest (``cairn data add`` and ``cairn data
status`` when nothing changed) are first tried on a path that needs only the standard
library (``cairn.data.quick_check``), ``cairn runs|models|data ls`` are first read on one too
(``cairn.cli._lean``), ``cairn pipeline run`` from CI or cron runs without Typer
(``cairn.cli._pipeline_run``), and ``cairn --version`` and the root help need neither Typer
nor rich; everything else, and anything that path cannot decide, goes to the Typer app.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    """Run the ``cairn`` command with ``argv`` (default: the process's arguments)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["--version"]:
        from cairn.cli._version import version_text

        print(version_text())
        sys.exit(0)
    if args in ([], ["--help"], ["-h"]):
        from cairn.cli._commands import root_help

        print(root_help())
        sys.exit(0 if args else 2)  # a bare `cairn` is a usage error that shows the help
    if args[:1] == ["data"] and args[1:2] in (["add"], ["status"]):
        from cairn.data import quick_check

        text = quick_check(args[1:])
        if text is not None:
            print(text)
            sys.exit(0)  # as the full command does (Typer always exits)
    if args[1:2] == ["ls"] and args[:1] in (["runs"], ["models"], ["data"]):
        from cairn.cli._lean import quick_list

        if quick_list(args):
            sys.exit(0)
    if args[:2] == ["pipeline", "run"]:
        from cairn.cli._pipeline_run import quick_run

        status = quick_run(args[2:])
        if status is not None:
            sys.exit(status)
    from cairn.cli._app import run_app

    run_app(args)


if __name__ == "__main__":
    main()
