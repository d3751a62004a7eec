"""``cairn runs ls`` on the standard library.

Listing runs is the command people type most; the full path spends most of its start-up
importing SQLAlchemy and pydantic. When the store is a SQLite file (found as the settings would
find it), this module reads the same rows directly, read-only, with the same status rule as
``_liveness`` (a running run whose process is gone, or whose heartbeat is stale, reads
``crashed``). Anything else (another store, a filter or a sort, an unknown experiment, a
database it cannot read) returns None and the full path answers with its own errors. Its
answers are tested to equal ``find_runs``'s.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from typing import Any

from cairn.core.home import current_sqlite_file
from cairn.core.ids import now_ms
from cairn.tracking._codec import decode_param
from cairn.tracking.record import RunRecord

# The same constant as _liveness.STALE_MS (a test keeps them equal).
STALE_MS = 60_000

_CHOSEN = """
SELECT r.id FROM runs r JOIN experiments e ON e.id = r.experiment_id
WHERE (:deleted OR r.deleted_ms IS NULL) AND (:experiment IS NULL OR e.name = :experiment)
ORDER BY r.start_ms DESC, r.id DESC LIMIT :limit
"""
_RUNS = f"""
WITH chosen AS ({_CHOSEN})
SELECT r.id, r.uid, r.name, e.name, r.status, r.start_ms, r.end_ms, p.uid, r.user, r.error,
       r.deleted_ms, r.host, r.pid, r.heartbeat_ms
FROM runs r JOIN experiments e ON e.id = r.experiment_id LEFT JOIN runs p ON p.id = r.parent_id
WHERE r.id IN (SELECT id FROM chosen)
ORDER BY r.start_ms DESC, r.id DESC
"""
_PARAMS = f"""
WITH chosen AS ({_CHOSEN})
SELECT run_id, key, value, is_json FROM params WHERE run_id IN (SELECT id FROM chosen)
"""
_METRICS = f"""
WITH chosen AS ({_CHOSEN})
SELECT l.run_id, k.name, l.value FROM latest_metrics l JOIN metric_keys k ON k.id = l.key_id
WHERE l.run_id IN (SELECT id FROM chosen)
"""
_TAGS = f"""
WITH chosen AS ({_CHOSEN})
SELECT run_id, key, value FROM run_tags WHERE run_id IN (SELECT id FROM chosen)
"""
_EXPERIMENT = "SELECT 1 FROM experiments WHERE name = ?"


def find_runs_lean(
    experiment: str | None = None, limit: int | None = None, include_deleted: bool = False
) -> list[RunRecord] | None:
    """``find_runs(None, None, experiment, limit, include_deleted)`` read directly from the
    SQLite store, or None where the full path must answer."""
    if limit is not None and limit < 1:
        return None
    try:
        database = current_sqlite_file()
        if database is None or not database.is_file():
            return None
        conn = sqlite3.connect(f"file:{database.resolve()}?mode=ro", uri=True, timeout=5)
    except Exception:
        return None
    try:
        if experiment is not None and conn.execute(_EXPERIMENT, (experiment,)).fetchone() is None:
            return None  # the full path names the experiments there are
        bound = {"deleted": include_deleted, "experiment": experiment, "limit": limit or -1}
        return _records(conn, bound)
    except Exception:  # an older or newer schema, a locked or damaged file: ask the full path
        return None
    finally:
        conn.close()


def _records(conn: sqlite3.Connection, bound: dict[str, Any]) -> list[RunRecord]:
    run_params: dict[int, dict[str, Any]] = defaultdict(dict)
    for run_id, key, value, is_json in conn.execute(_PARAMS, bound):
        run_params[run_id][key] = decode_param(value, bool(is_json))
    nan = float("nan")
    run_metrics: dict[int, dict[str, float]] = defaultdict(dict)
    for run_id, name, value in conn.execute(_METRICS, bound):
        run_metrics[run_id][name] = nan if value is None else value
    tags: dict[int, dict[str, str]] = defaultdict(dict)
    for run_id, key, value in conn.execute(_TAGS, bound):
        tags[run_id][key] = value
    rows = conn.execute(_RUNS, bound).fetchall()
    stale_before = now_ms() - STALE_MS
    here = _this_host() if any(row[4] == "running" for row in rows) else ""
    records = []
    for db_id, uid, name, exp, stored, start, end, parent, user, error, deleted, *life in rows:
        host, pid, beat = life
        gone = stored == "running" and (
            (beat is not None and beat < stale_before)
            or (host == here and pid is not None and not process_is_alive(pid, beat))
        )
        status = "crashed" if gone else stored
        records.append(
            RunRecord(
                id=uid,
                name=name,
                experiment=exp,
                status=status,
                start_ms=start,
                end_ms=end,
                parent_id=parent,
                user=user,
                error=error,
                deleted=deleted is not None,
                params=dict(sorted(run_params[db_id].items())),
                tags=dict(sorted(tags[db_id].items())),
                metrics=dict(sorted(run_metrics[db_id].items())),
            )
        )
    return records


def _this_host() -> str:
    """The host name runs started here record (``_liveness.this_host``); socket is imported
    only when some run reads as running."""
    import socket

    return socket.gethostname()[:255]


def process_is_alive(pid: int, heartbeat_ms: int | None) -> bool:
    """Whether ``pid`` is still the run's process; ``heartbeat_ms`` on this host's clock
    (shared with ``_liveness``, which must not differ)."""
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
