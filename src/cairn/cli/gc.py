"""``cairn gc``: remove deleted runs, deleted data and model versions' files, and unreferenced
objects."""

from __future__ import annotations

from typing import Annotated

import typer

from cairn import data, registry, tracking
from cairn.cli._project import require_project
from cairn.cli._render import console, human_size
from cairn.store import get_store
from cairn.store.references import GRACE_S, sweep


def gc_command(
    grace: Annotated[
        float,
        typer.Option(
            "--grace",
            min=0,
            help="keep unreferenced objects written or used in the last SECONDS (a margin: "
            "adds and logs running beside gc are safe at any grace)",
        ),
    ] = GRACE_S,
) -> None:
    """Remove deleted runs and deleted data and model versions' files, then every unreferenced
    object."""
    require_project()
    runs = tracking.purge_deleted_runs()
    versions = data.drop_deleted_files()
    models = registry.drop_deleted_files()
    registry.clear_load_cache(grace)
    swept = sweep(get_store(), grace)
    console.print(
        f"removed {runs} deleted run(s) and the files of {versions} deleted data version(s) "
        f"and {models} deleted model version(s); freed {swept.objects} object(s), "
        f"{human_size(swept.bytes)}"
    )
    if swept.kept:
        console.print(
            f"kept {swept.kept} unreferenced object(s) written or used in the last {grace:g} s: "
            "a later cairn gc removes them (or --grace 0: safe beside running writers)"
        )
