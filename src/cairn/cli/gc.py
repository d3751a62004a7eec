"""``cairn gc``: remove soft-deleted runs and deleted data versions' files for good."""

from __future__ import annotations

from cairn import data, tracking
from cairn.cli._render import console, human_size


def gc_command() -> None:
    """Remove deleted runs and deleted data versions' files, and the objects only they used."""
    result = tracking.gc()
    console.print(
        f"removed {result.runs} run(s) and {result.objects} unreferenced artifact object(s)"
    )
    freed = data.gc()
    console.print(
        f"dropped the files of {freed.manifests} deleted data version(s): "
        f"{freed.objects} object(s), {human_size(freed.bytes)} freed"
    )
