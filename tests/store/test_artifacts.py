"""The content-addressed artifact store on local files and on S3 (moto server on loopback)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cairn.core.errors import (
    ArtifactCorruptedError,
    ArtifactError,
    ArtifactNotFoundError,
)
from cairn.core.hashing import hash_bytes, hash_chunks
from cairn.store import ArtifactStore, Store


def test_round_trip_bytes_and_files(artifacts: Store, tmp_path: Path) -> None:
    """Bytes and files come back identical, addressed by their BLAKE3 digest."""
    store = artifacts.artifacts
    stored = store.put_bytes(b"hello")
    assert stored.digest == hash_bytes(b"hello") and stored.digest.startswith("blake3:")
    assert store.read_bytes(stored.digest) == b"hello"
    source = tmp_path / "data.bin"
    source.write_bytes(os.urandom(3 << 20))
    from_file = store.put_file(source)
    assert from_file.size == 3 << 20
    assert store.exists(from_file.digest)
    copy = store.copy_to(from_file.digest, tmp_path / "out" / "copy.bin")
    assert copy.read_bytes() == source.read_bytes()


def test_empty_content(artifacts: Store, tmp_path: Path) -> None:
    """Empty bytes and empty files are stored and read back like any other."""
    store = artifacts.artifacts
    assert store.read_bytes(store.put_bytes(b"").digest) == b""
    (tmp_path / "empty").write_bytes(b"")
    assert store.put_file(tmp_path / "empty").size == 0


def test_same_content_is_stored_once(artifacts: Store) -> None:
    """Storing identical bytes twice gives the same object and does not rewrite it."""
    store = artifacts.artifacts
    first = store.put_bytes(b"same")
    second = store.put_bytes(b"same")
    assert first == second
    if store.is_local:
        assert os.stat(store.object_path(first.digest)).st_mode & 0o222 == 0  # read-only


def test_bytes_already_hashed_are_stored_once(artifacts: Store) -> None:
    """put_hashed_bytes stores what it is given under the digest given, once, read-only."""
    store = artifacts.artifacts
    data = os.urandom(100 << 10)
    digest = hash_bytes(data)
    assert store.put_hashed_bytes(data, digest, durable=False) is True
    store.sync()
    assert store.read_bytes(digest) == data
    assert store.put_hashed_bytes(data, digest) is False
    if store.is_local:
        assert os.stat(store.object_path(digest)).st_mode & 0o222 == 0
        folder = Path(store.object_path(digest)).parent
        assert [p.name for p in folder.iterdir() if p.name.startswith(".tmp-")] == []


def test_missing_object(artifacts: Store) -> None:
    """Reading an object that is not there raises ArtifactNotFoundError."""
    with pytest.raises(ArtifactNotFoundError, match="no object"):
        artifacts.artifacts.read_bytes(hash_bytes(b"never stored"))


def test_corruption_is_detected_on_read(project: Path) -> None:
    """An object changed after it was written is refused, naming the file."""
    store = ArtifactStore(str(project / "objects-store"))
    stored = store.put_bytes(b"original bytes")
    path = Path(store.object_path(stored.digest))
    path.chmod(0o644)
    path.write_bytes(b"tampered bytes")
    with pytest.raises(ArtifactCorruptedError, match="does not match its digest"):
        store.read_bytes(stored.digest)
    with pytest.raises(ArtifactCorruptedError):
        store.copy_to(stored.digest, project / "out.bin")
    assert not (project / "out.bin").exists()


def test_corruption_is_detected_on_s3(s3_bucket: tuple[str, dict[str, Any]]) -> None:
    """On S3 too, an object whose bytes were replaced is refused."""
    url, options = s3_bucket
    store = ArtifactStore(url, options)
    stored = store.put_bytes(b"original")
    import s3fs

    fs = s3fs.S3FileSystem(**options)
    fs.pipe_file(store.object_path(stored.digest), b"changed!")
    with pytest.raises(ArtifactCorruptedError):
        store.read_bytes(stored.digest)


def test_a_missing_bucket_is_one_clear_error(s3_bucket: tuple[str, dict[str, Any]]) -> None:
    """Writing to a bucket that does not exist says so in one ArtifactError, not a traceback."""
    _, options = s3_bucket
    store = ArtifactStore("s3://no-such-bucket-for-cairn/artifacts", options)
    with pytest.raises(ArtifactError, match="the bucket does not exist") as info:
        store.put_bytes(b"data")
    assert not isinstance(info.value, ArtifactNotFoundError)


def test_no_temporary_files_are_left(project: Path) -> None:
    """A local write leaves only the object, no temporary file."""
    store = ArtifactStore(str(project / "objects-store"))
    store.put_bytes(b"x" * 1000)
    names = [p.name for p in (project / "objects-store").rglob("*") if p.is_file()]
    assert len(names) == 1 and not names[0].startswith(".tmp")


def test_missing_s3fs_names_the_extra() -> None:
    """Without s3fs, an s3:// artifact store says which extra to install."""
    code = (
        "import sys; sys.modules['s3fs'] = None\n"  # makes 'import s3fs' fail
        "from cairn.core.errors import MissingDependencyError\n"
        "from cairn.store import ArtifactStore\n"
        "try:\n"
        "    ArtifactStore('s3://bucket/prefix').put_bytes(b'x')\n"
        "except MissingDependencyError as exc:\n"
        "    print(exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "pip install 'cairn-mlops[s3]'" in done.stdout


@settings(max_examples=100, deadline=None)
@given(st.lists(st.binary(max_size=2000), max_size=8))
def test_streaming_hash_equals_one_shot(chunks: list[bytes]) -> None:
    """Hashing in pieces gives the digest of hashing everything at once."""
    assert hash_chunks(chunks) == hash_bytes(b"".join(chunks))


def test_sweep_removes_only_unreferenced_idle_objects(artifacts: Store) -> None:
    """The sweep keeps referenced and recently used objects and removes the rest."""
    import cairn
    from cairn.store.references import sweep

    with cairn.run() as run:
        kept = run.log_text("referenced", "a.txt").digest
    orphan = artifacts.artifacts.put_bytes(b"nobody refers to me").digest
    fresh = sweep(artifacts, grace_s=3600)
    assert (fresh.objects, fresh.kept) == (0, 1)
    result = sweep(artifacts, grace_s=0)
    assert (result.objects, result.bytes) == (1, len(b"nobody refers to me"))
    assert not artifacts.artifacts.exists(orphan)
    assert artifacts.artifacts.exists(kept)
    assert artifacts.artifacts.put_bytes(b"nobody refers to me").digest == orphan  # rewritten


def test_a_large_durable_copy_is_written_back_in_steps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A copy that will be fsynced goes in steps, each handed to the disk early; every byte
    arrives, whatever the step size."""
    from cairn.core.hashing import hash_file
    from cairn.store.artifacts import store as module

    monkeypatch.setattr(module, "WRITE_BACK_STEP", 4096)
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(10 * 4096 + 123))
    digest = hash_file(source)[0]
    objects = ArtifactStore(str(tmp_path / "store"))
    assert objects.put_hashed_file(source, digest, source.stat().st_size)
    assert Path(objects.object_path(digest)).read_bytes() == source.read_bytes()


@pytest.mark.parametrize("has_syncfs", [True, False])
def test_sync_flushes_only_the_stores_own_writes(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, has_syncfs: bool
) -> None:
    """sync() makes objects written with durable=False durable without sync(2) of the machine."""
    import cairn.store.artifacts.store as store_module

    def whole_machine() -> None:
        raise AssertionError("os.sync flushes every process's writes")

    monkeypatch.setattr(os, "sync", whole_machine)
    if not has_syncfs:
        monkeypatch.setattr(store_module, "_syncfs", lambda root: False)
    store = ArtifactStore(str(project / "objects-store"))
    source = tmp_path / "a.bin"
    source.write_bytes(b"a" * 5000)
    digest = hash_bytes(b"a" * 5000)
    assert store.put_hashed_file(source, digest, 5000, durable=False)
    assert store.put_hashed_bytes(b"small", hash_bytes(b"small"), durable=False)
    store.sync()
    store.sync()  # nothing pending: a no-op
    assert store.read_bytes(hash_bytes(b"small")) == b"small"
