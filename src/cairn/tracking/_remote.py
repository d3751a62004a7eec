"""Runs in client mode: the same writes as ``LocalWriter``, sent to a cairn server.

Every write goes through the session's outbox (in order; spooled on disk while the server is
unreachable), so a training never fails or waits because the server is down. Metric points
are buffered as locally and sent as one batch per run and flush, each with a key of its own
so that a batch replayed from the spool is written once. Reads (a run, a search) ask the
server and fail with a clear error when it cannot be reached.
"""

from __future__ import annotations

import itertools
import secrets
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from cairn.core.errors import CairnError, RunNotFoundError, ServerUnavailableError
from cairn.core.logging import logger
from cairn.core.settings import get_settings
from cairn.store import Store
from cairn.store.remote import RemoteSession
from cairn.tracking._codec import encode_param
from cairn.tracking._sink import MetricSink, Point
from cairn.tracking.record import ArtifactEntry, RunRecord, record_from_wire

DRAIN_AT_EXIT_S = 10.0


class RemoteWriter:
    """Writes of runs to a cairn server; runs are known here by a handle per run id."""

    def __init__(self, store: Store) -> None:
        assert store.remote is not None
        self.store = store
        self.session: RemoteSession = store.remote
        self._uids: dict[int, str] = {}
        self._handles: dict[str, int] = {}
        self._next = itertools.count(1)
        self._lock = threading.Lock()
        self.sink: MetricSink = RemoteSink(self, get_settings().flush_interval)

    def uid(self, handle: int) -> str:
        """The run id a handle stands for."""
        return self._uids[handle]

    def _handle(self, uid: str) -> int:
        with self._lock:
            handle = self._handles.get(uid)
            if handle is None:
                handle = next(self._next)
                self._handles[uid], self._uids[handle] = handle, uid
            return handle

    def create(
        self,
        values: Mapping[str, Any],
        experiment: str,
        parent: int | None,
        params: Mapping[str, Any],
        tags: Mapping[str, str],
    ) -> int:
        """Send a new run (its id is made here, so it can wait in the spool)."""
        body = {
            "uid": values["uid"],
            "experiment": experiment,
            "name": values["name"],
            "parent": self._uids[parent] if parent is not None else None,
            "start_ms": values["start_ms"],
            "user": values.get("user"),
            "host": values.get("host"),
            "pid": values.get("pid"),
            "params": _encoded(params),
            "tags": dict(tags),
        }
        handle = self._handle(values["uid"])
        self.session.post("/runs", body)
        return handle

    def lookup(self, uid: str) -> tuple[int, RunRecord]:
        """The handle and record of a run on the server."""
        record = get_record(self.session, uid)
        return self._handle(record.id), record

    def log_params(self, handle: int, values: Mapping[str, Any]) -> None:
        """Send params (refused at once, as locally, when the server answers)."""
        self._batch(handle, params=_encoded(values))

    def set_tags(self, handle: int, values: Mapping[str, str]) -> None:
        """Send tags."""
        self._batch(handle, tags=dict(values))

    def _batch(self, handle: int, **parts: Any) -> None:
        body = {"key": secrets.token_hex(16), **parts}
        self.session.post(f"/runs/{self._uids[handle]}/batch", body)

    def end(self, handle: int, status: str, end_ms: int, error: str | None) -> None:
        """Send how the run ended."""
        body = {"status": status, "end_ms": end_ms, "error": error}
        self.session.post(f"/runs/{self._uids[handle]}/end", body)

    def fail(self, handle: int, end_ms: int, error: str) -> None:
        """Send that the run failed."""
        body = {"status": "failed", "end_ms": end_ms, "error": error, "fail": True}
        self.session.post(f"/runs/{self._uids[handle]}/end", body)

    def claim(self, handle: int, host: str, pid: int) -> None:
        """Send the process that runs the run."""
        self.session.post(f"/runs/{self._uids[handle]}/claim", {"host": host, "pid": pid})

    def watermark(self) -> int:
        """No deletions mark here: the server checks each object when it records it."""
        return 0

    def record(
        self,
        handle: int,
        entries: list[ArtifactEntry],
        since: int,
        restore: Callable[[set[str]], Any],
        end_ms: int,
    ) -> None:
        """Send uploaded objects to record as artifacts (after their uploads, in order)."""
        body = {"entries": [{"path": e.path, "digest": e.digest, "size": e.size} for e in entries]}
        self.session.post(f"/runs/{self._uids[handle]}/artifacts", body)


class RemoteSink(MetricSink):
    """The metric buffer of client mode: flushes become batches sent to the server."""

    def __init__(self, writer: RemoteWriter, interval: float) -> None:
        super().__init__(None, interval)
        self._writer = writer

    def _write_buffered(self) -> None:
        with self._lock:
            points, self._buffer = self._buffer, []
        if not points:
            return
        for body_path, body in _batches(self._writer, points):
            try:
                self._writer.session.post(body_path, body)
            except CairnError as exc:
                # Only a refusal gets here (the outbox spools what cannot be sent): points the
                # server cannot hold would be refused again and again, so say so and drop them.
                count = sum(len(series["steps"]) for series in body["metrics"].values())
                self.dropped += count
                self.last_error = f"the cairn server refused {count} metric point(s): {exc}"
                logger.error("%s", self.last_error)

    def _beat(self) -> None:
        with self._lock:
            watched = [self._writer.uid(handle) for handle in sorted(self._watched)]
        self._last_beat = time.monotonic()
        session = self._writer.session
        if not watched or session.spool.own_pending():
            return  # while writes wait in the spool, the runs may not exist there yet
        try:
            session.call("POST", "/runs/heartbeat", {"runs": watched})
        except (ServerUnavailableError, RunNotFoundError):
            pass  # liveness only: the outbox reports a server that is down, and sends the run
        except CairnError as exc:  # a refusal of the heartbeat, not of any metric
            self.failures += 1
            self.last_error = f"the cairn server refused a heartbeat: {exc}"
            logger.warning("%s", self.last_error)

    def close(self) -> None:
        """Flush, then give the spool a few seconds to reach the server."""
        super().close()
        self._writer.session.drain(DRAIN_AT_EXIT_S)


def _batches(writer: RemoteWriter, points: Sequence[Point]) -> list[tuple[str, dict[str, Any]]]:
    by_run: dict[int, dict[str, tuple[list[int], list[int], list[float]]]] = defaultdict(dict)
    for handle, key, step, ts, value in points:
        series = by_run[handle].get(key)
        if series is None:
            series = by_run[handle][key] = ([], [], [])
        series[0].append(step)
        series[1].append(ts)
        series[2].append(value)
    return [
        (
            f"/runs/{writer.uid(handle)}/batch",
            {
                "key": secrets.token_hex(16),
                "metrics": {
                    key: {"steps": s, "ts": t, "values": v} for key, (s, t, v) in series.items()
                },
            },
        )
        for handle, series in by_run.items()
    ]


def _encoded(params: Mapping[str, Any]) -> dict[str, tuple[str, bool]]:
    encoded = {}
    for key, value in params.items():
        text, _number, is_json = encode_param(value, key)
        encoded[key] = (text, is_json)
    return encoded


def get_record(session: RemoteSession, ref: str) -> RunRecord:
    """A run (id or unique prefix) with its history, from the server."""
    from urllib.parse import quote

    return record_from_wire(session.call("GET", f"/runs/{quote(ref, safe='')}"))


def search_records(
    session: RemoteSession,
    filter: str | None,
    order_by: str | Sequence[str] | None,
    experiment: str | Sequence[str] | None,
    limit: int | None,
    include_deleted: bool,
) -> list[RunRecord]:
    """Runs matching a search, from the server (the server parses the filter)."""
    body = {
        "filter": filter,
        "order_by": [order_by] if isinstance(order_by, str) else order_by,
        "experiment": [experiment] if isinstance(experiment, str) else experiment,
        "limit": limit,
        "include_deleted": include_deleted,
    }
    answer = session.call("POST", "/runs/search", body)
    return [record_from_wire(item) for item in answer["runs"]]
