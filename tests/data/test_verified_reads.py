"""Reads through the cache (``cairn.data.load`` and ``cairn.data.path``) never return bytes
that differ from the version's digests (decision 0010)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

import cairn
from cairn.core.errors import ArtifactCorruptedError
from cairn.data import _read_cache
from cairn.store import Store

FRAME = pd.DataFrame({"id": list(range(50)), "city": ["Oslo", "Lima"] * 25})


def _add_table(project: Path) -> Path:
    """A dataset ``t`` holding one Parquet table; return the table's source file."""
    raw = project / "raw"
    raw.mkdir()
    FRAME.to_parquet(raw / "t.parquet", index=False)
    cairn.data.add(raw, "t")
    return raw / "t.parquet"


def _flip_byte(path: Path) -> None:
    """Flip one byte of ``path`` in place and put its modification time back."""
    before = os.stat(path)
    os.chmod(path, 0o644)
    with open(path, "r+b") as stream:
        stream.seek(before.st_size // 2)
        byte = stream.read(1)
        stream.seek(before.st_size // 2)
        stream.write(bytes([byte[0] ^ 0xFF]))
    os.chmod(path, 0o444)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


def test_a_byte_flipped_in_the_stored_object_is_refused_by_load_in_a_new_process(
    project: Path, store: Store, store_url: str
) -> None:
    """The issue's scenario: after a load cached the version, a byte flipped in the stored
    object (modification time restored) is refused by a load in a new process."""
    _add_table(project)
    pd.testing.assert_frame_equal(cairn.data.load("t"), FRAME)  # the cache is built
    (entry,) = cairn.data.files("t")
    _flip_byte(Path(store.artifacts.object_path(entry.digest)))
    child = subprocess.run(
        [sys.executable, "-c", "import cairn; print(cairn.data.load('t').shape)"],
        cwd=project,
        env={**os.environ, "CAIRN_STORE": store_url},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode != 0 and child.stdout == ""
    assert "does not match its digest" in child.stderr and "t@v1" in child.stderr
    with pytest.raises(ArtifactCorruptedError, match=r"t\.parquet"):
        cairn.data.path("t")


def test_a_changed_cache_file_is_restored_from_the_store(project: Path, artifacts: Store) -> None:
    """A cached file replaced by other bytes (same size and time), with or without the
    verification record, is materialised again from the intact stored object."""
    _add_table(project)
    folder = cairn.data.path("t")
    cached = folder / "t.parquet"
    good = cached.read_bytes()
    for drop_record in (False, True):
        before = os.stat(cached)
        cached.unlink()  # a new file, not the stored object: the store stays intact
        cached.write_bytes(good[:-1] + bytes([good[-1] ^ 0xFF]))
        os.utime(cached, ns=(before.st_atime_ns, before.st_mtime_ns))
        if drop_record:
            (folder / _read_cache.RECORD).unlink()
        pd.testing.assert_frame_equal(cairn.data.load("t"), FRAME)
        assert cached.read_bytes() == good


def test_a_missing_or_replaced_cache_entry_is_materialised_again(
    project: Path, store: Store
) -> None:
    """A cached file removed, or replaced by a folder, comes back as the version's bytes."""
    _add_table(project)
    cached = cairn.data.path("t") / "t.parquet"
    good = cached.read_bytes()
    cached.unlink()
    assert (cairn.data.path("t") / "t.parquet").read_bytes() == good
    cached.unlink()
    cached.mkdir()
    assert (cairn.data.path("t") / "t.parquet").read_bytes() == good


def test_a_verified_unchanged_file_is_not_hashed_again(
    project: Path, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once a file's signature is out of the racy window, reads trust it without hashing."""
    # A short window rather than none: file times come from the kernel's coarse clock, which
    # may lag time.time_ns() by a tick, so a file linked just after a hash began can look older.
    monkeypatch.setattr(_read_cache, "RACY_S", 0.05)
    _add_table(project)
    folder = cairn.data.path("t")  # built: linked after the hash began, so racy
    record = folder / _read_cache.RECORD
    built = record.read_bytes()
    time.sleep(0.1)  # past the window
    cairn.data.path("t")  # hashed again, now vouched for
    verified = record.read_bytes()
    assert verified != built
    pd.testing.assert_frame_equal(cairn.data.load("t"), FRAME)
    assert record.read_bytes() == verified  # nothing was hashed, nothing recorded
