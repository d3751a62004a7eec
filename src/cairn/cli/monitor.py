"""``cairn monitor``: drift of a served model's inputs and predictions against its training
data, its quality once labels arrive, alerts, and an HTML report.

Each part of the group lives in its own module (``_monitor_*``) that adds its commands here.
"""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    help="Monitor served models: drift against the training data, quality, alerts, reports.",
    no_args_is_help=True,
)

# (module, what it adds): run/show/reference, labels, check/alerts, report.
_PARTS = ("_monitor_run", "_monitor_labels", "_monitor_alerts", "_monitor_report")


def _add_parts() -> None:
    for name in _PARTS:
        try:
            module = importlib.import_module(f"cairn.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"cairn.cli.{name}":  # a real import error inside the module
                raise
            continue
        module.add_commands(app)


_add_parts()
