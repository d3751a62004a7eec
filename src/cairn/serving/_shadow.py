"""The shadow model of a batcher: the version the alias ``shadow`` points at scores a copy of
every batch the served model answered, on a thread of its own, after the answers are sent.
Its predictions are logged under the same request ids (so both versions' answers join), never
returned, and its failures are only counted (``cairn_shadow_errors_total``) and logged at most
once a minute. At most ``PENDING`` shadow batches wait; beyond that, rows are skipped (counted).
"""

from __future__ import annotations

import asyncio
import functools
import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from cairn.core.logging import logger
from cairn.core.threads import leave_signals_to_main_thread
from cairn.serving.metrics import ServerMetrics

if TYPE_CHECKING:
    from cairn.serving.batching import Served

PENDING = 4  # shadow batches waiting at most; beyond, rows are skipped (counted)
_WARN_S = 60.0  # a failing shadow model is logged at most this often
_STOP_S = 10.0  # how long a stopping server waits for the shadow's last batches

#: record(batch, served, predictions, probabilities, classes, fallback=False): the batcher's log
Record = Callable[..., None]
#: infer(model, rows, want_proba) -> (predictions, probabilities, classes)
Infer = Callable[[Any, list[Any], bool], Any]


class Shadow:
    """Scores copies of answered batches with ``served`` (a ``batching.Served``, or None)."""

    def __init__(self, name: str, metrics: ServerMetrics, record: Record, infer: Infer) -> None:
        self.name = name
        self.served: Served | None = None
        self._metrics = metrics
        self._record = record
        self._infer = infer
        self._thread = ThreadPoolExecutor(
            1, f"cairn-shadow-{name}", initializer=leave_signals_to_main_thread
        )
        self._work: set[asyncio.Future[Any]] = set()
        self._warned = -math.inf

    def score(self, batch: list[Any], rows: list[Any]) -> None:
        """Score a copy of ``batch`` (its ``rows``) on the shadow's thread; the answers are
        sent already, and nothing here can fail them."""
        shadow = self.served
        if shadow is None:
            return
        try:
            if len(self._work) >= PENDING:
                self._metrics.shadow_skipped.labels(self.name).inc(len(rows))
                return
            want_proba = shadow.model.has_proba and any(p.want_proba for p in batch)
            work = asyncio.get_running_loop().run_in_executor(
                self._thread, self._infer, shadow.model, rows, want_proba
            )
            self._work.add(work)
            work.add_done_callback(functools.partial(self._done, batch, shadow))
        except Exception as exc:  # never the answers' problem
            self._failed(shadow, exc, len(batch))

    def _done(self, batch: list[Any], shadow: Served, work: asyncio.Future[Any]) -> None:
        """Log what the shadow model predicted (on the event loop), or count its failure."""
        self._work.discard(work)
        try:
            predictions, probabilities, classes = work.result()
            self._record(batch, shadow, predictions, probabilities, classes, fallback=False)
            self._metrics.shadow_rows.labels(self.name).inc(len(predictions))
        except BaseException as exc:  # cancelled at shutdown included
            self._failed(shadow, exc, len(batch))

    def _failed(self, shadow: Served, exc: BaseException, requests: int) -> None:
        self._metrics.shadow_errors.labels(self.name).inc()
        now = time.monotonic()
        if now - self._warned >= _WARN_S:
            self._warned = now
            logger.warning(
                "%s: the shadow model %s failed on %s request(s) (answers are not affected; "
                "counted in cairn_shadow_errors_total): %s: %s",
                self.name,
                shadow.label,
                requests,
                type(exc).__name__,
                exc,
            )

    async def stop(self) -> None:
        """Wait a little for the last shadow batches (a hung shadow model is left behind)."""
        if self._work:
            await asyncio.wait(set(self._work), timeout=_STOP_S)
        self._thread.shutdown(wait=False, cancel_futures=True)
