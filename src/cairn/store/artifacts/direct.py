"""Uploads that go straight to S3: the server signs, the client sends the bytes, the server
verifies.

A client with a large object gets a presigned PUT URL for a staging key (never the object's own
path: a client cannot be trusted to name bytes by their digest). Once uploaded, the server
hashes the staged object as it streams it back from the bucket, and only if it matches the
digest copies it into place inside the bucket (no byte through the server's clients' network
path twice) and removes the staging key; a mismatch removes it and stores nothing.
"""

from __future__ import annotations

import re
import secrets

from cairn.core.errors import ArtifactCorruptedError, ArtifactNotFoundError, InvalidInputError
from cairn.core.hashing import CHUNK_SIZE, StreamingHasher
from cairn.store.artifacts.store import ArtifactStore, StoredObject

DIRECT_FROM = 8 << 20  # objects this large go straight to the bucket when the store is S3
EXPIRES_S = 3600
_TOKEN = re.compile(r"^[0-9a-f]{32}$")


def can_sign(store: ArtifactStore) -> bool:
    """Whether clients can upload to this store directly (an S3 bucket)."""
    return store.scheme == "s3"


def _staging_path(store: ArtifactStore, token: str) -> str:
    if not _TOKEN.match(token):
        raise InvalidInputError(f"{token!r:.80} is not a staging token the server gave")
    _, root = store.filesystem()
    return f"{root}/staging/{token}"


def presign_upload(store: ArtifactStore) -> tuple[str, str]:
    """A fresh staging token and the presigned URL that PUTs its bytes."""
    from fsspec.asyn import sync

    fs, _ = store.filesystem()
    token = secrets.token_hex(16)
    bucket, _, key = _staging_path(store, token).partition("/")
    with store._mapped(store.url):
        client = sync(fs.loop, fs.set_session)
        url = sync(
            fs.loop,
            client.generate_presigned_url,
            ClientMethod="put_object",
            Params={"Bucket": bucket, "Key": key},
            ExpiresIn=EXPIRES_S,
        )
    return token, str(url)


def commit_upload(store: ArtifactStore, token: str, digest: str) -> StoredObject:
    """Verify the staged bytes against ``digest`` and move them into place (or refuse)."""
    fs, _ = store.filesystem()
    staged = _staging_path(store, token)
    target = store.object_path(digest)
    hasher = StreamingHasher()
    size = 0
    try:
        try:
            with store._mapped(staged), fs.open(staged, "rb") as stream:
                while chunk := stream.read(CHUNK_SIZE):
                    hasher.update(chunk)
                    size += len(chunk)
        except FileNotFoundError:
            raise ArtifactNotFoundError(
                "nothing was uploaded for this staging token (or it was committed already); "
                "upload the bytes to the URL the server gave, then commit"
            ) from None
        if hasher.digest != digest:
            raise ArtifactCorruptedError(
                f"the uploaded bytes hash to {hasher.digest}, not {digest}; nothing was stored "
                "(upload the file again)"
            )
        with store._mapped(target):
            if not fs.exists(target):
                fs.copy(staged, target)
    finally:
        with store._mapped(staged):
            if fs.exists(staged):
                fs.rm(staged)
    return StoredObject(digest, size)
