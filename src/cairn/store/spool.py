"""The offline spool: writes meant for a cairn server that could not reach it, kept on disk.

Each process appends to a file of its own (``<spool>/<time>-<pid>-<random>.jsonl``, one JSON
request per line, fsynced), holding an exclusive ``flock`` on it while it lives, and keeps the
bytes of artifacts it could not upload under ``objects/``. Replaying sends the lines in order
and records how many were delivered in a ``.pos`` file beside; a file whose process is gone
(its lock free) is replayed by the next cairn client or by ``cairn sync``. The server applies
every request idempotently (runs by id, metric batches by key, artifacts by digest), so a line
sent twice — delivered, but the answer lost — is written once.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from cairn.core.errors import ConfigError
from cairn.core.logging import logger

Entry = dict[str, Any]


class Spool:
    """One process's spool file in ``folder``, and the replay of every spool file there."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._lock = threading.Lock()
        self._own: IO[str] | None = None
        self._own_path: Path | None = None
        self._own_count = 0  # lines written to the own file

    # -- writing -------------------------------------------------------------------------------

    def append(self, entry: Entry) -> None:
        """Add a request at the end of this process's file, durably."""
        line = json.dumps(entry, separators=(",", ":")) + "\n"
        with self._lock:
            out = self._open_own()
            end = out.tell()
            try:
                out.write(line)
                out.flush()
                os.fsync(out.fileno())
            except OSError as exc:
                # A disk full mid-line: cut the file back, so the next line does not join it.
                with contextlib.suppress(OSError):
                    out.truncate(end)
                    out.seek(end)
                raise ConfigError(
                    f"cannot write to the offline spool in {self.folder}: "
                    f"{exc.strerror or exc}; free some space"
                ) from None
            self._own_count += 1

    def keep_object(self, digest: str, source: Path | bytes) -> Path:
        """Keep an artifact's bytes until they are uploaded; return where they are."""
        objects = self.folder / "objects"
        target = objects / digest.replace(":", "_")
        if target.exists():
            return target
        objects.mkdir(parents=True, exist_ok=True)
        temp = objects / f".{target.name}.{secrets.token_hex(4)}.tmp"
        try:
            if isinstance(source, bytes):
                temp.write_bytes(source)
            else:
                shutil.copyfile(source, temp)
            with open(temp, "rb") as f:
                os.fsync(f.fileno())
            os.replace(temp, target)
        finally:
            temp.unlink(missing_ok=True)
        return target

    def object_path(self, digest: str) -> Path:
        """Where a kept artifact's bytes are."""
        return self.folder / "objects" / digest.replace(":", "_")

    def _open_own(self) -> IO[str]:
        if self._own is None:
            try:
                self.folder.mkdir(parents=True, exist_ok=True)
                name = f"{time.time_ns()}-{os.getpid()}-{secrets.token_hex(3)}.jsonl"
                path = self.folder / name
                out = open(path, "a", encoding="utf-8")  # noqa: SIM115  (held while we live)
            except OSError as exc:
                raise ConfigError(
                    f"cannot write the offline spool in {self.folder}: {exc.strerror or exc}; "
                    "make it writable (it lives in the project's .cairn/spool)"
                ) from None
            fcntl.flock(out.fileno(), fcntl.LOCK_EX)
            self._own, self._own_path, self._own_count = out, path, 0
        return self._own

    # -- replaying -----------------------------------------------------------------------------

    def pending(self) -> int:
        """Requests in every spool file here not yet delivered."""
        total = 0
        for path in self._files():
            total += max(0, _count_lines(path) - _position(path))
        return total

    def replay(self, send: Callable[[Entry], None], *, own_only: bool = False) -> int:
        """Deliver spooled requests in order through ``send`` (which raises to stop: the
        request stays spooled); return how many were delivered. Files of live processes
        other than this one are left to them."""
        delivered = 0
        for path in self._files():
            if path == self._own_path:
                delivered += self._replay_own(send)
            elif not own_only:
                delivered += self._replay_foreign(path, send)
        return delivered

    def own_pending(self) -> int:
        """Requests of this process's own file not yet delivered."""
        with self._lock:
            path = self._own_path
            if path is None:
                return 0
            return self._own_count - _position(path)

    def _replay_own(self, send: Callable[[Entry], None]) -> int:
        path = self._own_path
        if path is None:
            return 0
        delivered = _replay_file(path, send)
        with self._lock:  # drained, and nothing appended since: start a fresh file next time
            if self._own_path == path and _position(path) >= self._own_count:
                self._close_own(remove=True)
        return delivered

    def _replay_foreign(self, path: Path, send: Callable[[Entry], None]) -> int:
        try:
            handle = open(path, encoding="utf-8")  # noqa: SIM115
        except FileNotFoundError:
            return 0
        with handle:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return 0  # its process lives and replays it itself
            delivered = _replay_file(path, send)
            if _position(path) >= _count_lines(path):
                _remove(path)
        return delivered

    def _files(self) -> list[Path]:
        try:  # the files of processes (<time>-<pid>-<random>.jsonl), not rejected.jsonl
            return sorted(self.folder.glob("[0-9]*-*.jsonl"))
        except OSError:
            return []

    def _close_own(self, *, remove: bool) -> None:
        if self._own is not None:
            with contextlib.suppress(OSError):
                self._own.close()
            if remove and self._own_path is not None:
                _remove(self._own_path)
        self._own, self._own_path, self._own_count = None, None, 0

    def close(self) -> None:
        """Let go of this process's file (kept on disk while it holds undelivered requests)."""
        with self._lock:
            path = self._own_path
            done = path is not None and _position(path) >= self._own_count
            self._close_own(remove=done)


def _replay_file(path: Path, send: Callable[[Entry], None]) -> int:
    start = _position(path)
    delivered = 0
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines):
            if number < start:
                continue
            if not line.endswith("\n"):
                break  # a line being written (or cut by a crash): never half-sent
            try:
                entry = json.loads(line)
            except ValueError:  # whole but unreadable (damaged on disk): set aside, say so
                _set_aside(path, line, f"line {number + 1} of {path.name} is not JSON")
            else:
                send(entry)
            delivered += 1
            _set_position(path, number + 1)
    return delivered


def _set_aside(path: Path, line: str, reason: str) -> None:
    logger.error("the offline spool holds a damaged request (%s); kept in rejected.jsonl", reason)
    with open(path.parent / "rejected.jsonl", "a", encoding="utf-8") as out:
        out.write(json.dumps({"line": line, "error": reason}) + "\n")


def _position_path(path: Path) -> Path:
    return path.with_suffix(".pos")


def _position(path: Path) -> int:
    try:
        return int(_position_path(path).read_text() or 0)
    except (OSError, ValueError):
        return 0


def _set_position(path: Path, value: int) -> None:
    target = _position_path(path)
    temp = target.with_suffix(f".pos.{os.getpid()}.tmp")
    temp.write_text(str(value))
    os.replace(temp, target)


def _count_lines(path: Path) -> int:
    try:
        with open(path, "rb") as f:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))
    except OSError:
        return 0


def _remove(path: Path) -> None:
    for each in (path, _position_path(path)):
        with contextlib.suppress(OSError):
            each.unlink()
