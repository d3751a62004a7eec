"""The subcommands of ``cairn``, their modules and one-line summaries, and the root help.

Standard library only: ``cairn --help``, ``-h`` and a bare ``cairn`` print the root help from
this table without importing Typer, rich or any subcommand (``main`` answers them first); the
Typer app (``_app``) builds its root group from the same table.
"""

from __future__ import annotations

import textwrap

from cairn.cli._table import terminal_columns

HELP = "Self-hosted MLOps in one pip install: track experiments, then grow."
# name -> (module, attribute, summary): command groups (Typer apps), then single commands, in
# help order. The summary is the first paragraph of the subcommand's own help.
GROUPS = {
    "runs": ("cairn.cli.runs", "app", "List, show, compare, diff and delete runs."),
    "experiments": (
        "cairn.cli.experiments",
        "app",
        "List, create, rename and delete experiments.",
    ),
    "data": (
        "cairn.cli.data",
        "app",
        "Version datasets and keep their catalog: owners, frequencies, lineage.",
    ),
    "models": (
        "cairn.cli.models",
        "app",
        "Register model versions, move aliases, trace lineage, promote by rule.",
    ),
    "validate": (
        "cairn.cli.validate",
        "app",
        "Profile data into expectations and validate every batch against them.",
    ),
    "pipeline": (
        "cairn.cli.pipeline",
        "app",
        "Run pipelines of Python steps: only what changed re-runs; resume, fan out, schedule.",
    ),
    "monitor": (
        "cairn.cli.monitor",
        "app",
        "Monitor served models: drift against the training data, quality, alerts, reports.",
    ),
    "server": (
        "cairn.cli.server",
        "app",
        "Serve the team API and web UI over the stores, with tokens, roles and an audit log.",
    ),
    "serve": (
        "cairn.cli.serve",
        "app",
        "Serve models with adaptive batching, a fallback, metrics and a prediction log.",
    ),
}
COMMANDS = {
    "run": (
        "cairn.cli.run",
        "run_command",
        "Run COMMAND as a tracked run: seeded, with params overridden, its logging attached.",
    ),
    "gc": (
        "cairn.cli.gc",
        "gc_command",
        "Remove deleted runs and deleted data and model versions' files, then every "
        "unreferenced object.",
    ),
    "quickstart": (
        "cairn.cli.quickstart",
        "quickstart_command",
        "Create a small tracked scikit-learn project, train it, and show the runs.",
    ),
    "predict": (
        "cairn.cli.predict",
        "predict_command",
        "Score a table larger than memory with a model: its columns plus a prediction column.",
    ),
    "build": (
        "cairn.cli.build",
        "build_command",
        "Write a Docker build context (Dockerfile, pinned requirements, the model) that serves "
        "a model version.",
    ),
    "sync": (
        "cairn.cli.sync",
        "sync_command",
        "Send the writes spooled while the cairn server was unreachable (client mode).",
    ),
    "ui": (
        "cairn.cli.ui",
        "ui_command",
        "Open the web UI of this project in a browser: runs, charts, data, models, lineage.",
    ),
    "scheduler": (
        "cairn.cli.scheduler",
        "scheduler_command",
        "Start the pipelines whose schedules are due: cron times, new dataset versions, events.",
    ),
}
ROOT_OPTIONS = [
    ("--version", "Show the version and exit."),
    ("-h, --help", "Show this message and exit."),
]


def root_help() -> str:
    """The root help: usage, what cairn is, its options and every subcommand's summary."""
    width = max(60, min(terminal_columns(), 120))
    entries = [(name, entry[2]) for name, entry in [*GROUPS.items(), *COMMANDS.items()]]
    lines = ["Usage: cairn [OPTIONS] COMMAND [ARGS]...", "", f"  {HELP}", ""]
    for title, rows in (("Options", ROOT_OPTIONS), ("Commands", entries)):
        pad = max(len(name) for name, _ in rows) + 4
        lines.append(f"{title}:")
        for name, text in rows:
            wrapped = textwrap.wrap(text, width - pad) or [""]
            lines.append(f"  {name.ljust(pad - 2)}{wrapped[0]}")
            lines.extend(" " * pad + more for more in wrapped[1:])
        lines.append("")
    return "\n".join(lines)
