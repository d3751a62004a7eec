"""Who is acting: the name recorded with runs, dataset versions and catalog edits."""

from __future__ import annotations

import getpass


def current_user() -> str | None:
    """The login name of this process's user, or None where it cannot be told."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None
