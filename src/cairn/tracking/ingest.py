"""Writes that arrive from cairn clients: what the server's routes for runs call.

Each function is one transaction over the same queries a local run makes, and each is
idempotent, because a client's offline spool may send a request again when an answer was
lost: a run is created once per id, a batch is applied once per key, ending an ended run
changes nothing, and an artifact path keeps its object. Every value is checked here as the
Python API checks it, so a client can send nothing a local run could not write.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from cairn.core.checks import INT64_MAX, INT64_MIN, check_name, check_optional_text, show
from cairn.core.errors import ArtifactNotFoundError, InvalidInputError, RunNotFoundError
from cairn.core.hashing import split_digest
from cairn.core.ids import now_ms
from cairn.store import Store
from cairn.store.db.schema import applied_batches, runs
from cairn.store.deletions import record_referencing, watermark
from cairn.tracking import _queries
from cairn.tracking._codec import (
    check_key,
    check_text,
    decode_param,
    encode_param,
    metric_value,
)
from cairn.tracking._sink import Point, write_points
from cairn.tracking.record import ArtifactEntry

MAX_NAME_LENGTH = 255  # runs.name, runs.user, runs.host
MAX_ARTIFACT_PATH = 1000  # run_artifacts.path
MAX_BATCH_KEY = 64  # applied_batches.key
MAX_PID = 2**31 - 1  # runs.pid is a 32-bit integer
STATUSES = ("finished", "failed", "killed")


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
    check_optional_text(user, "user", max_length=MAX_NAME_LENGTH)
    check_optional_text(host, "host", max_length=MAX_NAME_LENGTH)
    if pid is not None:
        _check_pid(pid)
    if parent is not None:
        _check_uid(parent)
    decoded = _params(params)
    checked_tags = _tags(tags)

    def create(conn: Any) -> int:
        found = conn.execute(select(runs.c.id).where(runs.c.uid == uid)).first()
        if found is not None:
            return int(found.id)  # sent again from a spool: already there
        parent_id = None
        if parent is not None:
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
    _check_int(run_id, "a run's database id")
    check_name(key, "batch key", max_length=MAX_BATCH_KEY)
    points: list[Point] = []
    for name, series in _items(metrics, "metrics"):
        check_key(name, "metric")
        steps, stamps, values = _columns(name, series)
        if not len(steps) == len(stamps) == len(values):
            raise InvalidInputError(
                f"metric {name!r:.80}: steps, ts and values must have one entry per point"
            )
        for step, ts, value in zip(steps, stamps, values, strict=True):
            _check_int(step, "a step")
            _check_int(ts, "a timestamp")
            points.append((run_id, name, step, ts, metric_value(name, value)))
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
    if status not in STATUSES:
        raise InvalidInputError(f"a run ends {', '.join(STATUSES)}, not {show(status)}")
    _check_int(run_id, "a run's database id")
    _check_int(end_ms, "end_ms")
    if error is not None:
        check_text(error, "error")
    store.db.transact(lambda conn: _queries.end_run(conn, run_id, status, end_ms, error))


def ingest_fail(store: Store, run_id: int, end_ms: int, error: str) -> None:
    """Mark a run failed even if its program ended it."""
    _check_int(run_id, "a run's database id")
    _check_int(end_ms, "end_ms")
    check_text(error, "error")
    store.db.transact(lambda conn: _queries.fail_run(conn, run_id, end_ms, error))


def ingest_claim(store: Store, run_id: int, host: str, pid: int) -> None:
    """Record the client process that runs a run."""
    _check_int(run_id, "a run's database id")
    check_name(host, "host", max_length=MAX_NAME_LENGTH)
    _check_pid(pid)
    store.db.transact(lambda conn: _queries.claim_run(conn, run_id, host, pid))


def ingest_heartbeat(store: Store, run_ids: Sequence[int]) -> None:
    """Record that the processes of these runs are alive."""
    if not isinstance(run_ids, (list, tuple)):
        raise InvalidInputError(f"run_ids must be a list of database ids, not {show(run_ids)}")
    for run_id in run_ids:
        _check_int(run_id, "a run's database id")
    if run_ids:
        store.db.transact(lambda conn: _queries.beat(conn, list(run_ids)))


def ingest_artifacts(store: Store, run_id: int, entries: Sequence[ArtifactEntry]) -> None:
    """Record uploaded objects as a run's artifacts; every object must be stored already."""
    _check_int(run_id, "a run's database id")
    if not isinstance(entries, (list, tuple)):
        raise InvalidInputError(f"entries must be a list of artifacts, not {show(entries)}")
    for entry in entries:
        _check_artifact(entry)
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


def _check_pid(pid: Any) -> int:
    if type(pid) is not int or not 0 <= pid <= MAX_PID:
        raise InvalidInputError(f"pid must be a process id (0 to {MAX_PID}), not {show(pid)}")
    return pid


def _check_artifact(entry: ArtifactEntry) -> None:
    """Refuse an entry a local run could not record: a path that is not relative and clean
    (``..``, ``/abs``, ``a//b``, a backslash), a malformed digest, a size that is no int64."""
    if not isinstance(entry, ArtifactEntry):
        raise InvalidInputError(f"an artifact to record is an ArtifactEntry, not {show(entry)}")
    path = check_name(entry.path, "artifact path", max_length=MAX_ARTIFACT_PATH)
    parts = path.split("/")
    if "\\" in path or any(part in ("", ".", "..") for part in parts):
        raise InvalidInputError(
            f"artifact path {show(path)} must be a relative path with '/' between its parts "
            "and no empty, '.' or '..' part"
        )
    if not isinstance(entry.digest, str):
        raise InvalidInputError(f"a digest is text, not {show(entry.digest)}")
    split_digest(entry.digest)
    if type(entry.size) is not int or not 0 <= entry.size <= INT64_MAX:
        raise InvalidInputError(f"an artifact's size is a byte count, not {show(entry.size)}")


def _items(value: Any, what: str) -> list[tuple[Any, Any]]:
    if not isinstance(value, Mapping):
        raise InvalidInputError(f"{what} must be a mapping of names, not {show(value)}")
    return list(value.items())


def _columns(name: str, series: Any) -> tuple[Sequence[Any], Sequence[Any], Sequence[Any]]:
    """The steps, timestamps and values of one metric's points (three lists)."""
    if (
        not isinstance(series, (list, tuple))
        or len(series) != 3
        or not all(isinstance(column, (list, tuple)) for column in series)
    ):
        raise InvalidInputError(
            f"metric {name!r:.80}: its points are three lists (steps, ts, values), not "
            f"{show(series)}"
        )
    return series[0], series[1], series[2]


def _params(params: Mapping[str, tuple[str, bool]]) -> dict[str, Any]:
    decoded = {}
    for key, pair in _items(params, "params"):
        check_key(key, "param")
        if not isinstance(pair, (list, tuple)) or len(pair) != 2 or type(pair[1]) is not bool:
            raise InvalidInputError(
                f"param {key!r:.80} travels as [text, is_json], not {show(pair)}"
            )
        text, is_json = pair
        check_text(text, "param value")
        try:
            value = decode_param(text, is_json)
        except (ValueError, RecursionError):  # malformed, or nested past what json reads
            raise InvalidInputError(f"param {key!r:.80} is not valid JSON") from None
        if isinstance(value, float) and math.isinf(value) and "Infinity" not in text:
            raise InvalidInputError(  # a number of thousands of digits read as infinity
                f"param {key!r:.80} is a number past float64; log a smaller one"
            )
        encode_param(value, key)  # refused as a local log_params refuses it (10**400)
        decoded[key] = value
    return decoded


def _tags(tags: Mapping[str, str]) -> dict[str, str]:
    for key, value in _items(tags, "tags"):
        check_key(key, "tag")
        check_text(value, "tag value")
    return dict(tags)
