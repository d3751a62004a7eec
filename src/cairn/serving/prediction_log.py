"""The prediction log: every row a server answers, with its prediction, durably.

The server hands each answered batch to ``PredictionLog.append`` (never blocking: a queue
bounded in batches and in rows; a full queue drops the batch and counts its rows, never
silently). One writer thread appends batches to an Arrow IPC spool file per (model, version,
day, schema) under ``<home>/spool/predictions`` and fsyncs it, so an answered batch survives a
crash of the server. Batches answered within ``group_s`` of each other are written and synced
together (group commit): each write and sync hands the interpreter lock back and forth with
the event loop, which under load cost more throughput than the writing itself.

A spool is sealed into a Parquet file in the artifact store (``_log_files``) when it holds
``rows_per_file`` rows, is ``seal_after_s`` old, at shutdown, and (for spools a crashed
server left) when the next log starts.

The writer cannot die silently: every failure (a write, a sync, a seal, retention) is
counted in ``failures``, retried, and named in ``problem`` (``/readyz`` answers 503 with it)
until a later attempt succeeds; rows given up after the retries are counted as dropped. The
writer loop itself is restarted if anything escapes it. ``close`` never waits longer than its
timeout, even with a full queue.

Columns: the model's input columns as given (less those ``redact`` drops; those it hashes as
keyed hashes), ``_prediction`` (and ``_proba_<class>``), ``_ts`` (UTC timestamp, ms),
``_request_id``, ``_version``, ``_fallback``.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from cairn.core.ids import now_ms
from cairn.core.logging import logger
from cairn.core.settings import get_settings
from cairn.core.threads import start_thread
from cairn.serving._log_files import (
    META,
    PurgeResult,
    lock_spool,
    purge_prediction_log,
    read_prediction_log,
    remove_rows,
    rows_before,
    seal_spool,
    spool_name,
)
from cairn.serving._log_privacy import Redaction, redaction_of
from cairn.serving._log_table import shape, to_table
from cairn.store import Store, get_store

__all__ = [
    "META",
    "LoggedBatch",
    "PredictionLog",
    "PurgeResult",
    "purge_prediction_log",
    "read_prediction_log",
]

MAX_OPEN_SPOOLS = 16  # beyond this, the least recently opened spool is sealed
RETRY_S = (0.05, 0.5, 2.0)  # pauses between the attempts at a failed write
RETENTION_EVERY_S = 3600.0  # how often retention runs while serving
SEAL_RETRY_S = 10.0  # how often a spool the store refused is offered again


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


_SpoolKey = tuple[str, int | None, str, bytes]  # model, version, day, schema


class PredictionLog:
    """The durable log of one server's predictions (see the module's docstring)."""

    def __init__(
        self,
        *,
        store: Store | None = None,
        spool_dir: Path | None = None,
        max_queue: int = 1024,
        max_queue_rows: int = 100_000,
        rows_per_file: int = 100_000,
        seal_after_s: float = 300.0,
        group_s: float = 0.05,
        redact: Mapping[str, str] | None = None,
        retention_s: float | None = None,
        models: Sequence[str] = (),
        on_dropped: Callable[[str, int], None] | None = None,
        retry_s: Sequence[float] = RETRY_S,
    ) -> None:
        self._store = store or get_store()
        self._spool_dir = spool_dir or get_settings().home_dir / "spool" / "predictions"
        # Bounded in rows too: 1,024 batches of 10,000-row requests would be gigabytes.
        self._queue: queue.Queue[LoggedBatch | None] = queue.Queue(maxsize=max_queue)
        self._max_queue_rows = max_queue_rows
        self._queued_rows = 0
        self._rows_per_file = rows_per_file
        self._seal_after_s = seal_after_s
        self._group_s = group_s
        self._redaction: Redaction = redaction_of(redact)
        self._retention_s = retention_s
        self._models = tuple(models)
        self._on_dropped = on_dropped
        self._retry_s = tuple(retry_s)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.dropped_rows = 0
        self.written_rows = 0
        self.failures = 0
        self.problem: str | None = None  # the last failure, until an attempt succeeds again
        self._spools: dict[_SpoolKey, _Spool] = {}
        self._unsealed: list[Path] = []  # closed spools the store refused: offered again
        self._next_seal_retry = 0.0
        self._thread: threading.Thread | None = None
        self._retention: threading.Thread | None = None

    def start(self) -> None:
        """Seal what a previous server left in the spool, then start the writer thread."""
        self._spool_dir.mkdir(parents=True, exist_ok=True)
        for path in sorted(self._spool_dir.glob("*.arrow")):
            self._recover(path)
        self._stopping.clear()
        self._thread = start_thread(self._run, "cairn-prediction-log")
        if self._retention_s is not None and self._models and self._store.remote is not None:
            logger.warning(  # rewriting sealed files needs the stores: the server's side
                "prediction log: retention is not applied by a client of a cairn server; run "
                "cairn serve log purge MODEL --older-than DURATION where the team's stores "
                "are configured (CAIRN_STORE), without CAIRN_SERVER"
            )
        elif self._retention_s is not None and self._models:
            # Its own thread: rewriting old files must never hold up the writer.
            self._retention = start_thread(self._keep_retention, "cairn-prediction-retention")

    def append(self, batch: LoggedBatch) -> bool:
        """Queue a batch for the log; False (and its rows counted as dropped) when full or
        closing."""
        rows = len(batch.rows)
        with self._lock:
            room = self._queued_rows + rows <= self._max_queue_rows or not self._queued_rows
            if room and not self._stopping.is_set():
                try:
                    self._queue.put_nowait(batch)
                except queue.Full:
                    pass
                else:
                    self._queued_rows += rows
                    return True
            self.dropped_rows += rows
        return False

    def pending(self) -> int:
        """Batches waiting for the writer."""
        return self._queue.qsize()

    @property
    def health(self) -> str | None:
        """Why the log is not healthy (a failure not yet recovered from, or a stopped
        writer), or None."""
        thread = self._thread
        if thread is not None and not thread.is_alive() and not self._stopping.is_set():
            return f"the prediction log's writer stopped ({self.problem or 'no reason known'})"
        if self.problem is not None:
            return (
                f"the prediction log is failing ({self.failures} failure(s), "
                f"{self.dropped_rows} row(s) dropped): {self.problem}"
            )
        return None

    def close(self, timeout: float = 30.0) -> None:
        """Write everything queued, seal every spool into the store, stop the writer; never
        longer than ``timeout`` seconds (what is still queued then is counted as dropped;
        unsealed spools stay on disk for the next start)."""
        thread, self._thread = self._thread, None
        self._stopping.set()
        if thread is None:
            return
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(None)  # wakes the writer; with a full queue it sees the flag
        thread.join(timeout)
        if self._retention is not None:
            self._retention.join(max(1.0, timeout / 10))
            self._retention = None
        if thread.is_alive():
            lost = self._drain_dropped()
            logger.error(
                "prediction log: the writer did not finish within %.0f s; %d queued row(s) "
                "dropped; unsealed spools in %s are sealed when the next server starts",
                timeout,
                lost,
                self._spool_dir,
            )

    # -- the writer thread -----------------------------------------------------------------

    def _run(self) -> None:
        """The writer loop, restarted after any failure that escapes it (counted)."""
        pause = 0.1
        while True:
            try:
                self._work()
                break
            except BaseException as exc:  # the writer must outlive any failure
                self._failed("the writer loop failed", exc)
                if self._stopping.is_set():
                    break
                time.sleep(pause)
                pause = min(pause * 2, 5.0)
        try:
            for key in list(self._spools):
                self._seal(key)
            self._retry_seals(force=True)
        except BaseException as exc:
            self._failed("sealing at shutdown failed", exc)

    def _work(self) -> None:
        while True:
            try:
                first = self._queue.get(timeout=1.0)
            except queue.Empty:
                if self._stopping.is_set():
                    return
                self._idle()
                continue
            if first is None:
                if self._stopping.is_set() and self._queue.empty():
                    return
                continue
            if self._group_s > 0:  # let the batches answered meanwhile join this write
                self._stopping.wait(self._group_s)  # (cut short by close)
            group = [first, *self._take_queued()]
            with self._lock:
                self._queued_rows -= sum(len(b.rows) for b in group)
            self._write_group(group)
            self._idle()

    def _idle(self) -> None:
        """Between writes: seal old spools, offer refused ones again."""
        try:
            self._seal_old()
            self._retry_seals()
        except Exception as exc:
            self._failed("housekeeping failed", exc)

    def _write_group(self, group: list[LoggedBatch]) -> None:
        """Append ``group`` (batches of the same model version, day and columns become one
        Arrow batch), then sync each spool written once; a failed write is retried on a new
        spool, and given up (rows counted as dropped) after the retries."""
        parts: dict[tuple[Any, ...], list[LoggedBatch]] = {}
        for batch in group:
            parts.setdefault(shape(batch), []).append(batch)
        written: list[_Spool] = []
        ok = True
        for batches in parts.values():
            spool = self._write_retried(batches)
            if spool is None:
                ok = False
            elif spool not in written:
                written.append(spool)
        for spool in written:
            if spool.sink.closed:  # sealed meanwhile (full, or too many open): already stored
                continue
            try:
                os.fsync(spool.sink.fileno())
            except (OSError, ValueError) as exc:
                # After a failed fsync the kernel may have dropped the dirty pages' error
                # state: retire the spool (sealing it reads what it holds into the store).
                self._failed(f"could not sync {spool.path.name}", exc)
                ok = False
                if self._spools.get(spool.key) is spool:
                    self._seal(spool.key)
        for spool in written:
            if spool.rows >= self._rows_per_file and self._spools.get(spool.key) is spool:
                self._seal(spool.key)
        if ok and not self._unsealed:
            self.problem = None

    def _write_retried(self, batches: list[LoggedBatch]) -> _Spool | None:
        for attempt in range(len(self._retry_s) + 1):
            try:
                return self._write(batches)
            except Exception as exc:
                self._failed(f"could not write {sum(len(b.rows) for b in batches)} row(s)", exc)
                if attempt == len(self._retry_s) or self._stopping.is_set():
                    break
                time.sleep(self._retry_s[attempt])
        self._dropped(batches)
        return None

    def _failed(self, what: str, exc: BaseException) -> None:
        with self._lock:
            self.failures += 1
        self.problem = f"{what}: {type(exc).__name__}: {exc}"
        logger.error("prediction log: %s", self.problem)

    def _dropped(self, batches: list[LoggedBatch]) -> None:
        with self._lock:
            self.dropped_rows += sum(len(b.rows) for b in batches)
        self._report_dropped(batches)

    def _report_dropped(self, batches: list[LoggedBatch]) -> None:
        if self._on_dropped is None:
            return
        for batch in batches:
            with contextlib.suppress(Exception):
                self._on_dropped(batch.model, len(batch.rows))

    def _take_queued(self) -> list[LoggedBatch]:
        """Every batch queued now, without waiting (the stop markers, None, left out)."""
        taken: list[LoggedBatch] = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return taken
            if item is not None:
                taken.append(item)

    def _drain_dropped(self) -> int:
        """Count what is still queued as dropped (the writer is gone)."""
        lost = self._take_queued()
        self._dropped(lost)
        return sum(len(b.rows) for b in lost)

    def _write(self, batches: list[LoggedBatch]) -> _Spool:
        """Append batches of one shape (see ``_log_table.shape``) to their spool, unsynced.

        Spools are keyed by schema too: a request with probabilities beside one without
        (two schemas for one model version) each go to their own open spool, rather than
        one sealing the other's spool between its write and its sync."""
        import pyarrow as pa

        first = batches[0]
        day = datetime.fromtimestamp(first.ts_ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d")
        table = to_table(batches, self._redaction)
        key = (first.model, first.version, day, table.schema.serialize().to_pybytes())
        spool = self._spools.get(key)
        if spool is None:
            if len(self._spools) >= MAX_OPEN_SPOOLS:
                self._seal(min(self._spools, key=lambda k: self._spools[k].opened))
            name = spool_name(first.model, first.version, day, uuid.uuid4().hex[:12])
            path = self._spool_dir / name
            sink = open(path, "wb")  # noqa: SIM115 (kept open across batches, closed on seal)
            try:
                lock_spool(sink.fileno())  # held while this server writes it: others leave it alone
                writer = pa.ipc.new_stream(sink, table.schema)
            except BaseException:
                sink.close()
                path.unlink(missing_ok=True)
                raise
            spool = _Spool(key, path, sink, writer, time.monotonic())
            self._spools[key] = spool
        try:
            spool.writer.write_table(table)
            spool.sink.flush()
        except BaseException:
            # The stream may hold part of this batch: retire the spool (sealing keeps the
            # whole batches before it; a torn last one is left out), retry on a new one.
            self._seal(key)
            raise
        spool.rows += table.num_rows
        with self._lock:
            self.written_rows += table.num_rows
        return spool

    def _seal_old(self) -> None:
        now = time.monotonic()
        for key, spool in list(self._spools.items()):
            if now - spool.opened > self._seal_after_s:
                self._seal(key)

    def _seal(self, key: _SpoolKey) -> None:
        """Close a spool and seal it into the store; if the store refuses, the spool stays
        on disk and is offered again (``_retry_seals``), and the next start would seal it."""
        spool = self._spools.pop(key)
        with contextlib.suppress(Exception):
            spool.writer.close()
        with contextlib.suppress(Exception):
            spool.sink.close()
        try:
            seal_spool(self._store, spool.path)
        except Exception as exc:
            self._failed(f"could not seal {spool.path.name} into the store", exc)
            self._unsealed.append(spool.path)

    def _retry_seals(self, *, force: bool = False) -> None:
        if not self._unsealed or (not force and time.monotonic() < self._next_seal_retry):
            return
        self._next_seal_retry = time.monotonic() + SEAL_RETRY_S
        for path in list(self._unsealed):
            try:
                seal_spool(self._store, path)
            except Exception as exc:
                self._failed(f"could not seal {path.name} into the store (will retry)", exc)
                continue
            self._unsealed.remove(path)
        if not self._unsealed:
            self.problem = None

    def _keep_retention(self) -> None:
        """Remove rows older than the retention now, then hourly (a minute after a failure,
        which is counted and surfaced like the writer's), until the log closes."""
        assert self._retention_s is not None
        while not self._stopping.is_set():
            pause = RETENTION_EVERY_S
            cutoff = now_ms() - int(self._retention_s * 1000)
            for model in self._models:
                try:
                    result = remove_rows(self._store, model, rows_before(cutoff), before_ms=cutoff)
                except Exception as exc:
                    self._failed(f"retention of {model}'s log failed (retried in a minute)", exc)
                    pause = 60.0
                    continue
                if result.rows:
                    logger.info(
                        "prediction log: retention removed %d row(s) of %s", result.rows, model
                    )
            if pause == RETENTION_EVERY_S and (self.problem or "").startswith("retention"):
                self.problem = None  # recovered
            self._stopping.wait(pause)

    def _recover(self, path: Path) -> None:
        """Seal a spool another server left, unless that server is still writing it (its
        lock is held: several workers share the spool folder)."""
        try:
            handle = open(path, "rb")  # noqa: SIM115 (closed below)
        except FileNotFoundError:
            return
        with handle:
            try:
                lock_spool(handle.fileno())
            except BlockingIOError:
                return  # a live writer
            try:
                seal_spool(self._store, path)
            except Exception as exc:  # kept on disk: the writer offers it again
                self._failed(f"could not seal {path.name} into the store", exc)
                self._unsealed.append(path)


@dataclass(eq=False)
class _Spool:
    key: _SpoolKey
    path: Path
    sink: Any
    writer: Any
    opened: float
    rows: int = 0
