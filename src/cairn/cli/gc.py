"""``cairn gc``: remove soft-deleted runs for good."""

from __future__ import annotations

from cairn import tracking
from cairn.cli._render import console


def gc_command() -> None:
    """Hard-delete runs removed with 'cairn runs rm' and the artifacts only they used."""
    result = tracking.gc()
    console.print(
        f"removed {result.runs} run(s) and {result.objects} unreferenced artifact object(s)"
    )
