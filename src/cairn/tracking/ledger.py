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
from cairn.tracking._codec import MAX_KEY_LENGTH, flatten, tag_values
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


@dataclass
class ChildSpec:
    """A child run to record: ``running``, or already ended as ``status``."""

    name: str
    params: Mapping[str, Any] | None = None
    tags: Mapping[str, Any] | None = None
    status: str = "running"
    error: str | None = None
    artifacts: Sequence[ArtifactEntry] = ()


@dataclass
class ChildEnd:
    """How a running child run ended."""

    child: ChildRun
    status: str
    error: str | None = None
    artifacts: Sequence[ArtifactEntry] = ()
    tags: Mapping[str, Any] | None = None


def _tag_values(tags: Mapping[str, Any] | None) -> dict[str, str]:
    check_tags(tags, key_length=MAX_KEY_LENGTH)
    return tag_values(tags or {})


def start_children(
    parent: Run,
    specs: Sequence[ChildSpec],
    *,
    also: Callable[[Connection, list[ChildRun]], object] | None = None,
) -> list[ChildRun]:
    """Record child runs of ``parent`` in one transaction (``also`` runs in it with the
    children made); the running ones get their heartbeat from the parent's process."""
    rows = []
    for spec in specs:
        if spec.status != "running" and spec.status not in ENDED:
            raise InvalidInputError(f"a child run starts as 'running' or ends as one of {ENDED}")
        rows.append((spec, flatten(dict(spec.params or {})), _tag_values(spec.tags), new_id()))
    start = now_ms()
    user = current_user()
    host, pid = this_host(), os.getpid()

    def create(conn: Connection) -> list[ChildRun]:
        experiment = _experiment_of(conn, parent._db_id)
        made = []
        for spec, flat, tagged, uid in rows:
            db_id = _queries.create_run(
                conn,
                {
                    "uid": uid,
                    "experiment_id": experiment,
                    "parent_id": parent._db_id,
                    "name": spec.name,
                    "status": spec.status,
                    "start_ms": start,
                    "end_ms": None if spec.status == "running" else start,
                    "error": spec.error,
                    "user": user,
                    "host": host,
                    "pid": pid,
                },
            )
            if flat:
                _queries.log_params(conn, db_id, flat)
            if tagged:
                _queries.set_tags(conn, db_id, tagged)
            if spec.artifacts:
                _queries.record_artifacts(conn, db_id, spec.artifacts, start)
            made.append(ChildRun(uid, db_id, spec.name))
        if also is not None:
            also(conn, made)
        return made

    children = parent._store.db.transact(create)
    for spec, child in zip(specs, children, strict=True):
        if spec.status == "running":
            parent._sink.watch(child.db_id)  # the coordinator's heartbeat keeps it "running"
    return children


def end_children(
    parent: Run,
    ends: Sequence[ChildEnd],
    *,
    since: int | None = None,
    restore: Callable[[set[str]], object] | None = None,
    also: Callable[[Connection], object] | None = None,
) -> None:
    """End running child runs in one transaction, recording their artifacts (objects stored
    after the deletions watermark ``since``; ``restore`` stores again those gc took
    meanwhile) and running ``also`` in the same transaction."""
    prepared = []
    for end in ends:
        if end.status not in ENDED:
            raise InvalidInputError(f"a child run ends as one of {ENDED}, not {end.status!r}")
        prepared.append((end, _tag_values(end.tags)))
    digests = [a.digest for end in ends for a in end.artifacts]

    def record(conn: Connection) -> None:
        now = now_ms()
        for end, tagged in prepared:
            if end.artifacts:
                _queries.record_artifacts(conn, end.child.db_id, end.artifacts, now)
            if tagged:
                _queries.set_tags(conn, end.child.db_id, tagged)
            _queries.end_run(conn, end.child.db_id, end.status, now, end.error)
        if also is not None:
            also(conn)

    try:
        if digests and since is not None:
            record_referencing(parent._store.db, digests, since, record, restore or _cannot_restore)
        else:
            parent._store.db.transact(record)
    finally:
        for end in ends:
            parent._sink.unwatch(end.child.db_id)


def _cannot_restore(gone: set[str]) -> None:
    raise InvalidInputError(
        f"gc deleted {len(gone)} object(s) of this step while it was being recorded; run it again"
    )


def _experiment_of(conn: Connection, run_db_id: int) -> int:
    return int(
        conn.execute(select(runs.c.experiment_id).where(runs.c.id == run_db_id)).scalar_one()
    )


__all__ = [
    "ENDED",
    "ChildEnd",
    "ChildRun",
    "ChildSpec",
    "end_children",
    "start_children",
]
