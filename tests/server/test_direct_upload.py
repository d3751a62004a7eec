"""Large artifacts go straight to S3: the server signs a staging URL, the client uploads, the
server verifies the bytes against the digest before keeping them."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

import cairn
from cairn.core.hashing import hash_bytes
from cairn.core.settings import configure
from cairn.server.app import create_app
from cairn.store import get_store
from cairn.store.artifacts.direct import DIRECT_FROM
from tests.server.conftest import ServerProcess

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

API = "/api/v1"


def _bucket_keys(url: str, options: dict[str, Any]) -> list[str]:
    import s3fs

    fs = s3fs.S3FileSystem(**options)
    bucket = url.removeprefix("s3://").split("/")[0]
    return [str(p) for p in fs.find(bucket)]


def test_a_large_upload_is_offered_a_signed_url_and_verified(
    store_url: str, s3_bucket: tuple[str, dict[str, Any]]
) -> None:
    """The server offers a staging URL for a large missing object, keeps the bytes only when
    they hash to the digest, and leaves no staging object either way."""
    url, options = s3_bucket
    configure(store=store_url, artifacts=url, artifacts_options=options)
    client = TestClient(create_app(auth=False))
    data = os.urandom(DIRECT_FROM + 1)
    digest = hash_bytes(data)
    asked = client.post(
        f"{API}/artifacts/missing", json={"digests": [digest], "sizes": [len(data)]}
    ).json()
    assert asked["missing"] == [digest]
    offer = asked["uploads"][digest]
    forged = bytes([data[0] ^ 0xFF]) + data[1:]  # differs always; b"x" + ... was equal 1 in 256
    assert httpx.put(offer["url"], content=forged).status_code == 200
    refused = client.post(f"{API}/artifacts/{digest}/commit", json={"staging": offer["staging"]})
    assert refused.status_code == 400
    assert refused.json()["error"]["type"] == "ArtifactCorruptedError"
    assert not get_store().artifacts.exists(digest)
    again = client.post(
        f"{API}/artifacts/missing", json={"digests": [digest], "sizes": [len(data)]}
    ).json()["uploads"][digest]
    assert httpx.put(again["url"], content=data).status_code == 200
    kept = client.post(f"{API}/artifacts/{digest}/commit", json={"staging": again["staging"]})
    assert kept.status_code == 200, kept.text
    assert get_store().artifacts.read_bytes(digest) == data
    assert not [key for key in _bucket_keys(url, options) if "/staging/" in key]
    small = client.post(
        f"{API}/artifacts/missing", json={"digests": [hash_bytes(b"a")], "sizes": [1]}
    )
    assert "uploads" not in small.json()


def test_client_mode_sends_a_large_artifact_to_the_bucket(
    store_url: str,
    s3_bucket: tuple[str, dict[str, Any]],
    server_on: Callable[..., ServerProcess],
    tmp_path: Path,
) -> None:
    """A client logs a file past the direct-upload size and the run's artifact reads back."""
    server = server_on(store_url, artifacts=s3_bucket, auth=True, access_log=True)
    configure(server=server.url, token=server.admin_token)
    big = tmp_path / "weights.bin"
    big.write_bytes(os.urandom(DIRECT_FROM + 123))
    with cairn.start_run() as run:
        run.log_artifact(big)
    record = cairn.get_run(run.id)
    entry = next(a for a in record.artifacts if a.path == "weights.bin")
    assert entry.size == big.stat().st_size
    out = cairn.tracking.download_artifacts(run.id, "weights.bin", tmp_path / "out")
    assert out.read_bytes() == big.read_bytes()
    url, options = s3_bucket
    assert not [key for key in _bucket_keys(url, options) if "/staging/" in key]
    log = server.log.read_text()
    assert '/commit HTTP/1.1" 200' in log  # the bytes went to the bucket, not through here
    assert f"PUT /api/v1/artifacts/{entry.digest}" not in log
