"""``cairn runs artifacts``: list a run's artifacts under a path, or download them."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from cairn import tracking
from cairn.cli._project import require_project
from cairn.cli._render import console, human_size, write_json
from cairn.cli._table import Column, write_table

SHOWN_DIGEST = 19  # "blake3:" and 12 hex digits, as `cairn runs show` prints them


class ListFormat(str, Enum):
    """Output formats of an artifact listing."""

    table = "table"
    json = "json"


def artifacts_command(
    run_id: Annotated[str, typer.Argument(help="run id or a unique prefix of it")],
    path: Annotated[
        str | None,
        typer.Argument(help="a file, or a folder: the artifacts under it (default: all)"),
    ] = None,
    download: Annotated[
        Path | None,
        typer.Option("--download", "-d", help="copy them into this folder (verified first)"),
    ] = None,
    output: Annotated[
        ListFormat, typer.Option("--format", help="table or json")
    ] = ListFormat.table,
) -> None:
    """List a run's artifacts (path, size, digest) under PATH, or download them."""
    require_project()
    run = tracking.get_run(run_id, history=False).id  # the full id, for the messages
    chosen = tracking.list_artifacts(run, path or "")
    if download is not None:
        where = tracking.download_artifacts(run, path or "", download)
        total = sum(a.size for a in chosen)
        console.print(
            f"downloaded {len(chosen)} artifact(s) of run {run} ({human_size(total)}) to {where}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        return
    if output is ListFormat.json:
        write_json([{"path": a.path, "size": a.size, "digest": a.digest} for a in chosen])
        return
    if not chosen:
        print(f"run {run} has no artifacts")
        return
    rows = [[a.path, human_size(a.size), a.digest[:SHOWN_DIGEST] + "…"] for a in chosen]
    write_table([Column("path", keep=True), Column("size", right=True), Column("digest")], rows)
