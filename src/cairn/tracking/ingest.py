"""Writes that arrive from cairn clients: what the server's routes for runs call.

Each function is one transaction over the same queries a local run makes, and each is
idempotent, because a client's offline spool may send a request again when an answer was
lost: a run is created once per id, a batch is applied once per key, ending an ended run
changes nothing, and an artifact path keeps its object. Every value is checked here as the
Python API checks it, so a client can send nothing a local run could not write.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from cairn.core.checks import INT64_MAX, INT64_MIN, show
from cairn.core.errors import ArtifactNotFoundError, InvalidInputError, RunNotFoundError
from cairn.core.ids import now_ms
from cairn.store import Store
from cairn.store.db.schema import applied_batches, runs
from cairn.store.deletions import record_referencing, watermark
from cairn.tracking import _queries
from cairn.tracking._codec import check_key, check_text, decode_param
from cairn.tracking._sink import Point, write_points
from cairn.tracking.record import ArtifactEntry

MAX_NAME_LENGTH = 255


def run_owner(store: Store, uid: str) -> tuple[int, str | None]:
    """The database id and the user of the run ``uid`` (exactly; no prefixes for writes)."""
    _check_uid(uid)
    with store.db.read() as conn:
        row = conn.execute(select(runs.c.id, runs.c.user).where(runs.c.uid == uid)).first()
    if row is None:
        raise RunNotFoundError(f"no run with id {uid!r}; it must be created first")
    return int(row.id), row.user


def ingest_run(
    store: Store,
    *,
    uid: str,
    experiment: str,
    name: str,
    parent: str | None,
    start_ms: int,
    user: str | None,
    host: str | None,
    pid: int | None,
    params: Mapping[str, tuple[str, bool]],
    tags: Mapping[str, str],
) -> int:
    """Create a run made by a client (once per id); return its database id."""
    _check_uid(uid)
    for text, what in ((name, "run name"), (experiment, "experiment name")):
        check_text(text, what)
        if not text.strip() or len(text) > MAX_NAME_LENGTH:
            raise InvalidInputError(f"{what} must have 1 to {MAX_NAME_LENGTH} characters")
    _check_int(start_ms, "start_ms")
    decoded = _params(params)
    checked_tags = _tags(tags)

    def create(conn: Any) -> int:
        found = conn.execute(select(runs.c.id).where(runs.c.uid == uid)).first()
        if found is not None:
            return int(found.id)  # sent again from a spool: already there
        parent_id = None
        if parent is not None:
            _check_uid(parent)
            row = conn.execute(select(runs.c.id).where(runs.c.uid == parent)).first()
            if row is None:
                raise RunNotFoundError(f"the parent run {parent!r} does not exist")
            parent_id = int(row.id)
        exp_id = _queries.experiment_id(conn, experiment, start_ms)
        db_id = _queries.create_run(
            conn,
            {
                "uid": uid,
                "experiment_id": exp_id,
                "parent_id": parent_id,
                "name": name,
                "status": "running",
                "start_ms": start_ms,
                "user": user,
                "host": host,
                "pid": pid,
            },
        )
        if decoded:
            _queries.log_params(conn, db_id, decoded)
        if checked_tags:
            _queries.set_tags(conn, db_id, checked_tags)
        return db_id

    try:
        return store.db.transact(create)
    except IntegrityError:  # the same id created by a concurrent retry: it is there now
        return run_owner(store, uid)[0]


def ingest_batch(
    store: Store,
    run_id: int,
    key: str,
    metrics: Mapping[str, tuple[Sequence[int], Sequence[int], Sequence[float]]],
    params: Mapping[str, tuple[str, bool]],
    tags: Mapping[str, str],
) -> bool:
    """Apply a client's batch of points, params and tags once; False if already applied."""
    points: list[Point] = []
    for name, (steps, stamps, values) in metrics.items():
        check_key(name, "metric")
        if not len(steps) == len(stamps) == len(values):
            raise InvalidInputError(
                f"metric {name!r:.80}: steps, ts and values must have one entry per point"
            )
        for step, ts, value in zip(steps, stamps, values, strict=True):
            _check_int(step, "a step")
            _check_int(ts, "a timestamp")
            points.append((run_id, name, step, ts, float(value)))
    decoded = _params(params)
    checked_tags = _tags(tags)

    def apply(conn: Any) -> bool:
        seen = conn.execute(
            select(applied_batches.c.key).where(applied_batches.c.key == key)
        ).first()
        if seen is not None:
            return False
        conn.execute(insert(applied_batches).values(key=key, run_id=run_id, created_ms=now_ms()))
        if decoded:
            _queries.log_params(conn, run_id, decoded)
        if checked_tags:
            _queries.set_tags(conn, run_id, checked_tags)
        if points:
            write_points(conn, points, {})
        return True

    try:
        return store.db.transact(apply)
    except IntegrityError:  # a concurrent retry of the same batch won
        return False


def ingest_end(store: Store, run_id: int, status: str, end_ms: int, error: str | None) -> None:
    """End a run (an ended run stays as it ended)."""
    _check_int(end_ms, "end_ms")
    if error is not None:
        check_text(error, "error")
    store.db.transact(lambda conn: _queries.end_run(conn, run_id, status, end_ms, error))


def ingest_fail(store: Store, run_id: int, end_ms: int, error: str) -> None:
    """Mark a run failed even if its program ended it."""
    _check_int(end_ms, "end_ms")
    check_text(error, "error")
    store.db.transact(lambda conn: _queries.fail_run(conn, run_id, end_ms, error))


def ingest_claim(store: Store, run_id: int, host: str, pid: int) -> None:
    """Record the client process that runs a run."""
    check_text(host, "host")
    _check_int(pid, "pid")
    store.db.transact(lambda conn: _queries.claim_run(conn, run_id, host, pid))


def ingest_heartbeat(store: Store, run_ids: Sequence[int]) -> None:
    """Record that the processes of these runs are alive."""
    if run_ids:
        store.db.transact(lambda conn: _queries.beat(conn, list(run_ids)))


def ingest_artifacts(store: Store, run_id: int, entries: Sequence[ArtifactEntry]) -> None:
    """Record uploaded objects as a run's artifacts; every object must be stored already."""
    since = watermark(store.db)
    for entry in entries:
        if not store.artifacts.exists(entry.digest):
            raise ArtifactNotFoundError(
                f"the object {entry.digest} of {entry.path!r:.200} is not on the server; upload "
                "it first (PUT /api/v1/artifacts/{digest})"
            )

    def gone(digests: set[str]) -> None:
        raise ArtifactNotFoundError(
            f"{len(digests)} object(s) were removed by gc while being recorded; upload them again"
        )

    record_referencing(
        store.db,
        [e.digest for e in entries],
        since,
        lambda conn: _queries.record_artifacts(conn, run_id, list(entries), now_ms()),
        gone,
    )


def _check_uid(uid: Any) -> str:
    if not isinstance(uid, str) or not uid.isalnum() or not 1 <= len(uid) <= 26:
        raise InvalidInputError(f"{show(uid)} is not a run id (26 letters and digits)")
    return uid.lower()


def _check_int(value: Any, what: str) -> int:
    if type(value) is not int or not INT64_MIN <= value <= INT64_MAX:
        raise InvalidInputError(f"{what} must be a 64-bit integer, not {show(value)}")
    return value


def _params(params: Mapping[str, tuple[str, bool]]) -> dict[str, Any]:
    decoded = {}
    for key, (text, is_json) in params.items():
        check_key(key, "param")
        check_text(text, "param value")
        try:
            decoded[key] = decode_param(text, is_json)
        except ValueError:
            raise InvalidInputError(f"param {key!r:.80} is not valid JSON") from None
    return decoded


def _tags(tags: Mapping[str, str]) -> dict[str, str]:
    for key, value in tags.items():
        check_key(key, "tag")
        check_text(value, "tag value")
    return dict(tags)
