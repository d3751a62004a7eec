"""Hashing the files of an add: the stat cache's vouching, and reading a file to hash it."""

from __future__ import annotations

import os
from collections.abc import Mapping

from cairn.core.errors import InvalidInputError
from cairn.core.hashing import StreamingHasher, hash_file
from cairn.data._scan import Found

BIG_FILE = 64 << 20  # hashed alone, with BLAKE3's own threads over a memory map
SMALL_READ = 4 << 20  # read whole into memory to hash


def workers() -> int:
    """Threads for hashing and copying (they release the GIL; more only contend for it)."""
    return min(16, (os.cpu_count() or 1) * 2)


def known_digests(
    files: list[Found], cached: Mapping[str, tuple[int, int, int, str]]
) -> dict[str, str]:
    """Digests the stat cache vouches for: same size, modification time and inode."""
    known = {}
    for found in files:
        entry = cached.get(found.source)
        if entry is not None and entry[:3] == (found.size, found.mtime_ns, found.inode):
            known[found.source] = entry[3]
    return known


def hash_local(found: Found) -> str:
    """The digest of a local file (big files with BLAKE3's own threads)."""
    try:
        if found.size >= BIG_FILE:
            return hash_file(found.source)[0]
        hasher = StreamingHasher(parallel=False)  # the pool's threads are the parallelism
        with open(found.source, "rb") as stream:
            while chunk := stream.read(SMALL_READ):
                hasher.update(chunk)
        return hasher.digest
    except OSError as exc:
        raise InvalidInputError(f"cannot read {found.source}: {exc.strerror or exc}") from None
