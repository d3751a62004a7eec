"""Ctrl-C during a command that writes: one line on stderr saying what was kept, exit 130."""

from __future__ import annotations

import sys
from typing import NoReturn

INTERRUPTED = 130  # 128 + SIGINT, as shells report it


def interrupted(outcome: str) -> NoReturn:
    """Say the command was interrupted and what that left (``outcome``), then exit 130."""
    sys.stderr.write(f"interrupted: {outcome}\n")
    sys.stderr.flush()
    raise SystemExit(INTERRUPTED)
