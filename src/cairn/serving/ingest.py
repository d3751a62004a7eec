"""Prediction-log files that arrive from ``cairn serve`` processes running as clients of a
cairn server: what the server's ``/prediction-logs`` route calls.

A file is uploaded first (by digest), then registered here: read back and checked as a sealed
log file (Parquet, with the log's columns and at least one row), its row count and time range
taken from the file itself, and listed in one transaction, once per digest (a registration
replayed from a client's spool lists nothing again). Monitoring and ``read_prediction_log``
then read it as they read a file a local server sealed.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select

from cairn.core.errors import ArtifactNotFoundError, InvalidInputError
from cairn.core.hashing import split_digest
from cairn.core.ids import now_ms
from cairn.serving._log_files import META, _check_model
from cairn.store import Store
from cairn.store.db.dialect import lock_key
from cairn.store.db.schema import prediction_log_files
from cairn.store.deletions import record_referencing, watermark

MAX_VERSION = 2**31 - 1  # prediction_log_files.version is an Integer
LOCK_CLASS = 74215  # the advisory locks of registrations of log files (PostgreSQL)


def ingest_log_file(store: Store, model: str, version: int | None, day: str, digest: str) -> bool:
    """List the uploaded Parquet file ``digest`` in ``model``'s prediction log; False when it
    is listed already."""
    _check_model(model)
    if version is not None and (type(version) is not int or not 1 <= version <= MAX_VERSION):
        raise InvalidInputError(f"a model version is a number from 1, not {version!r:.40}")
    _check_day(day)
    split_digest(digest)
    if not store.artifacts.exists(digest):
        raise ArtifactNotFoundError(
            f"the log file {digest} is not on the server; upload it first "
            "(PUT /api/v1/artifacts/{digest})"
        )
    rows, first, last = _summary(store.artifacts.read_bytes(digest), digest)
    table = prediction_log_files

    def record(conn: Any) -> bool:
        _one_at_a_time(conn, digest)
        seen = conn.execute(
            select(table.c.id).where(table.c.digest == digest, table.c.model == model)
        ).first()
        if seen is not None:
            return False  # sent again from a spool: listed already
        conn.execute(
            table.insert().values(
                model=model,
                version=version,
                day=day,
                digest=digest,
                rows=rows,
                first_ms=first,
                last_ms=last,
                created_ms=now_ms(),
            )
        )
        return True

    return record_referencing(store.db, [digest], watermark(store.db), record, _gone)


def _check_day(day: Any) -> None:
    try:
        date.fromisoformat(day)
        ok = isinstance(day, str) and len(day) == 10
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise InvalidInputError(f"day is a UTC date as YYYY-MM-DD, not {day!r:.40}")


def _summary(data: bytes, digest: str) -> tuple[int, int, int]:
    """(rows, first and last ``_ts`` in epoch ms) of a sealed log file, or a refusal saying
    why the object is not one."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(pa.BufferReader(data))
        names = set(parquet.schema_arrow.names)
        missing = [c for c in ("_prediction", *META) if c not in names]
        if missing:
            raise InvalidInputError(
                f"{digest} lacks the prediction log's column(s) {', '.join(missing)}; register "
                "only files cairn serve sealed"
            )
        stamps = parquet.read(columns=["_ts"]).column("_ts")
        if not pa.types.is_timestamp(stamps.type):
            raise InvalidInputError(f"{digest}: _ts must be a timestamp column, not {stamps.type}")
        span = pc.min_max(stamps.cast(pa.timestamp("ms", tz="UTC")).cast(pa.int64())).as_py()
    except (pa.ArrowException, OSError) as exc:
        raise InvalidInputError(f"{digest} is not a readable Parquet log file: {exc}") from None
    rows = parquet.metadata.num_rows
    if not rows or span["min"] is None:
        raise InvalidInputError(f"{digest} holds no timestamped row; there is nothing to list")
    return int(rows), int(span["min"]), int(span["max"])


def _one_at_a_time(conn: Any, digest: str) -> None:
    lock_key(conn, LOCK_CLASS, digest)


def _gone(digests: set[str]) -> None:
    raise ArtifactNotFoundError(
        f"{len(digests)} object(s) were removed by gc while being listed; upload them again"
    )
