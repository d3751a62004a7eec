"""Where cairn writes a tree of files for the user (``cairn data get``,
``cairn.download_artifacts``): inside the destination folder, never through a symbolic link
found there (decision 0011).

The folder named as the destination may itself be a link (the user chose it); anything below
it that is a link, where the tree has a folder, is refused before a byte is written. The files
are written into a staging folder inside the destination first and then moved in by renames
through folders opened without following links, so a folder swapped for a link in between is
refused too rather than written through, and a failed write leaves no file half-written.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
import uuid
from collections.abc import Callable
from pathlib import Path

from cairn.core.errors import InvalidInputError

_NO_FOLLOW = (
    hasattr(os, "O_NOFOLLOW")
    and os.open in os.supports_dir_fd
    and os.mkdir in os.supports_dir_fd
    and os.rename in os.supports_dir_fd  # os.replace takes the same dir_fd arguments
)
_FOLDER_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0)


def is_relative_path(path: str) -> bool:
    """Whether ``path`` (``/``-separated) names a file strictly below a folder: no empty,
    ``.`` or ``..`` part and no NUL, so joining it to the folder cannot leave it."""
    return "\x00" not in path and all(part not in ("", ".", "..") for part in path.split("/"))


def named_folder(target: Path) -> Path:
    """The folder the caller named as a destination, with a symbolic link there resolved (the
    caller chose it); ``InvalidInputError`` for a link to nothing."""
    if not os.path.islink(target):
        return target
    if not target.exists():
        raise InvalidInputError(
            f"{target} is a symbolic link to {os.readlink(target)}, which does not exist; "
            "create that folder, or choose another destination"
        )
    return Path(os.path.realpath(target))


def write_tree(
    target: Path,
    paths: list[str],
    fill: Callable[[Path], None],
    *,
    force: bool,
    what: str,
) -> None:
    """Write the files ``paths`` of ``what`` under the folder ``target``, whole or not at all.

    ``fill(staging)`` writes every path under ``staging`` (a fresh folder inside ``target``);
    the files are then renamed into place. Refused before anything is written: a symbolic link
    or a file where the tree has a folder, a folder where it has a file, and (unless ``force``)
    an existing file. A link where a file goes is replaced by the rename, never written through.
    """
    named_folder(target)  # a link to a missing folder: refused, saying which
    if target.exists() and not target.is_dir():
        raise InvalidInputError(f"{target} exists and is not a folder; choose a folder")
    check_destination(target, paths, force=force, what=what)
    staging = target / f".cairn-partial-{uuid.uuid4().hex[:8]}"
    try:
        target.mkdir(parents=True, exist_ok=True)
        staging.mkdir()
        fill(staging)
        place(staging, target, paths, what=what)
    except OSError as exc:
        raise InvalidInputError(
            f"cannot write {what} into {target}: {exc.strerror or exc}; choose a writable "
            "folder with enough space"
        ) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _lstat(path: Path) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None


def check_destination(target: Path, paths: list[str], *, force: bool, what: str) -> None:
    """Refuse a destination where writing the files ``paths`` of ``what`` would go through a
    symbolic link or replace a folder, or (unless ``force``) replace a file."""
    folders: dict[str, bool] = {}  # folder below target -> exists
    clashes: list[str] = []
    for rel in paths:
        parts = rel.split("/")
        for depth in range(1, len(parts)):
            folder = "/".join(parts[:depth])
            if folder not in folders:
                folders[folder] = _check_folder(target, folder, what)
            if not folders[folder]:
                break  # a missing folder: nothing below it exists either
        else:
            info = _lstat(target / rel)
            if info is not None and stat.S_ISDIR(info.st_mode):
                raise InvalidInputError(
                    f"{target / rel} is a folder where {what} has a file; move it away, or "
                    "choose another folder"
                )
            if info is not None:
                clashes.append(rel)  # a file or a link: replaced by rename, never written into
    if clashes and not force:
        raise InvalidInputError(
            f"{len(clashes)} file(s) of {what} already exist in {target} (e.g. "
            f"{clashes[0]}); choose an empty folder, or pass --force to replace them"
        )


def _check_folder(target: Path, folder: str, what: str) -> bool:
    info = _lstat(target / folder)
    if info is None:
        return False
    if stat.S_ISLNK(info.st_mode):
        raise InvalidInputError(
            f"{target / folder} is a symbolic link; cairn never writes through a link (the "
            f"files of {what} would land outside {target}). Remove the link, or choose "
            "another folder"
        )
    if not stat.S_ISDIR(info.st_mode):
        raise InvalidInputError(
            f"{target / folder} is a file where {what} has a folder; move it away, or choose "
            "another folder"
        )
    return True


def place(staging: Path, target: Path, paths: list[str], *, what: str = "the files") -> None:
    """Move each staged file of ``paths`` to the same path under ``target`` by a rename."""
    if not _NO_FOLLOW:  # no openat() here: the check before the copy is the guard
        for rel in paths:
            (target / rel).parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / rel, target / rel)
        return
    # Open folders (the chain of the current file's folders only, so a tree of many folders
    # never holds many descriptors) without following links, and rename into them.
    chain: dict[str, int] = {"": os.open(target, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))}
    try:
        for rel in paths:
            folder, _, name = rel.rpartition("/")
            for key in [k for k in chain if k and folder != k and not folder.startswith(k + "/")]:
                os.close(chain.pop(key))
            fd = _open_folder(chain, folder, target, what)
            os.replace(staging / rel, name, dst_dir_fd=fd)
    finally:
        for fd in chain.values():
            os.close(fd)


def _open_folder(chain: dict[str, int], folder: str, target: Path, what: str) -> int:
    if folder in chain:
        return chain[folder]
    parent, _, name = folder.rpartition("/")
    parent_fd = _open_folder(chain, parent, target, what)
    with contextlib.suppress(FileExistsError):
        os.mkdir(name, dir_fd=parent_fd)
    try:
        fd = os.open(name, _FOLDER_FLAGS, dir_fd=parent_fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise InvalidInputError(
                f"{target / folder} became a symbolic link or a file while {what} was being "
                "written; nothing was written through it. Remove it and try again"
            ) from None
        raise
    chain[folder] = fd
    return fd


def write_file(path: Path, data: bytes) -> None:
    """Write ``data`` to the file ``path`` whole or not at all: into a new file with a random
    name beside it (created exclusively, so never through a link found there), then renamed
    over ``path`` (a link at ``path`` is replaced, not followed)."""
    partial = path.with_name(f".{path.name}.partial-{uuid.uuid4().hex[:8]}")
    created = False
    try:
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        created = True
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(partial, path)
    except OSError as exc:
        if created:
            with contextlib.suppress(OSError):
                os.unlink(partial)
        raise InvalidInputError(
            f"cannot write {path}: {exc.strerror or exc}; choose a writable path"
        ) from None
