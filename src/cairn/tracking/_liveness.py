"""Which "running" runs are really running: the status a reader can trust.

A run's process records its host and pid at start and sends a heartbeat every
``HEARTBEAT_S`` seconds (the metric writer's thread does it). A run still marked running
reads as ``crashed`` when its process is known to be gone (same host: the pid no longer
exists, or now belongs to a process started after the run's last heartbeat) or when its
heartbeat is older than ``STALE_MS`` (another host, or power loss). Nothing is written when a
run is read: the status is derived in the query (``run_status``), so a run whose process only
stalled reads as running again once its heartbeat resumes, and an ended run keeps the status
it ended with.
"""

from __future__ import annotations

import socket
from functools import cache
from typing import Any

from sqlalchemy import (
    BigInteger,
    BindParameter,
    ColumnElement,
    Connection,
    and_,
    bindparam,
    case,
    or_,
    select,
)

from cairn.core.ids import now_ms
from cairn.store.db.schema import runs

HEARTBEAT_S = 5.0
STALE_MS = 60_000
_DEAD = "cairn_dead_runs"
_STALE = "cairn_stale_before"


@cache
def this_host() -> str:
    """The host name recorded with runs started here."""
    return socket.gethostname()[:255]


def _dead_ids() -> BindParameter[list[int]]:
    return bindparam(_DEAD, value=[], expanding=True)


def _stale_before() -> BindParameter[int]:
    return bindparam(_STALE, value=0, type_=BigInteger())


def run_status() -> ColumnElement[str]:
    """``runs.status``, with ``crashed`` for running runs whose process is gone.

    A query using it must be executed with ``parameters(conn)``.
    """
    gone = and_(
        runs.c.status == "running",
        or_(runs.c.heartbeat_ms < _stale_before(), runs.c.id.in_(_dead_ids())),
    )
    return case((gone, "crashed"), else_=runs.c.status)


def parameters(conn: Connection) -> dict[str, Any]:
    """Execution parameters for ``run_status``: the dead runs of this host, the stale time."""
    rows = conn.execute(
        select(runs.c.id, runs.c.pid, runs.c.heartbeat_ms).where(
            runs.c.status == "running", runs.c.host == this_host()
        )
    ).all()
    dead = [run_id for run_id, pid, beat in rows if pid is not None and not _alive(pid, beat)]
    return {_DEAD: dead, _STALE: now_ms() - STALE_MS}


def _alive(pid: int, heartbeat_ms: int | None) -> bool:
    import psutil

    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        # A pid reused by a process started after the run's last sign of life is not the run's.
        return heartbeat_ms is None or process.create_time() * 1000 <= heartbeat_ms + 1000
    except psutil.NoSuchProcess:
        return False
    except psutil.Error:
        return True  # exists but cannot be inspected (another user's): assume alive
