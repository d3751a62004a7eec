"""What the benchmarks share (each is run as a script: ``python benchmarks/<name>.py``)."""

from __future__ import annotations

import subprocess
import sys


def fail(what: str, proc: subprocess.CompletedProcess[str]) -> None:
    """Print a failed subprocess's output and exit non-zero."""
    print(f"error: {what} failed with exit code {proc.returncode}", file=sys.stderr)
    print(proc.stdout[-4000:], file=sys.stderr)
    print(proc.stderr[-8000:], file=sys.stderr)
    sys.exit(1)
