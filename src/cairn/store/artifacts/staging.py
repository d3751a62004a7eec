"""Objects received as a stream (an upload to the server): staged, verified, then kept.

On a local store the bytes are staged beside the objects and, once they hash to their digest,
linked into place (no second copy); on an object store they are staged in a local folder and
put once verified. Bytes that do not hash to the digest are removed and nothing is stored.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import IO

from cairn.core.errors import ArtifactCorruptedError, ArtifactError
from cairn.core.hashing import StreamingHasher
from cairn.store.artifacts.store import ArtifactStore, StoredObject


class StagedObject:
    """An object being received: ``write`` its bytes in order, then ``keep`` or ``discard``."""

    def __init__(self, store: ArtifactStore, digest: str, local_folder: Path) -> None:
        self._store = store
        self._digest = digest
        folder = Path(store._root) / "objects" if store.is_local else local_folder
        # ".tmp-": what a killed upload leaves is swept by remove_stale_temporaries (cairn gc).
        self._path = folder / f".tmp-upload-{secrets.token_hex(8)}"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            self._out: IO[bytes] = open(self._path, "xb")  # noqa: SIM115  (closed in keep/discard)
        except OSError as exc:
            raise ArtifactError(
                f"the server cannot stage an upload in {folder}: {exc.strerror or exc}"
            ) from None
        self._hasher = StreamingHasher()
        self.size = 0

    def write(self, data: bytes) -> None:
        """Hash and stage the next bytes."""
        self._hasher.update(data)
        self._out.write(data)
        self.size += len(data)

    def keep(self) -> StoredObject:
        """Store the staged bytes as the object, if they hash to its digest (else refuse)."""
        try:
            self._out.close()
            if self._hasher.digest != self._digest:
                raise ArtifactCorruptedError(
                    f"the uploaded bytes hash to {self._hasher.digest}, not {self._digest}; "
                    "nothing was stored (upload the file again)"
                )
            if self._store.is_local:
                with open(self._path, "rb") as staged:
                    os.fsync(staged.fileno())
                self._store._link_into_place(self._path, self._store.object_path(self._digest))
            else:
                self._store.put_hashed_file(self._path, self._digest, self.size)
        except OSError as exc:
            raise ArtifactError(
                f"the server could not keep the upload: {exc.strerror or exc}"
            ) from None
        finally:
            self._path.unlink(missing_ok=True)
        return StoredObject(self._digest, self.size)

    def discard(self) -> None:
        """Drop what was staged."""
        self._out.close()
        self._path.unlink(missing_ok=True)
