"""What ``cairn --version`` prints (standard library only: main.py answers it before Typer)."""

from __future__ import annotations

from cairn._version import __version__


def version_text() -> str:
    """``cairn <version>``: the version of the cairn-mlops distribution this package is (the
    build reads the same ``cairn/_version.py``)."""
    return f"cairn {__version__}"
