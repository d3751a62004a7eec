"""The artifact store of client mode: objects by digest through the cairn server.

It offers what clients use of ``ArtifactStore`` (store a file or bytes, read, copy out, ask
whether an object exists). Storing hashes locally first and uploads only what the server lacks
(a second upload of the same bytes sends nothing); the server verifies each upload against its
digest. While the server is unreachable, the bytes wait in the session's spool.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from cairn.core.errors import ArtifactCorruptedError, InvalidInputError
from cairn.core.hashing import StreamingHasher, hash_bytes, hash_file
from cairn.store.artifacts import StoredObject
from cairn.store.remote import RemoteSession


class RemoteArtifactStore:
    """Content-addressed objects kept by a cairn server."""

    is_local = False

    def __init__(self, session: RemoteSession) -> None:
        self.session = session
        self.url = f"{session.url}/api/v1/artifacts"

    def put_bytes(self, data: bytes) -> StoredObject:
        """Store ``data``; return its digest and size."""
        digest = hash_bytes(data)
        self.session.upload(digest, bytes(data))
        return StoredObject(digest, len(data))

    def put_file(self, path: str | Path) -> StoredObject:
        """Store the file at ``path``; return its digest and size."""
        source = Path(path)
        digest, size = hash_file(source)
        self.session.upload(digest, source)
        return StoredObject(digest, size)

    def exists(self, digest: str) -> bool:
        """Whether the server holds the object."""
        answer = self.session.call("POST", "/artifacts/missing", {"digests": [digest]})
        return digest not in answer["missing"]

    def missing(self, digests: list[str]) -> list[str]:
        """The digests the server does not hold."""
        answer = self.session.call("POST", "/artifacts/missing", {"digests": digests})
        return list(answer["missing"])

    def read_bytes(self, digest: str) -> bytes:
        """The object's bytes, verified against ``digest``."""
        with self.session.download(f"/artifacts/{digest}") as chunks:
            data = b"".join(chunks)
        if hash_bytes(data) != digest:
            raise _corrupted(digest)
        return data

    def copy_to(self, digest: str, dest: str | Path) -> Path:
        """Write the object to ``dest`` (temporary name, verified, then renamed)."""
        dest = Path(dest)
        tmp = dest.with_name(f".{dest.name}.tmp-{uuid.uuid4().hex[:8]}")
        hasher = StreamingHasher()
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "xb") as out, self.session.download(f"/artifacts/{digest}") as chunks:
                for chunk in chunks:
                    hasher.update(chunk)
                    out.write(chunk)
            if hasher.digest != digest:
                raise _corrupted(digest)
            os.replace(tmp, dest)
        except OSError as exc:
            raise InvalidInputError(
                f"cannot write {dest}: {exc.strerror or exc}; choose a writable destination"
            ) from None
        finally:
            tmp.unlink(missing_ok=True)
        return dest


def _corrupted(digest: str) -> ArtifactCorruptedError:
    return ArtifactCorruptedError(
        f"the object {digest} from the server does not match its digest; try again (the "
        "download was damaged, or the server's copy is: tell its admin)"
    )
