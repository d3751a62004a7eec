"""The one rule for symbolic links met inside a folder cairn stores (decision 0011).

A link to a regular file inside the folder is read as that file; a link that leaves the
folder, dangles, loops, or names a folder is refused with what to do, so nothing outside what
the user chose (a key in ``~/.ssh``, say) is ever stored.
"""

from __future__ import annotations

import os
import stat

from cairn.core.errors import InvalidInputError


def followed_link(link: str, root: str) -> tuple[str, os.stat_result]:
    """The real path and status of the regular file that ``link`` (found under the folder
    ``root``) points to; ``InvalidInputError`` when the rule refuses it."""
    base = os.path.realpath(root)
    target = os.path.realpath(link)
    try:
        info = os.stat(target)
    except OSError as exc:
        pointed = os.readlink(link) if os.path.islink(link) else target
        raise InvalidInputError(
            f"{link} is a symbolic link to {pointed}, which cannot be read "
            f"({exc.strerror or exc}); remove the link or restore what it points to"
        ) from None
    if os.path.commonpath([base, target]) != base:
        raise InvalidInputError(
            f"{link} is a symbolic link to {target}, outside {base}; cairn stores only files "
            "inside the folder it is given and never follows a link out of it. Copy the file "
            "into the folder, or remove the link"
        )
    if stat.S_ISDIR(info.st_mode):
        raise InvalidInputError(
            f"{link} is a symbolic link to the folder {target}; cairn does not follow links to "
            "folders (their files would be stored twice, or without end). Remove the link, or "
            "replace it with a copy of the folder"
        )
    if not stat.S_ISREG(info.st_mode):
        raise InvalidInputError(
            f"{link} is a symbolic link to {target}, which is not a regular file; remove the link"
        )
    return target, info
