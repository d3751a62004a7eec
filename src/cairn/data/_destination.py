"""Where ``cairn data get`` writes: inside the destination folder, never through a symbolic
link found there (decision 0011).

The folder named as the destination may itself be a link (the user chose it); anything below
it that is a link, where the version has a folder, is refused before a byte is written, and
the files are then moved in through folders opened without following links, so a folder
swapped for a link in between is refused too rather than written through.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from pathlib import Path

from cairn.core.errors import InvalidInputError

_NO_FOLLOW = (
    hasattr(os, "O_NOFOLLOW")
    and os.open in os.supports_dir_fd
    and os.mkdir in os.supports_dir_fd
    and os.rename in os.supports_dir_fd  # os.replace takes the same dir_fd arguments
)
_FOLDER_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0)


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
            f"{target / folder} is a symbolic link; cairn data get never writes through a link "
            f"(the files of {what} would land outside {target}). Remove the link, or choose "
            "another folder"
        )
    if not stat.S_ISDIR(info.st_mode):
        raise InvalidInputError(
            f"{target / folder} is a file where {what} has a folder; move it away, or choose "
            "another folder"
        )
    return True


def place(staging: Path, target: Path, paths: list[str]) -> None:
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
            os.replace(staging / rel, name, dst_dir_fd=_open_folder(chain, folder, target))
    finally:
        for fd in chain.values():
            os.close(fd)


def _open_folder(chain: dict[str, int], folder: str, target: Path) -> int:
    if folder in chain:
        return chain[folder]
    parent, _, name = folder.rpartition("/")
    parent_fd = _open_folder(chain, parent, target)
    with contextlib.suppress(FileExistsError):
        os.mkdir(name, dir_fd=parent_fd)
    try:
        fd = os.open(name, _FOLDER_FLAGS, dir_fd=parent_fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise InvalidInputError(
                f"{target / folder} became a symbolic link or a file while the version was "
                "being written; nothing was written through it. Remove it and get again"
            ) from None
        raise
    chain[folder] = fd
    return fd
