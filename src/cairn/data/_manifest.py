"""The canonical bytes of a manifest (decision 0004): their digest is a version's identity."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cairn.data.dataset import FileEntry


def manifest_bytes(entries: Iterable[FileEntry | tuple[str, int, str]]) -> bytes:
    """The canonical bytes of a manifest (entries sorted by path): its digest is the
    version's identity. Entries are ``FileEntry`` or (path, size, digest) tuples."""
    body = {
        "files": [list(e) if isinstance(e, tuple) else [e.path, e.size, e.digest] for e in entries]
    }
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
