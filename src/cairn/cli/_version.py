"""What ``cairn --version`` prints (standard library only: main.py answers it before Typer)."""

from __future__ import annotations

DISTRIBUTION = "cairn-mlops"  # the name on the package index; the import name stays cairn


def version_text() -> str:
    """``cairn <version>``: the installed version of the cairn-mlops distribution."""
    from importlib import metadata

    try:
        return f"cairn {metadata.version(DISTRIBUTION)}"
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "cairn (not installed: pip install -e . in its source folder)"
