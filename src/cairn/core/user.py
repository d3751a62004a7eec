"""Who is acting: the name recorded with runs, dataset versions and catalog edits.

In a process that acts for others (``cairn server``), ``acting_as`` names the user a request
came from, for the duration of that request's work; everything recorded meanwhile carries it.
"""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_acting: ContextVar[str | None] = ContextVar("cairn_acting_user", default=None)


def current_user() -> str | None:
    """The user being served (``acting_as``), else this process's login name, or None where
    it cannot be told."""
    acting = _acting.get()
    if acting is not None:
        return acting
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None


@contextmanager
def acting_as(user: str) -> Iterator[None]:
    """Record ``user`` as the actor of whatever this context does."""
    token = _acting.set(user)
    try:
        yield
    finally:
        _acting.reset(token)
