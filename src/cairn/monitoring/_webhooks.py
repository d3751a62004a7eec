"""Posting alerts to webhooks on a background thread, retried, with the outcome recorded.

Whatever fires an alert (a check, a monitoring run inside a server) only puts it on a
bounded queue: a slow or unreachable webhook costs the caller nothing. One thread per process
posts each alert to every webhook (5 s timeout, 3 attempts, 0.5 s then 2 s between them) and
records on the alert's row how it went: ``delivered``, or ``failed`` with the last error and
the number of attempts. ``flush`` waits for what is queued (the CLI calls it before exiting,
and so does the interpreter's exit, for a bounded time).

Built on ``urllib.request``: httpx is not one of cairn's dependencies.
"""

from __future__ import annotations

import atexit
import json
import os
import queue
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from cairn.core.logging import logger
from cairn.core.threads import start_thread
from cairn.monitoring import _queries
from cairn.monitoring._alert_rules import redact
from cairn.store import Store

TIMEOUT_S = 5.0
BACKOFF_S = (0.5, 2.0)  # waits between the 3 attempts
QUEUE_SIZE = 256  # alerts waiting; beyond this, an alert is recorded as failed at once
EXIT_FLUSH_S = 10.0  # what the interpreter's exit waits for pending deliveries
_RESPONSE_BYTES = 4096


@dataclass(frozen=True)
class Delivery:
    """One alert to post: its row, the body, and where to."""

    store: Store
    alert_id: int
    body: dict[str, Any]
    webhooks: tuple[str, ...]


class _Deliverer:
    """The queue and the thread that empties it (one per process)."""

    def __init__(self) -> None:
        self.queue: queue.Queue[Delivery] = queue.Queue(maxsize=QUEUE_SIZE)
        self.pid = os.getpid()
        self.idle = threading.Condition()
        self.unfinished = 0
        self.queued: set[int] = set()  # alert ids queued or being posted
        start_thread(self._run, "cairn-alert-webhooks")

    def submit(self, delivery: Delivery) -> bool:
        """Queue ``delivery``; False when the queue is full."""
        with self.idle:
            self.unfinished += 1
            self.queued.add(delivery.alert_id)
        try:
            self.queue.put_nowait(delivery)
        except queue.Full:
            self._done(delivery.alert_id)
            return False
        return True

    def flush(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for every queued delivery to end."""
        deadline = time.monotonic() + max(0.0, timeout)
        with self.idle:
            while self.unfinished:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.idle.wait(left)
        return True

    def _done(self, alert_id: int) -> None:
        with self.idle:
            self.unfinished -= 1
            self.queued.discard(alert_id)
            if not self.unfinished:
                self.idle.notify_all()

    def _run(self) -> None:
        while True:
            delivery = self.queue.get()
            try:
                deliver(delivery)
            except Exception as exc:  # the thread must outlive any one alert
                logger.warning("could not deliver alert %s: %s", delivery.alert_id, exc)
            finally:
                self._done(delivery.alert_id)


_lock = threading.Lock()
_deliverers: list[_Deliverer] = []


def _deliverer() -> _Deliverer:
    with _lock:
        # A forked child has the parent's objects but not its thread: it starts its own.
        if not _deliverers or _deliverers[0].pid != os.getpid():
            if not _deliverers:
                atexit.register(flush, EXIT_FLUSH_S)
            _deliverers[:] = [_Deliverer()]
        return _deliverers[0]


def submit(delivery: Delivery) -> None:
    """Post ``delivery`` in the background; a full queue records the alert as failed."""
    if _deliverer().submit(delivery):
        return
    error = f"not delivered: {QUEUE_SIZE} alerts were already waiting for the webhooks"
    logger.warning("alert %s %s", delivery.alert_id, error)
    _record(delivery, "failed", 0, error)


def in_flight() -> set[int]:
    """The ids of the alerts this process has queued or is posting."""
    with _lock:
        current = _deliverers[0] if _deliverers and _deliverers[0].pid == os.getpid() else None
    if current is None:
        return set()
    with current.idle:
        return set(current.queued)


def flush(timeout: float = 30.0) -> bool:
    """Wait up to ``timeout`` seconds for queued alerts to be delivered or to fail; return
    whether none is left."""
    with _lock:
        current = _deliverers[0] if _deliverers and _deliverers[0].pid == os.getpid() else None
    return True if current is None else current.flush(timeout)


def deliver(delivery: Delivery) -> None:
    """Post to every webhook (retried) and record the outcome on the alert."""
    data = json.dumps(delivery.body, allow_nan=False, default=str).encode()
    attempts, errors = 0, []
    for url in delivery.webhooks:
        used, error = _post(url, data)
        attempts += used
        if error is not None:
            errors.append(f"{redact(url)}: {error}")
    if errors:
        message = "; ".join(errors)
        logger.warning("alert %s was not delivered: %s", delivery.alert_id, message)
        _record(delivery, "failed", attempts, message)
    else:
        _record(delivery, "delivered", attempts, None)


def _post(url: str, data: bytes) -> tuple[int, str | None]:
    """POST ``data``; the attempts made and the last error (None: delivered)."""
    error: str | None = None
    for attempt in range(len(BACKOFF_S) + 1):
        if attempt:
            time.sleep(BACKOFF_S[attempt - 1])
        request = urllib.request.Request(
            url,
            data=data,
            method="POST",
            headers={"Content-Type": "application/json", "User-Agent": "cairn-alerts"},
        )
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
                response.read(_RESPONSE_BYTES)
            return attempt + 1, None
        except urllib.error.HTTPError as exc:
            error = f"HTTP {exc.code} {exc.reason}"
            exc.close()
            # A client error other than throttling will not mend by asking again.
            if 400 <= exc.code < 500 and exc.code not in (408, 429):
                return attempt + 1, error
        except urllib.error.URLError as exc:
            error = f"cannot reach it ({exc.reason})"
        except (OSError, ValueError) as exc:  # timeouts, resets, a malformed URL
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return len(BACKOFF_S) + 1, error


def _record(delivery: Delivery, state: str, attempts: int, error: str | None) -> None:
    try:
        delivery.store.db.transact(
            lambda conn: _queries.set_delivery(conn, delivery.alert_id, state, attempts, error)
        )
    except Exception as exc:  # a store gone away: the log keeps what happened
        logger.warning(
            "could not record the delivery of alert %s (%s: %s): %s",
            delivery.alert_id,
            state,
            error,
            exc,
        )
