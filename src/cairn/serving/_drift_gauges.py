"""The served models' latest drift on ``/metrics``: the share of drifted features and each
feature's drift score, from the last window monitoring stored.

Serving sits below monitoring, so it asks through the ``cairn_drift_gauges`` hook (monitoring
implements it) rather than importing it. The answers are kept for ``refresh_s`` seconds and
fetched in a worker thread: a scrape waits at most ``wait_s`` for a fresh answer and otherwise
shows the last one, so a slow or failing store never blocks the event loop or fails
``/metrics``; a failure is counted (``cairn_drift_gauge_failures_total``) and logged once.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from cairn.core.errors import InvalidInputError
from cairn.core.logging import logger

WAIT_S = 1.0  # how long a scrape waits for a fresh answer before showing the last one


class DriftGauges:
    """A Prometheus collector of the served models' latest drift windows."""

    def __init__(
        self,
        models: Callable[[], dict[str, str]],
        failures: Any,
        refresh_s: float = 30.0,
        wait_s: float = WAIT_S,
    ) -> None:
        """``models()`` maps each route name to its registered model's name (it follows hot
        swaps); ``failures`` is the counter of failed fetches."""
        number = isinstance(refresh_s, (int, float)) and not isinstance(refresh_s, bool)
        if not number or not refresh_s >= 0:  # NaN too
            raise InvalidInputError(
                "drift_refresh_s is how many seconds /metrics keeps a model's latest drift (0: "
                f"none shown); give a number >= 0, not {refresh_s!r}"
            )
        self._models = models
        self._failures = failures
        self._refresh_s = refresh_s
        self._wait_s = wait_s
        self._values: dict[str, dict[str, Any]] = {}  # route name -> the hook's answer
        self._fetched_at = -float("inf")
        self._pending: asyncio.Future[None] | None = None
        self._lock = threading.Lock()
        self._warned = False

    async def refresh(self) -> None:
        """Fetch the answers again when they are older than ``refresh_s`` (in a thread),
        waiting at most ``wait_s`` for them."""
        if self._refresh_s <= 0:
            return
        if self._pending is None and time.monotonic() - self._fetched_at >= self._refresh_s:
            self._fetched_at = time.monotonic()
            self._pending = asyncio.get_running_loop().run_in_executor(None, self._fetch)
            self._pending.add_done_callback(self._done)
        pending = self._pending
        if pending is not None:
            # shield: a scrape that stops waiting leaves the fetch running for the next one
            with_timeout = asyncio.wait_for(asyncio.shield(pending), self._wait_s)
            try:
                await with_timeout
            except TimeoutError:
                logger.debug("drift gauges: the store is slow; showing the last values")

    def _done(self, _future: asyncio.Future[None]) -> None:
        self._pending = None

    def _fetch(self) -> None:
        """Ask the hook for each served model's latest drift window (in a worker thread)."""
        from cairn.core.plugins import plugin_manager

        try:
            hook = plugin_manager().hook.cairn_drift_gauges
            models = self._models()
        except Exception as exc:  # a broken plugin must not fail a scrape
            self._failed("*", exc)
            return
        for route, name in models.items():
            try:
                found = hook(model=name)
                if found is None and route != name:  # windows may be kept by route name
                    found = hook(model=route)
            except Exception as exc:  # a scrape must never fail for this
                self._failed(route, exc)
                continue  # keep showing the last values
            with self._lock:
                if isinstance(found, dict):
                    self._values[route] = found
                else:
                    self._values.pop(route, None)

    def _failed(self, route: str, exc: BaseException) -> None:
        self._failures.labels(route).inc()
        if not self._warned:
            self._warned = True
            logger.warning(
                "could not read the latest drift of %s for /metrics (%s: %s); the last values "
                "are shown and cairn_drift_gauge_failures_total counts further failures",
                route,
                type(exc).__name__,
                exc,
            )
        else:
            logger.debug("drift gauges of %s: %s", route, exc)

    def describe(self) -> list[Any]:
        """No fixed metric families (they exist once a model has a drift window)."""
        return []

    def collect(self) -> Iterator[Any]:
        """The gauges, from the answers kept."""
        from prometheus_client.core import GaugeMetricFamily

        share = GaugeMetricFamily(
            "cairn_drift_share",
            "Share of the features that drifted in the latest monitoring window",
            labels=["model"],
        )
        start = GaugeMetricFamily(
            "cairn_drift_window_start_seconds",
            "Start of the latest monitoring window (Unix time)",
            labels=["model"],
        )
        rows = GaugeMetricFamily(
            "cairn_drift_window_rows", "Rows in the latest monitoring window", labels=["model"]
        )
        version = GaugeMetricFamily(
            "cairn_drift_window_version",
            "Model version the latest monitoring window compared",
            labels=["model"],
        )
        effect = GaugeMetricFamily(
            "cairn_feature_drift",
            "Drift score (effect size) of each feature in the latest monitoring window",
            labels=["model", "feature"],
        )
        drifted = GaugeMetricFamily(
            "cairn_feature_drifted",
            "Whether each feature drifted in the latest monitoring window (1) or not (0)",
            labels=["model", "feature"],
        )
        with self._lock:
            values = dict(self._values)
        for route, found in values.items():
            _add(share, [route], found.get("share"))
            _add(start, [route], _seconds(found.get("start_ms")))
            _add(rows, [route], found.get("rows"))
            _add(version, [route], found.get("version"))
            for feature, column in (found.get("columns") or {}).items():
                _add(effect, [route, feature], column.get("effect"))
                verdict = column.get("verdict")
                if verdict in ("drift", "no drift"):  # untested columns have no verdict to show
                    drifted.add_metric([route, feature], 1.0 if verdict == "drift" else 0.0)
        # a family without samples would still print its HELP and TYPE lines
        yield from (f for f in (share, start, rows, version, effect, drifted) if f.samples)


def _add(family: Any, labels: list[str], value: Any) -> None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        family.add_metric(labels, float(value))


def _seconds(ms: Any) -> float | None:
    return ms / 1000 if isinstance(ms, (int, float)) else None
