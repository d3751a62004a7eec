"""Which "running" runs are really running: the status a reader can trust.

A run's process records its host and pid at start and sends a heartbeat every
``HEARTBEAT_S`` seconds (the metric writer's thread does it). A run still marked running
reads as ``crashed`` when its process is known to be gone (same host: the pid no longer
exists, or now belongs to a process started after the run's last heartbeat) or when its
heartbeat is older than ``STALE_MS`` (another host, or power loss). Nothing is written when a
run is read: the status is derived in the query (``run_status``), so a run whose process only
stalled reads as running again once its heartbeat resumes, and an ended run keeps the status
it ended with.

Heartbeats are written and judged on one clock, the database's (``database_now_ms``): a
writer's or reader's clock set minutes off (another host of a team store) must not make a live
run read as crashed, nor a dead one as running.
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
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from cairn.core.ids import now_ms
from cairn.store.db.schema import runs
from cairn.tracking._lean import process_is_alive as _alive

HEARTBEAT_S = 5.0
STALE_MS = 60_000
_DEAD = "cairn_dead_runs"
_SKEW = "cairn_clock_skew_ms"


@cache
def this_host() -> str:
    """The host name recorded with runs started here."""
    return socket.gethostname()[:255]


class _DatabaseNowMs(FunctionElement[int]):
    """The database's clock in milliseconds since the epoch, read when the statement runs."""

    type = BigInteger()
    inherit_cache = True


@compiles(_DatabaseNowMs)
def _sqlite_now_ms(element: _DatabaseNowMs, compiler: SQLCompiler, **kw: Any) -> str:
    # julianday counts days since noon, 24 November 4714 BC; 2440587.5 of them is the epoch.
    return "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)"


@compiles(_DatabaseNowMs, "postgresql")
def _postgresql_now_ms(element: _DatabaseNowMs, compiler: SQLCompiler, **kw: Any) -> str:
    return "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)"


def database_now_ms() -> ColumnElement[int]:
    """The database's clock (epoch milliseconds) as an SQL expression: what heartbeats are
    written with and judged by."""
    return _DatabaseNowMs()


def _dead_ids() -> BindParameter[list[int]]:
    return bindparam(_DEAD, value=[], expanding=True)


def run_status() -> ColumnElement[str]:
    """``runs.status``, with ``crashed`` for running runs whose process is gone.

    A query using it must be executed with ``parameters(conn)``.
    """
    stale = runs.c.heartbeat_ms < database_now_ms() - STALE_MS
    gone = and_(runs.c.status == "running", or_(stale, runs.c.id.in_(_dead_ids())))
    return case((gone, "crashed"), else_=runs.c.status)


def parameters(conn: Connection) -> dict[str, Any]:
    """Execution parameters for ``run_status``: the runs of this host whose process is gone."""
    rows = conn.execute(
        select(runs.c.id, runs.c.pid, runs.c.heartbeat_ms, database_now_ms()).where(
            runs.c.status == "running", runs.c.host == this_host()
        )
    ).all()
    if not rows:
        return {_DEAD: []}
    # Heartbeats are on the database's clock and process start times on this host's.
    skew = int(rows[0][3]) - now_ms()
    dead = [
        run_id
        for run_id, pid, beat, _ in rows
        if pid is not None and not _alive(pid, None if beat is None else beat - skew)
    ]
    return {_DEAD: dead}
