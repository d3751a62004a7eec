"""The prediction log: every row a server answers, with its prediction, durably.

The server hands each answered batch to ``PredictionLog.append`` (never blocking: a bounded
queue; a full queue drops the batch and counts its rows, never silently). One writer thread
appends batches to an Arrow IPC spool file per (model, version, day) under
``<home>/spool/predictions`` and fsyncs it, so an answered batch survives a crash of the
server. Batches answered within ``group_s`` of each other are written and synced together
(group commit): each write and sync hands the interpreter lock back and forth with the event
loop, which under load cost more throughput than the writing itself.

A spool is sealed into a Parquet file in the artifact store, listed in
``prediction_log_files``, when it holds ``rows_per_file`` rows, is ``seal_after_s`` old, at
shutdown, and (for spools a crashed server left) when the next log starts.

Columns: the model's input columns as given, ``_prediction`` (and ``_proba_<class>``),
``_ts`` (UTC timestamp, ms), ``_request_id``, ``_version``, ``_fallback``.
"""

from __future__ import annotations

import contextlib
import os
import queue
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from cairn.core.errors import InvalidInputError
from cairn.core.ids import now_ms
from cairn.core.logging import logger
from cairn.core.settings import get_settings
from cairn.core.threads import start_thread
from cairn.store import Store, get_store
from cairn.store.db.schema import prediction_log_files

META = ("_ts", "_request_id", "_version", "_fallback")
ROW_GROUP_ROWS = 32_768  # rows per Parquet row group when a spool is sealed


@dataclass
class LoggedBatch:
    """What one answered batch adds to the log."""

    model: str
    version: int | None
    rows: list[dict[str, Any]]
    predictions: list[Any]
    request_ids: list[str]  # one per row
    fallback: list[bool]  # one per row
    ts_ms: int = field(default_factory=now_ms)
    probabilities: dict[str, list[float]] | None = None
    dtypes: dict[str, str] | None = None  # the input columns' dtypes (the signature's), if known


class PredictionLog:
    """The durable log of one server's predictions (see the module's docstring)."""

    def __init__(
        self,
        *,
        store: Store | None = None,
        spool_dir: Path | None = None,
        max_queue: int = 1024,
        rows_per_file: int = 100_000,
        seal_after_s: float = 300.0,
        group_s: float = 0.05,
    ) -> None:
        self._store = store or get_store()
        self._spool_dir = spool_dir or get_settings().home_dir / "spool" / "predictions"
        self._queue: queue.Queue[LoggedBatch | None] = queue.Queue(maxsize=max_queue)
        self._rows_per_file = rows_per_file
        self._seal_after_s = seal_after_s
        self._group_s = group_s
        self._lock = threading.Lock()
        self.dropped_rows = 0
        self.written_rows = 0
        self._spools: dict[tuple[str, int | None, str], _Spool] = {}
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Seal what a previous server left in the spool, then start the writer thread."""
        self._spool_dir.mkdir(parents=True, exist_ok=True)
        for path in sorted(self._spool_dir.glob("*.arrow")):
            self._recover(path)
        self._thread = start_thread(self._run, "cairn-prediction-log")

    def append(self, batch: LoggedBatch) -> bool:
        """Queue a batch for the log; False (and its rows counted as dropped) when full."""
        try:
            self._queue.put_nowait(batch)
            return True
        except queue.Full:
            with self._lock:
                self.dropped_rows += len(batch.rows)
            return False

    def pending(self) -> int:
        """Batches waiting for the writer."""
        return self._queue.qsize()

    def close(self, timeout: float = 30.0) -> None:
        """Write everything queued, seal every spool into the store, stop the writer."""
        if self._thread is None:
            return
        self._queue.put(None)
        self._thread.join(timeout)
        self._thread = None

    # -- the writer thread -----------------------------------------------------------------

    def _run(self) -> None:
        stop = False
        while not stop:
            try:
                first = self._queue.get(timeout=1.0)
            except queue.Empty:
                self._seal_old()
                continue
            if first is None:
                break
            if self._group_s > 0:
                time.sleep(self._group_s)  # let the batches answered meanwhile join this write
            group = [first]
            while True:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                group.append(item)
            self._write_group(group)
        for key in list(self._spools):
            self._seal(key)

    def _write_group(self, group: list[LoggedBatch]) -> None:
        """Append ``group`` (batches of the same model version, day and columns become one
        Arrow batch), then sync each spool written once."""
        parts: dict[tuple[Any, ...], list[LoggedBatch]] = {}
        for batch in group:
            parts.setdefault(_shape(batch), []).append(batch)
        written: list[_Spool] = []
        for batches in parts.values():
            try:
                spool = self._write(batches)
            except Exception as exc:  # the log must never take the server down
                self._dropped(batches, exc)
                continue
            if spool not in written:
                written.append(spool)
        for spool in written:
            try:
                os.fsync(spool.sink.fileno())
            except OSError as exc:
                logger.error("prediction log: could not sync %s: %s", spool.path.name, exc)
        for spool in written:
            if spool.rows >= self._rows_per_file and self._spools.get(spool.key) is spool:
                self._seal(spool.key)

    def _dropped(self, batches: list[LoggedBatch], exc: Exception) -> None:
        with self._lock:
            self.dropped_rows += sum(len(b.rows) for b in batches)
        logger.error("prediction log: could not write a batch: %s", exc)

    def _write(self, batches: list[LoggedBatch]) -> _Spool:
        """Append batches of one shape (see ``_shape``) to their spool, unsynced."""
        import pyarrow as pa

        first = batches[0]
        day = datetime.fromtimestamp(first.ts_ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d")
        key = (first.model, first.version, day)
        table = _to_table(batches)
        spool = self._spools.get(key)
        if spool is not None and not spool.schema.equals(table.schema):
            self._seal(key)  # another input schema (e.g. new columns): a new file
            spool = None
        if spool is None:
            name = f"{_safe(first.model)}~{first.version or 0}~{day}~{uuid.uuid4().hex[:12]}.arrow"
            path = self._spool_dir / name
            sink = open(path, "wb")  # noqa: SIM115 (kept open across batches, closed on seal)
            _lock(sink.fileno())  # held while this server writes it: others leave it alone
            writer = pa.ipc.new_stream(sink, table.schema)
            spool = _Spool(key, path, sink, writer, table.schema, time.monotonic())
            self._spools[key] = spool
        spool.writer.write_table(table)
        spool.sink.flush()
        spool.rows += table.num_rows
        with self._lock:
            self.written_rows += table.num_rows
        return spool

    def _seal_old(self) -> None:
        now = time.monotonic()
        for key, spool in list(self._spools.items()):
            if now - spool.opened > self._seal_after_s:
                self._seal(key)

    def _seal(self, key: tuple[str, int | None, str]) -> None:
        spool = self._spools.pop(key)
        with contextlib.suppress(Exception):
            spool.writer.close()
        spool.sink.close()
        self._seal_file(spool.path)

    def _recover(self, path: Path) -> None:
        """Seal a spool another server left, unless that server is still writing it (its
        lock is held: several workers share the spool folder)."""
        try:
            handle = open(path, "rb")  # noqa: SIM115 (closed below)
        except FileNotFoundError:
            return
        with handle:
            try:
                _lock(handle.fileno())
            except BlockingIOError:
                return  # a live writer
            self._seal_file(path)

    def _seal_file(self, path: Path) -> None:
        """Turn a spool into a Parquet object listed in the store; remove the spool.

        Streamed, a row group at a time (``ROW_GROUP_ROWS``): a whole spool in memory would
        grow the server by tens of MB each time one is sealed."""
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        model, version, day = _parse_name(path.name)
        rows, first, last = 0, None, None
        try:
            source = pa.OSFile(str(path), "rb")
        except (pa.ArrowInvalid, OSError):
            return
        with source, tempfile.TemporaryDirectory(prefix="cairn-log-") as scratch:
            try:
                reader = pa.ipc.open_stream(source)
            except (pa.ArrowInvalid, OSError):
                source.close()
                path.unlink(missing_ok=True)  # not even a schema was written: nothing to keep
                return
            parquet = Path(scratch) / "log.parquet"
            with pq.ParquetWriter(parquet, reader.schema, compression="zstd") as writer:
                group: list[Any] = []
                held = 0
                with contextlib.suppress(pa.ArrowInvalid, OSError):  # a torn last batch
                    for batch in reader:
                        if not batch.num_rows:
                            continue
                        stamps = pc.min_max(batch.column("_ts").cast(pa.int64())).as_py()
                        first = stamps["min"] if first is None else min(first, stamps["min"])
                        last = stamps["max"] if last is None else max(last, stamps["max"])
                        group.append(batch)
                        held += batch.num_rows
                        if held >= ROW_GROUP_ROWS:
                            writer.write_table(pa.Table.from_batches(group, reader.schema))
                            rows, group, held = rows + held, [], 0
                if group:
                    writer.write_table(pa.Table.from_batches(group, reader.schema))
                    rows += held
            if rows:
                stored = self._store.artifacts.put_file(parquet)
                self._store.db.transact(
                    lambda conn: conn.execute(
                        prediction_log_files.insert().values(
                            model=model,
                            version=version,
                            day=day,
                            digest=stored.digest,
                            rows=rows,
                            first_ms=first,
                            last_ms=last,
                            created_ms=now_ms(),
                        )
                    )
                )
        path.unlink(missing_ok=True)


@dataclass(eq=False)
class _Spool:
    key: tuple[str, int | None, str]
    path: Path
    sink: Any
    writer: Any
    schema: Any
    opened: float
    rows: int = 0


def _lock(fd: int) -> None:
    """Take an exclusive lock on an open spool, without waiting (released when closed, or
    when the process dies)."""
    import fcntl

    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def _shape(batch: LoggedBatch) -> tuple[Any, ...]:
    """What batches must share to become one Arrow batch: spool and columns."""
    day = datetime.fromtimestamp(batch.ts_ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d")
    columns = tuple(batch.dtypes.items()) if batch.dtypes else None
    probabilities = tuple(batch.probabilities) if batch.probabilities is not None else None
    return batch.model, batch.version, day, columns, probabilities


def _to_table(batches: list[LoggedBatch]) -> Any:
    """Batches of one shape as one Arrow table, built column by column (no pandas: this runs
    beside the event loop, and every millisecond holding the interpreter delays requests)."""
    import pyarrow as pa

    first = batches[0]
    rows = [row for b in batches for row in b.rows] if len(batches) > 1 else first.rows
    names = list(first.dtypes) if first.dtypes else _names(rows)
    columns: dict[str, Any] = {}
    for name in names:
        values = [row.get(name) for row in rows]
        columns[name] = _column(values, (first.dtypes or {}).get(name))
    columns["_prediction"] = _column([p for b in batches for p in b.predictions], None)
    for label in first.probabilities or {}:
        values = [v for b in batches for v in (b.probabilities or {})[label]]
        columns[f"_proba_{label}"] = pa.array(values, pa.float64())
    columns["_ts"] = pa.array(
        [b.ts_ms for b in batches for _ in b.rows], pa.timestamp("ms", tz="UTC")
    )
    columns["_request_id"] = pa.array([r for b in batches for r in b.request_ids], pa.string())
    columns["_version"] = pa.array([b.version for b in batches for _ in b.rows], pa.int64())
    columns["_fallback"] = pa.array([f for b in batches for f in b.fallback], pa.bool_())
    return pa.table(columns)


def _names(rows: list[dict[str, Any]]) -> list[str]:
    seen: dict[str, None] = {}
    for row in rows:
        seen.update(dict.fromkeys(row))
    return list(seen)


def _column(values: list[Any], dtype: str | None) -> Any:
    """An Arrow array of ``values``, typed by the signature's dtype where there is one (so
    every batch of a spool has the same schema), else as Arrow infers it."""
    import pyarrow as pa

    if dtype is not None:
        import numpy as np

        try:
            kind = np.dtype(dtype).kind
        except TypeError:
            kind = "O"
        if kind == "f":
            return pa.array(values, pa.float64())
        if kind in "iu":
            return pa.array([None if v is None else int(v) for v in values], pa.int64())
        if kind == "b":
            return pa.array(values, pa.bool_())
        if kind == "O":
            return pa.array([None if v is None else str(v) for v in values], pa.string())
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed values: kept as text
        return pa.array([None if v is None else str(v) for v in values], pa.string())


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def _parse_name(name: str) -> tuple[str, int | None, str]:
    model, version, day, _ = name.removesuffix(".arrow").split("~")
    return model, (int(version) or None), day


def read_prediction_log(
    model: str, since: datetime | int | None = None, until: datetime | int | None = None
) -> Any:
    """The logged predictions of ``model`` (the name it was served under) between ``since``
    and ``until`` (datetimes, or epoch milliseconds), oldest first, as a pandas DataFrame.

    Rows still in a running server's spool (at most ``seal_after_s`` old) are not included.
    """
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq
    from sqlalchemy import select

    low, high = _ms(since), _ms(until)
    store = get_store()
    query = select(prediction_log_files.c.digest).where(prediction_log_files.c.model == model)
    if low is not None:
        query = query.where(prediction_log_files.c.last_ms >= low)
    if high is not None:
        query = query.where(prediction_log_files.c.first_ms <= high)
    with store.db.read() as conn:
        digests = list(conn.execute(query.order_by(prediction_log_files.c.first_ms)).scalars())
    frames = []
    for digest in digests:
        table = pq.read_table(pa.BufferReader(store.artifacts.read_bytes(digest)))
        frame = table.to_pandas()
        keep = pd.Series(True, index=frame.index)
        if low is not None:
            keep &= frame["_ts"] >= pd.Timestamp(low, unit="ms", tz="UTC")
        if high is not None:
            keep &= frame["_ts"] <= pd.Timestamp(high, unit="ms", tz="UTC")
        frames.append(frame[keep])
    if not frames:
        return pd.DataFrame(columns=["_prediction", *META])
    out = pd.concat(frames, ignore_index=True)
    return out.sort_values("_ts", kind="stable").reset_index(drop=True)


def _ms(value: datetime | int | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise InvalidInputError(
                f"{value!r} has no time zone; pass an aware datetime (e.g. tz=timezone.utc)"
            )
        return int(value.timestamp() * 1000)
    if isinstance(value, int):
        return value
    raise InvalidInputError(f"since/until take a datetime or epoch milliseconds, not {value!r}")
