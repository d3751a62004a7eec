"""Reading a served model's prediction log for monitoring: its sealed files in time order, and
each file's rows a row group at a time (memory bounded by one file's bytes and one row group).

A file's rows are cut into windows here too (``file_window_sketches``), so the same code
summarizes a file in the caller or on a Dask worker.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from cairn.store import ArtifactStore, Store
from cairn.store.db.schema import prediction_log_files

TS = "_ts"
FALLBACK = "_fallback"
HASHED_KEY = b"cairn.hashed"  # the schema metadata naming columns stored as keyed hashes
LIMIT = 100_000  # points a window's numeric summary keeps (CDF error <= 1e-5)


@dataclass(frozen=True)
class LogFile:
    """One sealed file of the prediction log."""

    digest: str
    version: int
    rows: int
    first_ms: int
    last_ms: int


def log_files(
    store: Store,
    model: str,
    versions: Sequence[int] | None,
    *,
    since_ms: int | None = None,
    until_ms: int | None = None,
) -> list[LogFile]:
    """The sealed files of ``model`` (of ``versions``; rows of no registered version are never
    monitored) that may hold rows in ``[since_ms, until_ms)``, oldest first."""
    t = prediction_log_files
    query = select(t.c.digest, t.c.version, t.c.rows, t.c.first_ms, t.c.last_ms).where(
        t.c.model == model, t.c.version.is_not(None)
    )
    if versions is not None:
        query = query.where(t.c.version.in_(list(versions)))
    if since_ms is not None:
        query = query.where(t.c.last_ms >= since_ms)
    if until_ms is not None:
        query = query.where(t.c.first_ms < until_ms)
    with store.db.read() as conn:
        rows = conn.execute(query.order_by(t.c.first_ms, t.c.id)).all()
    return [
        LogFile(r.digest, int(r.version), int(r.rows), int(r.first_ms), int(r.last_ms))
        for r in rows
    ]


def logged_versions(store: Store, model: str) -> list[int]:
    """The registered versions with rows in ``model``'s prediction log."""
    t = prediction_log_files
    query = select(t.c.version).where(t.c.model == model, t.c.version.is_not(None)).distinct()
    with store.db.read() as conn:
        return sorted(int(v) for v in conn.execute(query).scalars())


def has_log(store: Store, model: str) -> bool:
    """Whether ``model`` has any sealed prediction-log file."""
    t = prediction_log_files
    with store.db.read() as conn:
        return conn.execute(select(t.c.id).where(t.c.model == model).limit(1)).first() is not None


def file_batches(
    artifacts: ArtifactStore,
    digest: str,
    columns: Sequence[str] | None,
    *,
    since_ms: int | None = None,
    until_ms: int | None = None,
) -> Iterator[tuple[Any, Any]]:
    """(record batch of ``columns``, its rows' times as int64 ms) for each row group of one
    file, without the fallback's rows (they are not the version's answers) and rows outside
    ``[since_ms, until_ms)``. Columns the log keeps as keyed hashes are left out: a hash
    cannot be compared with the training values."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(pa.BufferReader(artifacts.read_bytes(digest)))
    schema = parquet.schema_arrow
    hashed = set(((schema.metadata or {}).get(HASHED_KEY) or b"").decode().split(","))
    present = [n for n in schema.names if n not in hashed]
    wanted = present if columns is None else [c for c in columns if c in present]
    read = list(dict.fromkeys([*wanted, TS, *([FALLBACK] if FALLBACK in present else [])]))
    for group in range(parquet.num_row_groups):
        table = parquet.read_row_group(group, columns=read)
        ts = pc.cast(table.column(TS), pa.timestamp("ms", tz="UTC")).cast(pa.int64())
        keep = pc.is_valid(ts)
        if FALLBACK in table.column_names:
            keep = pc.and_(keep, pc.invert(pc.fill_null(table.column(FALLBACK), False)))
        if since_ms is not None:
            keep = pc.and_(keep, pc.greater_equal(ts, pa.scalar(since_ms, pa.int64())))
        if until_ms is not None:
            keep = pc.and_(keep, pc.less(ts, pa.scalar(until_ms, pa.int64())))
        table = table.select(wanted).filter(keep)
        if not table.num_rows:
            continue
        times = ts.filter(keep).to_numpy()
        for batch in table.combine_chunks().to_batches():
            yield batch, times[: batch.num_rows]
            times = times[batch.num_rows :]


def split_by_time(batch: Any, times: Any, size_ms: int) -> Iterator[tuple[int, Any, Any]]:
    """(window start, the batch's rows in it, their times) for each time window ``batch``
    touches (windows of ``size_ms`` aligned to the epoch)."""
    import numpy as np
    import pyarrow as pa

    starts = times - times % size_ms
    if len(starts) and starts[0] == starts[-1] and (starts == starts[0]).all():
        yield int(starts[0]), batch, times  # the usual case: one window
        return
    for start in np.unique(starts):
        mask = starts == start
        yield int(start), batch.filter(pa.array(mask)), times[mask]


def file_window_sketches(
    artifacts: ArtifactStore,
    digest: str,
    size_ms: int,
    columns: Sequence[str] | None,
    since_ms: int | None = None,
    until_ms: int | None = None,
) -> dict[int, tuple[Any, int, int]]:
    """{window start: (its TableSketch, first row's ms, last row's ms)} of one file's rows."""
    from cairn.monitoring.sketch import sketch_batches

    out: dict[int, tuple[Any, int, int]] = {}
    for batch, times in file_batches(
        artifacts, digest, columns, since_ms=since_ms, until_ms=until_ms
    ):
        for start, part, ts in split_by_time(batch, times, size_ms):
            sketch = sketch_batches([part], columns, limit=LIMIT)
            first, last = int(ts.min()), int(ts.max())
            held = out.get(start)
            if held is not None:
                sketch = held[0].merge(sketch, LIMIT)
                first, last = min(first, held[1]), max(last, held[2])
            out[start] = (sketch, first, last)
    return out
