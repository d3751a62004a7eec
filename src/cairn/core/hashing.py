"""Streaming BLAKE3 hashing; digests carry their algorithm (``blake3:<hex>``)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from cairn.core.errors import InvalidInputError

ALGORITHM = "blake3"
CHUNK_SIZE = 1 << 20


PARALLEL_FROM = 1 << 20  # BLAKE3's own threads cost more than they save below this


def _hasher(parallel: bool) -> Any:
    from blake3 import blake3

    return blake3(max_threads=blake3.AUTO) if parallel else blake3()


class StreamingHasher:
    """Feed bytes in any number of pieces; ``digest`` equals the one-shot digest of them all.

    ``parallel`` hashes each large piece on several threads (worth it from about 1 MiB).
    """

    def __init__(self, *, parallel: bool = True) -> None:
        self._hash = _hasher(parallel)
        self.size = 0

    def update(self, data: bytes | bytearray | memoryview) -> None:
        """Add the next piece of the stream."""
        self._hash.update(data)
        self.size += len(data)

    @property
    def digest(self) -> str:
        """The digest so far, as ``blake3:<hex>``."""
        return f"{ALGORITHM}:{self._hash.hexdigest()}"


def hash_bytes(data: bytes | bytearray | memoryview, *, parallel: bool | None = None) -> str:
    """Return the digest of ``data`` (``parallel``: BLAKE3's threads; default by size)."""
    hasher = StreamingHasher(parallel=len(data) >= PARALLEL_FROM if parallel is None else parallel)
    hasher.update(data)
    return hasher.digest


def hash_chunks(chunks: Iterable[bytes]) -> str:
    """Return the digest of the concatenation of ``chunks``."""
    hasher = StreamingHasher()
    for chunk in chunks:
        hasher.update(chunk)
    return hasher.digest


def hash_stream(stream: IO[bytes], chunk_size: int = CHUNK_SIZE) -> tuple[str, int]:
    """Return the digest and size of everything left in ``stream``."""
    hasher = StreamingHasher()
    while chunk := stream.read(chunk_size):
        hasher.update(chunk)
    return hasher.digest, hasher.size


def hash_file(path: str | Path) -> tuple[str, int]:
    """Return the digest and size of a local file (memory-mapped, hashed in parallel)."""
    from blake3 import blake3

    hasher = blake3(max_threads=blake3.AUTO)
    hasher.update_mmap(str(path))
    return f"{ALGORITHM}:{hasher.hexdigest()}", Path(path).stat().st_size


def split_digest(digest: str) -> tuple[str, str]:
    """Split ``blake3:<hex>`` into its algorithm and hex part, checking the form."""
    algorithm, sep, hexpart = digest.partition(":")
    if (
        not sep
        or algorithm != ALGORITHM
        or len(hexpart) != 64
        or any(c not in "0123456789abcdef" for c in hexpart)
    ):
        raise InvalidInputError(
            f"{digest!r} is not a cairn digest; expected 'blake3:' followed by 64 hex digits"
        )
    return algorithm, hexpart
