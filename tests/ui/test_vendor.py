"""The front-end libraries in the wheel are the pinned files their README lists, with their
licences beside them."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import cairn.ui

VENDOR = Path(cairn.ui.__file__).parent / "static" / "vendor"


def test_each_vendored_file_is_the_pinned_one_and_has_its_licence() -> None:
    """Every script and style in static/vendor is listed with its SHA-256 (and matches it),
    every listed file is there, and each listed licence file exists."""
    table = (VENDOR / "README.md").read_text()
    rows = re.findall(r"^\| `([^`]+)` \|.*\(`(LICENSE-[a-z]+\.txt)`\) \| `([0-9a-f]{64})` \|$",
                      table, flags=re.MULTILINE)  # fmt: skip
    listed = {name: digest for name, _, digest in rows}
    on_disk = {p.name for p in VENDOR.iterdir() if p.suffix in (".js", ".css")}
    assert set(listed) == on_disk
    for name, licence, digest in rows:
        assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == digest, name
        assert (VENDOR / licence).stat().st_size > 0
