"""Child runs recorded by a coordinator for work done elsewhere: a pipeline's steps.

A pipeline run (a ``Run`` of this process) records one child run per step. The step itself
may run in another process or on another machine, so the coordinator writes the child's row
(no capture of code or machine: the pipeline run holds those), keeps its heartbeat while it
runs, and ends it with its outputs as artifacts. A step served from the cache, or skipped
because a step above it failed, is recorded already ended, as ``cached`` or ``skipped``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select

from cairn.core.checks import check_tags
from cairn.core.errors import InvalidInputError
from cairn.core.ids import new_id, now_ms
from cairn.core.user import current_user
from cairn.store.db.schema import runs
from cairn.store.deletions import record_referencing
from cairn.tracking import _queries
from cairn.tracking._codec import MAX_KEY_LENGTH, check_key, check_text, flatten
from cairn.tracking._liveness import this_host
from cairn.tracking.record import ArtifactEntry
from cairn.tracking.run import Run

#: How a child run can end, beside the statuses of any run.
ENDED = ("finished", "failed", "killed", "cached", "skipped")


@dataclass(frozen=True)
class ChildRun:
    """A child run a coordinator recorded: its public id and its row."""

    id: str
    db_id: int
    name: str


def start_child(
    parent: Run,
    name: str,
    *,
    params: Mapping[str, Any] | None = None,
    tags: Mapping[str, Any] | None = None,
    status: str = "running",
    error: str | None = None,
    artifacts: Sequence[ArtifactEntry] = (),
    start_ms: int | None = None,
) -> ChildRun:
    """Record a child run of ``parent``: ``running`` (end it with ``end_child``), or already
    ended as ``cached`` / ``skipped`` / ``failed`` with its artifacts."""
    if status != "running" and status not in ENDED:
        raise InvalidInputError(f"a child run starts as 'running' or ends as one of {ENDED}")
    check_tags(tags, key_length=MAX_KEY_LENGTH)
    flat = flatten(dict(params or {}))
    tag_values = {
        check_key(k, "tag"): check_text(str(v), "tag value") for k, v in (tags or {}).items()
    }
    uid = new_id()
    start = now_ms() if start_ms is None else start_ms
    store = parent._store

    def create(conn: Connection) -> int:
        db_id = _queries.create_run(
            conn,
            {
                "uid": uid,
                "experiment_id": _experiment_of(conn, parent._db_id),
                "parent_id": parent._db_id,
                "name": name,
                "status": status,
                "start_ms": start,
                "end_ms": None if status == "running" else now_ms(),
                "error": error,
                "user": current_user(),
                "host": this_host(),
                "pid": os.getpid(),
            },
        )
        if flat:
            _queries.log_params(conn, db_id, flat)
        if tag_values:
            _queries.set_tags(conn, db_id, tag_values)
        if artifacts:
            _queries.record_artifacts(conn, db_id, artifacts, now_ms())
        return db_id

    db_id = store.db.transact(create)
    if status == "running":
        parent._sink.watch(db_id)  # the coordinator's heartbeat keeps it "running"
    return ChildRun(uid, db_id, name)


def end_child(
    parent: Run,
    child: ChildRun,
    status: str,
    *,
    error: str | None = None,
    artifacts: Sequence[ArtifactEntry] = (),
    since: int | None = None,
    restore: Callable[[set[str]], object] | None = None,
    tags: Mapping[str, Any] | None = None,
    also: Callable[[Connection], object] | None = None,
) -> None:
    """End a running child run as ``status``, recording ``artifacts`` (objects stored after
    the deletions watermark ``since``; ``restore`` stores again those gc took meanwhile) and
    running ``also`` in the same transaction."""
    if status not in ENDED:
        raise InvalidInputError(f"a child run ends as one of {ENDED}, not {status!r}")
    tag_values = {
        check_key(k, "tag"): check_text(str(v), "tag value") for k, v in (tags or {}).items()
    }
    store = parent._store

    def record(conn: Connection) -> None:
        if artifacts:
            _queries.record_artifacts(conn, child.db_id, artifacts, now_ms())
        if tag_values:
            _queries.set_tags(conn, child.db_id, tag_values)
        if also is not None:
            also(conn)
        _queries.end_run(conn, child.db_id, status, now_ms(), error)

    try:
        if artifacts and since is not None:
            record_referencing(
                store.db, [a.digest for a in artifacts], since, record, restore or _cannot_restore
            )
        else:
            store.db.transact(record)
    finally:
        parent._sink.unwatch(child.db_id)


def _cannot_restore(gone: set[str]) -> None:
    raise InvalidInputError(
        f"gc deleted {len(gone)} object(s) of this step while it was being recorded; run it again"
    )


def _experiment_of(conn: Connection, run_db_id: int) -> int:
    return int(
        conn.execute(select(runs.c.experiment_id).where(runs.c.id == run_db_id)).scalar_one()
    )


def run_db_id(parent: Run) -> int:
    """The row id of ``parent`` (for the coordinator's own tables)."""
    return parent._db_id


__all__ = ["ENDED", "ChildRun", "end_child", "run_db_id", "start_child"]
