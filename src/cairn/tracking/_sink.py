"""The batched, asynchronous metric writer.

``cairn.log`` only appends to an in-memory buffer. A background thread writes what has
accumulated at least every ``flush_interval`` seconds (sooner when the buffer grows large, and
at once for the first point of each key):
one transaction per flush holding one packed chunk per (run, key) plus each key's latest
value. ``flush()`` writes synchronously (``end_run``, interpreter exit, exceptions). A failed
write keeps its points buffered and is retried; nothing is dropped, except a point no store
can hold (a step past int64), which is dropped alone, counted in ``dropped`` and logged.

The same thread sends the heartbeat of the runs this process is running (``watch``) every
``HEARTBEAT_S`` seconds, so a reader can tell a live run from a crashed one.
"""

from __future__ import annotations

import math
import threading
import time
from collections import defaultdict
from typing import Any

from cairn.core.checks import INT64_MAX, INT64_MIN
from cairn.core.errors import CairnError
from cairn.core.logging import logger
from cairn.core.threads import start_thread
from cairn.store.db import Database
from cairn.tracking import _queries
from cairn.tracking._codec import pack
from cairn.tracking._liveness import HEARTBEAT_S

# (run id, key, step, timestamp ms, value)
Point = tuple[int, str, int, int, float]
WAKE_AT = 50_000


def _storable(point: Point) -> bool:
    """Whether the store can hold ``point``: int64 step and timestamp, float64 value."""
    _, key, step, ts, value = point
    return (
        type(key) is str
        and type(step) is int
        and INT64_MIN <= step <= INT64_MAX
        and type(ts) is int
        and INT64_MIN <= ts <= INT64_MAX
        and type(value) is float
    )


class MetricSink:
    """Buffers metric points in memory and writes them in batches."""

    def __init__(self, db: Database | None, interval: float) -> None:
        self._db = db
        self._interval = interval
        self._buffer: list[Point] = []
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._key_ids: dict[str, int] = {}
        self._thread: threading.Thread | None = None
        self._watched: set[int] = set()
        self._last_beat = time.monotonic()
        self._seen: set[tuple[int, str]] = set()  # (run, key) pairs already logged
        self.dropped = 0  # points refused at write time (see _drop_unstorable)
        self.failures = 0  # background writes that failed and were retried
        self.last_error: str | None = None  # the latest failure or drop, for whoever asks

    def watch(self, run_id: int) -> None:
        """Send the heartbeat of ``run_id`` until ``unwatch``."""
        with self._lock:
            self._watched.add(run_id)
        if self._thread is None:
            self._start()

    def unwatch(self, run_id: int) -> None:
        """Stop the heartbeat of ``run_id`` (it has ended)."""
        with self._lock:
            self._watched.discard(run_id)
        self._seen = {pair for pair in self._seen if pair[0] != run_id}

    def add(self, points: list[Point]) -> None:
        """Queue points for writing."""
        seen = self._seen
        new_keys = {(p[0], p[1]) for p in points if (p[0], p[1]) not in seen}
        with self._lock:
            self._buffer.extend(points)
            size = len(self._buffer)
        if self._thread is None:
            self._start()
        if new_keys:
            # A key's first point is written at once (a script's first metric is on disk
            # within milliseconds, whatever the interval); the stream after it is batched.
            seen.update(new_keys)
            self._wake.set()
        elif size >= WAKE_AT:
            self._wake.set()

    def pending(self) -> int:
        """Number of points not yet written."""
        with self._lock:
            return len(self._buffer)

    def flush(self) -> None:
        """Write every buffered point now; raise if the store refuses them."""
        with self._write_lock:
            self._write_buffered()

    def close(self) -> None:
        """Stop the background thread after a final flush."""
        self._stop.set()
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=30)
        self.flush()

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._thread = start_thread(self._loop, "cairn-metric-sink")

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self._interval)
            self._wake.clear()
            try:
                with self._write_lock:
                    self._write_buffered()
                if time.monotonic() - self._last_beat >= HEARTBEAT_S:
                    self._beat()
            except CairnError as exc:
                self.failures += 1
                self.last_error = str(exc)
                logger.warning("could not write metrics yet (will retry): %s", exc)
                time.sleep(min(self._interval, 1.0))
            except Exception as exc:  # keep the writer alive; points stay buffered
                self.failures += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
                logger.exception("unexpected error while writing metrics (will retry)")
                time.sleep(min(self._interval, 1.0))

    def _beat(self) -> None:
        with self._lock:
            watched = sorted(self._watched)
        self._last_beat = time.monotonic()
        if watched:
            assert self._db is not None
            self._db.transact(lambda conn: _queries.beat(conn, watched))

    def _write_buffered(self) -> None:
        with self._lock:
            points, self._buffer = self._buffer, []
        if not points:
            return
        db = self._db
        assert db is not None
        try:
            created = db.transact(lambda conn: self._write(conn, points))
        except (OverflowError, TypeError, ValueError):
            # The calls refuse such points; should one get here anyway, it alone is dropped
            # (counted and reported), never the whole buffer with every later flush.
            kept = self._drop_unstorable(points)
            with self._lock:
                self._buffer[:0] = kept
            if len(kept) == len(points):
                raise
            self._write_buffered()
            return
        except BaseException:
            with self._lock:
                self._buffer[:0] = points  # keep order; retried on the next flush
            raise
        self._key_ids.update(created)  # only ids whose creation was committed

    def _drop_unstorable(self, points: list[Point]) -> list[Point]:
        """Return the points a store can hold; count and report the others."""
        kept = [point for point in points if _storable(point)]
        bad = [point for point in points if not _storable(point)]
        if bad:
            self.dropped += len(bad)
            _, key, step, _, value = bad[0]
            self.last_error = (
                f"dropped {len(bad)} metric point(s) that no store can hold, e.g. {key!r} = "
                f"{value!r:.40} at step {step!r:.40} (steps must fit int64, values float64)"
            )
            logger.error("%s; the other %d point(s) are kept", self.last_error, len(kept))
        return kept

    def _write(self, conn: Any, points: list[Point]) -> dict[str, int]:
        return write_points(conn, points, self._key_ids)


def write_points(conn: Any, points: list[Point], known: dict[str, int]) -> dict[str, int]:
    """Write points as one packed chunk per (run, key) and move each one's latest value;
    ``known`` maps key names to ids already created; return the ids created here."""
    missing = {p[1] for p in points} - known.keys()
    created = _queries.metric_key_ids(conn, missing) if missing else {}
    grouped: dict[tuple[int, int], tuple[list[int], list[int], list[float]]] = defaultdict(
        lambda: ([], [], [])
    )
    key_ids = {**known, **created}
    for run_id, key, step, ts, value in points:
        steps, stamps, values = grouped[(run_id, key_ids[key])]
        steps.append(step)
        stamps.append(ts)
        values.append(value)
    chunks = []
    latest = []
    for (run_id, key_id), (steps, stamps, values) in grouped.items():
        chunks.append(
            {
                "run_id": run_id,
                "key_id": key_id,
                "count": len(steps),
                "steps": pack("q", steps),
                "timestamps": pack("q", stamps),
                "values": pack("d", values),
            }
        )
        last = max(range(len(steps)), key=lambda i: (steps[i], stamps[i], i))
        value = values[last]
        latest.append(
            {
                "run_id": run_id,
                "key_id": key_id,
                "step": steps[last],
                "ts_ms": stamps[last],
                "value": None if math.isnan(value) else value,  # NaN is stored as NULL
            }
        )
    _queries.write_metric_chunks(conn, chunks, latest)
    return created
