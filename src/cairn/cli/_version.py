"""What ``cairn --version`` prints (standard library only: main.py answers it before Typer)."""

from __future__ import annotations


def version_text() -> str:
    """``cairn <version>``: the version of the cairn-mlops distribution this package is."""
    from cairn import __version__

    return f"cairn {__version__}"
