"""Artifacts by digest: which ones the server lacks, streamed uploads verified against their
digest, and streamed downloads.

A client hashes a file first, asks which digests are missing and uploads only those; an upload
is written to a temporary file while it is hashed and stored only when the bytes match the
digest in the URL, so a damaged or forged upload stores nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse

from cairn.core.errors import ArtifactNotFoundError
from cairn.core.hashing import split_digest
from cairn.core.settings import get_settings
from cairn.server.auth import Caller, require
from cairn.store.artifacts.direct import DIRECT_FROM, can_sign, commit_upload, presign_upload
from cairn.store.artifacts.staging import StagedObject
from cairn.tracking.wire import DigestList, StagedUpload

router = APIRouter(tags=["artifacts"])
BATCH_BYTES = 4 << 20  # upload bytes handed to a worker thread at a time


def _check(digest: str) -> str:
    split_digest(digest)
    return digest


@router.post("/artifacts/missing")
def missing(
    body: DigestList, request: Request, caller: Annotated[Caller, Depends(require("reader"))]
) -> dict[str, Any]:
    """The digests among ``digests`` that the server does not hold."""
    artifacts = request.app.state.store.artifacts
    wanted = [_check(digest) for digest in dict.fromkeys(body.digests)]
    absent = [digest for digest in wanted if not artifacts.exists(digest)]
    answer: dict[str, Any] = {"missing": absent}
    if body.sizes is not None and len(body.sizes) == len(body.digests) and can_sign(artifacts):
        size_of = dict(zip(body.digests, body.sizes, strict=True))
        large = [digest for digest in absent if size_of.get(digest, 0) >= DIRECT_FROM]
        if large and caller.may("writer"):
            answer["uploads"] = {}
            for digest in large:
                token, url = presign_upload(artifacts)
                answer["uploads"][digest] = {"url": url, "staging": token}
    return answer


@router.post("/artifacts/{digest}/commit")
def commit(
    digest: str,
    body: StagedUpload,
    request: Request,
    _caller: Annotated[Caller, Depends(require("writer"))],
) -> dict[str, Any]:
    """Store what a client uploaded straight to the bucket, if it hashes to ``digest``."""
    _check(digest)
    stored = commit_upload(request.app.state.store.artifacts, body.staging, digest)
    return {"digest": stored.digest, "size": stored.size, "stored": True}


@router.put("/artifacts/{digest}")
async def upload(
    digest: str, request: Request, _caller: Annotated[Caller, Depends(require("writer"))]
) -> dict[str, Any]:
    """Store the request body as the object ``digest`` (refused unless it hashes to it)."""
    from starlette.concurrency import run_in_threadpool

    _check(digest)
    artifacts = request.app.state.store.artifacts
    staged = await run_in_threadpool(
        StagedObject, artifacts, digest, get_settings().home_dir / "tmp"
    )
    pending = bytearray()
    try:
        async for chunk in request.stream():
            pending += chunk
            if len(pending) >= BATCH_BYTES:  # hashed and written off the event loop
                await run_in_threadpool(staged.write, bytes(pending))
                pending.clear()
        await run_in_threadpool(staged.write, bytes(pending))
    except BaseException:
        staged.discard()
        raise
    stored = await run_in_threadpool(staged.keep)
    return {"digest": digest, "size": stored.size, "stored": True}


@router.get("/artifacts/{digest}")
def download(
    digest: str, request: Request, _caller: Annotated[Caller, Depends(require("reader"))]
) -> StreamingResponse:
    """The object's bytes, streamed (the client verifies them against the digest)."""
    _check(digest)
    artifacts = request.app.state.store.artifacts
    chunks: Iterator[bytes] = artifacts.iter_verified(digest)
    try:
        first = next(chunks, b"")  # a missing object is a 404 before any byte is sent
    except ArtifactNotFoundError:  # its message names the store's own paths: not for clients
        raise ArtifactNotFoundError(
            f"the server holds no object {digest}; upload it first (PUT /api/v1/artifacts/"
            "{digest})"
        ) from None

    def stream() -> Iterator[bytes]:
        yield first
        yield from chunks

    return StreamingResponse(stream(), media_type="application/octet-stream")
