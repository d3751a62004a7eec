"""The read cache behind ``cairn.data.path`` and ``cairn.data.load`` (decision 0010).

A version's files are materialised once into ``cache/data/<digest>/``: hard links to the
store's objects where the store is local (no copy), downloaded copies otherwise. The cache is
not trusted for being complete: every read compares each file's (size, mtime, ctime, inode)
with those recorded when its bytes were last hashed, and hashes again any file whose signature
changed or was recorded within ``RACY_S`` of that hash (a change in the same timestamp tick
would look like no change). A hard link shares its inode with the stored object, so a byte
flipped in either changes the ctime the record holds, and no process can set a ctime back.
A file that no longer matches its digest is materialised again from the store, whose object is
verified on the way; a damaged stored object is refused with the version and file named.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from cairn.core.errors import ArtifactCorruptedError, ArtifactNotFoundError
from cairn.core.hashing import hash_file, split_digest
from cairn.core.progress import track
from cairn.core.settings import get_settings
from cairn.core.threads import leave_signals_to_main_thread
from cairn.data.dataset import DatasetVersion, FileEntry
from cairn.store import Store

COMPLETE = ".cairn-complete"
RECORD = ".cairn-verified"
RACY_S = 2.0  # wider than any file system's timestamp tick (FAT's is 2 s)

# path -> [size, mtime_ns, ctime_ns, inode, hashed_from_ns]: the file's signature, and the
# time its hash began (lists, as JSON reads them: a record is compared, never converted)
Record = dict[str, list[int]]
Signature = list[int]  # [size, mtime_ns, ctime_ns, inode]


def cached_folder(store: Store, version: DatasetVersion, entries: list[FileEntry]) -> Path:
    """The version's read-only cache folder, every file in it verified to match its digest."""
    _, hexpart = split_digest(version.digest)
    cache = get_settings().home_dir / "cache" / "data"
    folder = cache / hexpart[:32]
    if not (folder / COMPLETE).exists():
        _build(store, version, entries, cache, folder)
    else:
        _verify(store, version, entries, folder)
    return folder


def _build(
    store: Store, version: DatasetVersion, entries: list[FileEntry], cache: Path, folder: Path
) -> None:
    building = cache / f".building-{folder.name[:16]}-{uuid.uuid4().hex[:8]}"
    try:
        started = time.time_ns()
        materialize_entries(store, entries, building, link=True, what=version.ref)
        _write_record(building, version.digest, _signatures(building, entries, started))
        (building / COMPLETE).write_text(version.digest + "\n")
        try:
            os.rename(building, folder)
        except OSError:
            if not (folder / COMPLETE).exists():  # not another process's finished copy
                raise
            _verify(store, version, entries, folder)  # theirs: trusted no more than ours
    finally:
        if building.exists():
            remove_tree(building)


def _verify(store: Store, version: DatasetVersion, entries: list[FileEntry], folder: Path) -> None:
    """Hash again every file the record cannot vouch for; replace the ones that differ."""
    checked = time.time_ns()  # before any signature is taken: the bound the racy test needs
    record = _read_record(folder, version.digest)
    fresh: Record = {}
    doubtful: list[tuple[FileEntry, Signature | None]] = []
    racy_ns = int(RACY_S * 1e9)
    prefix = f"{folder}{os.sep}"  # strings, not Paths: a Path per file costs more than its lstat
    for entry in entries:
        signature = _signature(prefix + entry.path)
        known = record.get(entry.path)
        if (
            signature is not None
            and signature[0] == entry.size
            and isinstance(known, list)
            and len(known) == 5
            and known[:4] == signature
            and type(known[4]) is int
            and signature[2] < known[4] - racy_ns
        ):
            fresh[entry.path] = known
        else:
            doubtful.append((entry, signature))
    if not doubtful:
        return
    with ThreadPoolExecutor(
        min(8, len(doubtful)),
        thread_name_prefix="cairn-verify",
        initializer=leave_signals_to_main_thread,
    ) as pool:
        matches = list(pool.map(lambda pair: _matches(folder, *pair), doubtful))
    damaged = [entry for (entry, _), ok in zip(doubtful, matches, strict=True) if not ok]
    # Hashed intact: their signature, taken after ``checked``, is vouched for from then on.
    for (entry, signature), ok in zip(doubtful, matches, strict=True):
        if ok and signature is not None:
            fresh[entry.path] = [*signature, checked]
    if damaged:
        replaced = time.time_ns()
        for entry in damaged:
            _replace(store, entry, folder, version.ref)
        fresh.update(_signatures(folder, damaged, replaced))
    _write_record(folder, version.digest, fresh)


def _matches(folder: Path, entry: FileEntry, signature: Signature | None) -> bool:
    if signature is None or signature[0] != entry.size:
        return False
    try:
        return hash_file(folder / entry.path)[0] == entry.digest
    except OSError:
        return False  # unreadable: materialised again


def _replace(store: Store, entry: FileEntry, folder: Path, what: str) -> None:
    target = folder / entry.path
    with contextlib.suppress(FileNotFoundError):
        if target.is_dir() and not target.is_symlink():
            remove_tree(target)
    materialize_entries(store, [entry], folder, link=True, what=what)


def _signature(path: str | Path) -> Signature | None:
    """[size, mtime_ns, ctime_ns, inode] of a regular file; None for anything else."""
    try:
        info = os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISREG(info.st_mode):
        return None
    return [info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino]


def _signatures(folder: Path, entries: list[FileEntry], started: int) -> Record:
    found: Record = {}
    for entry in entries:
        signature = _signature(folder / entry.path)
        if signature is not None:
            found[entry.path] = [*signature, started]
    return found


def _read_record(folder: Path, digest: str) -> Record:
    """The signatures recorded at the last verification (none when absent or unreadable)."""
    try:
        body: Any = json.loads((folder / RECORD).read_bytes())
        files = body["files"] if body.get("digest") == digest else {}
        return files if isinstance(files, dict) else {}  # entries are checked where compared
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return {}  # an old cache or a torn record: every file is hashed again


def _write_record(folder: Path, digest: str, record: Record) -> None:
    body = json.dumps({"digest": digest, "files": record}, separators=(",", ":"))
    tmp = folder / f"{RECORD}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        tmp.write_text(body)
        os.replace(tmp, folder / RECORD)  # whole or not at all; the last verifier wins
    except OSError:
        # Without a record every file is hashed again on the next read: slower, never wrong.
        tmp.unlink(missing_ok=True)


def materialize_entries(
    store: Store, entries: list[FileEntry], dest: Path, *, link: bool, what: str
) -> None:
    """Write the files of ``entries`` under ``dest`` (objects verified), naming ``what`` and
    the file in any error."""
    dest.mkdir(parents=True, exist_ok=True)
    for entry in track(entries, len(entries), f"materialising {what}"):
        target = dest / entry.path
        try:
            if store.remote is not None:  # client mode: downloaded from the server, verified
                store.artifacts.copy_to(entry.digest, target)
            else:
                store.artifacts.materialize(entry.digest, target, link=link)
        except ArtifactCorruptedError as exc:
            raise ArtifactCorruptedError(f"{what}, file {entry.path}: {exc}") from None
        except ArtifactNotFoundError as exc:
            raise ArtifactNotFoundError(f"{what}, file {entry.path}: {exc}") from None


def remove_tree(folder: Path) -> None:
    """Remove a folder of cairn's own (read-only files in writable folders)."""
    shutil.rmtree(folder, ignore_errors=True)
