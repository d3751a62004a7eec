"""Folders of files for data tests, aged so the stat cache trusts them."""

from __future__ import annotations

import os
from pathlib import Path

PAST = 1_600_000_000  # a modification time far from "now": never racily clean


def make_folder(root: Path, files: dict[str, bytes], *, age: bool = True) -> Path:
    """Write ``files`` under ``root`` (with old modification times unless ``age`` is False)."""
    for rel, content in files.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        if age:
            os.utime(target, (PAST, PAST))
    return root
