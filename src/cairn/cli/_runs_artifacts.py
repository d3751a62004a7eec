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
from cairn.core.checks import show
from cairn.core.destination import is_relative_path
from cairn.core.errors import ArtifactNotFoundError, InvalidInputError
from cairn.tracking import ArtifactEntry, RunRecord

SHOWN_DIGEST = 19  # "blake3:" and 12 hex digits, as `cairn runs show` prints them
KNOWN_IN_MESSAGE = 10


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
    prefix = _prefix(path)
    record = tracking.get_run(run_id, history=False)
    chosen = select(record, prefix)
    if download is not None:
        if not chosen:
            raise ArtifactNotFoundError(f"run {record.id} has no artifacts: nothing to download")
        where = tracking.download_artifacts(record.id, prefix, download)
        total = sum(a.size for a in chosen)
        console.print(
            f"downloaded {len(chosen)} artifact(s) of run {record.id} ({human_size(total)}) "
            f"to {where}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        return
    if output is ListFormat.json:
        write_json([{"path": a.path, "size": a.size, "digest": a.digest} for a in chosen])
        return
    if not chosen:
        print(f"run {record.id} has no artifacts")
        return
    rows = [[a.path, human_size(a.size), a.digest[:SHOWN_DIGEST] + "…"] for a in chosen]
    write_table([Column("path", keep=True), Column("size", right=True), Column("digest")], rows)


def _prefix(path: str | None) -> str:
    """PATH as the prefix the artifacts are chosen by; a path that would leave the run's
    folder (``..``, ``.``, an absolute path) is refused."""
    if path is None:
        return ""
    if "\x00" in path:
        raise InvalidInputError(f"artifact path {show(path)} holds a NUL character; remove it")
    stripped = path.strip("/")
    if path.startswith("/") or (stripped and not is_relative_path(stripped)):
        raise InvalidInputError(
            f"artifact path {show(path)} must be relative to the run, with no '.' or '..' "
            "parts, e.g. model/ or metrics.json"
        )
    return stripped


def select(record: RunRecord, prefix: str) -> list[ArtifactEntry]:
    """The run's artifacts that are ``prefix`` or lie under it (all for an empty prefix);
    ``ArtifactNotFoundError`` when a prefix matches none."""
    chosen = [
        a
        for a in record.artifacts
        if not prefix or a.path == prefix or a.path.startswith(prefix + "/")
    ]
    if prefix and not chosen:
        known = ", ".join(a.path for a in record.artifacts[:KNOWN_IN_MESSAGE]) or "none"
        more = len(record.artifacts) - KNOWN_IN_MESSAGE
        raise ArtifactNotFoundError(
            f"run {record.id} has no artifact {show(prefix)} and none under it (it has: "
            f"{known}{f' and {more} more' if more > 0 else ''}); list them all with "
            f"cairn runs artifacts {record.id}"
        )
    return chosen
