"""The guard of commands that only read: they never create a project where there is none.

A project (``.cairn/`` with its database) is created on first use by the commands that record
something (``cairn data add``, ``cairn run``, ``cairn quickstart``, ``cairn validate profile``
and ``check``). A command that reads, or changes what exists, in a folder with no project says
so instead of leaving an empty ``.cairn/`` behind.
"""

from __future__ import annotations

from pathlib import Path

from cairn.core.errors import NotFoundError
from cairn.core.home import HOME_DIR, current_sqlite_locations


def require_project() -> None:
    """Raise NotFoundError when the settings name a local SQLite store that does not exist yet.

    Checked on the standard library only (no settings object, no SQLAlchemy); another store
    (PostgreSQL) exists independently of the working folder and is not checked here.
    """
    located = current_sqlite_locations()
    if located is None:
        return
    home, database = located
    if database.exists():
        return
    where = (
        f"no {HOME_DIR}/ in {Path.cwd()} or a folder above it"
        if home.name == HOME_DIR
        else f"{database} does not exist"
    )
    raise NotFoundError(
        f"no cairn project here: {where}, so there is nothing to show or change; run this "
        "in the project's folder (or set CAIRN_ROOT or CAIRN_HOME), or start a project by "
        "recording something: cairn data add PATH, cairn run -- COMMAND, or cairn quickstart"
    )
