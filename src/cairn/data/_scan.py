"""Listing the files to add: a local file or folder, or an fsspec URL (s3://...)."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any, NamedTuple

from cairn.core.errors import InvalidInputError
from cairn.core.home import HOME_DIR
from cairn.core.links import followed_link


class Found(NamedTuple):
    """A file to add: its path in the version and where to read it (a tuple: a scan makes
    one per file, and tuples are cheap)."""

    rel: str
    source: str
    size: int
    mtime_ns: int
    inode: int


def is_url(location: str) -> bool:
    """Whether ``location`` names a remote filesystem (``scheme://``) rather than a path."""
    head, sep, _ = location.partition("://")
    return bool(sep) and head.isidentifier() and head != "file"


def scan_local(root: Path) -> list[Found]:
    """Every regular file at or under ``root``, sorted by relative path; folders named
    ``.cairn`` (a project's store) are left out.

    A symbolic link under ``root`` is read as the file it points to when that is a regular
    file inside ``root`` (``source`` is then the file's real path, so reads never go through
    the link); any other link is refused (``core.links``, decision 0011).
    """
    try:
        info = root.stat()
    except FileNotFoundError:
        raise InvalidInputError(f"no file or folder at {root}; check the path") from None
    except OSError as exc:
        raise InvalidInputError(f"cannot read {root}: {exc.strerror or exc}") from None
    if Path(os.path.realpath(root)).name == HOME_DIR:
        raise InvalidInputError(
            f"{root} is cairn's own store ({HOME_DIR}/), which is never data; add the folder "
            "that holds your data"
        )
    if stat.S_ISREG(info.st_mode):
        return [Found(root.name, str(root), info.st_size, info.st_mtime_ns, info.st_ino)]
    if not stat.S_ISDIR(info.st_mode):
        raise InvalidInputError(f"{root} is neither a file nor a folder; add a file or a folder")
    base = os.path.realpath(root)
    found: list[Found] = []
    stack = [(str(root), "")]
    while stack:
        folder, prefix = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError as exc:
            raise InvalidInputError(f"cannot list {folder}: {exc.strerror or exc}") from None
        for entry in entries:
            rel = f"{prefix}{entry.name}"
            if entry.is_dir(follow_symlinks=False):
                if entry.name != HOME_DIR:  # cairn's own store is never part of the data
                    stack.append((entry.path, rel + "/"))
                continue
            if entry.is_symlink():
                source, st = followed_link(entry.path, base)
                found.append(Found(rel, source, st.st_size, st.st_mtime_ns, st.st_ino))
                continue
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue  # removed since the folder was listed
            if stat.S_ISREG(st.st_mode):
                found.append(Found(rel, entry.path, st.st_size, st.st_mtime_ns, st.st_ino))
    found.sort(key=lambda f: f.rel)
    return found


def scan_remote(url: str, options: dict[str, Any]) -> tuple[Any, list[Found]]:
    """The filesystem of ``url`` and every file at or under it."""
    import fsspec

    try:
        fs, path = fsspec.core.url_to_fs(url, **options)
        if fs.isfile(path):
            size = int(fs.info(path).get("size") or 0)
            return fs, [Found(path.rstrip("/").rsplit("/", 1)[-1], path, size, 0, 0)]
        listing = fs.find(path, detail=True)
    except ImportError as exc:
        raise InvalidInputError(
            f"cannot read {url}: {exc}; install the filesystem's package "
            "(pip install 'cairn-mlops[s3]' for s3://)"
        ) from None
    except Exception as exc:  # botocore's and fsspec's errors: credentials, missing bucket
        raise InvalidInputError(
            f"cannot read {url}: {type(exc).__name__}: {exc}; check the URL and the "
            "credentials (for S3: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a profile)"
        ) from None
    base = path.rstrip("/") + "/"
    found = [
        Found(name[len(base) :], name, int(info.get("size") or 0), 0, 0)
        for name, info in listing.items()
        if info.get("type") == "file" and name.startswith(base)
    ]
    if not found:
        raise InvalidInputError(f"no file or folder at {url}; check the URL")
    found.sort(key=lambda f: f.rel)
    return fs, found
