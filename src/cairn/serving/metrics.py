"""Prometheus metrics of one server (a registry of its own, so several apps in one process,
as in tests, never share counters)."""

from __future__ import annotations

from typing import Any

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)
BYTES_BUCKETS = (256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304)


class ServerMetrics:
    """The counters, histograms and gauges ``/metrics`` shows."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
        from prometheus_client.process_collector import ProcessCollector

        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)  # process CPU seconds, memory, open files
        self.requests = Counter(
            "cairn_requests",
            "Prediction requests answered",
            ["model", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "cairn_request_latency_seconds",
            "Time from request to answer",
            ["model", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "cairn_batch_rows",
            "Rows per predict call",
            ["model"],
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "cairn_queue_rows", "Rows waiting for the model", ["model"], registry=self.registry
        )
        self.payload = Histogram(
            "cairn_request_bytes",
            "Request body size",
            ["model"],
            buckets=BYTES_BUCKETS,
            registry=self.registry,
        )
        self.fallbacks = Counter(
            "cairn_fallback_rows",
            "Rows answered by the fallback model",
            ["model", "reason"],
            registry=self.registry,
        )
        self.errors = Counter(
            "cairn_errors", "Requests that failed", ["model", "kind"], registry=self.registry
        )
        self.log_dropped = Counter(
            "cairn_prediction_log_dropped_rows",
            "Rows the prediction log could not keep (queue full)",
            ["model"],
            registry=self.registry,
        )
        self.drift_failures = Counter(
            "cairn_drift_gauge_failures",
            "Failed reads of a model's latest drift window for these metrics",
            ["model"],
            registry=self.registry,
        )
        self.shadow_rows = Counter(
            "cairn_shadow_rows",
            "Rows the shadow model (alias shadow) scored and logged, not returned",
            ["model"],
            registry=self.registry,
        )
        self.shadow_errors = Counter(
            "cairn_shadow_errors",
            "Shadow predict calls that failed (no answer is affected)",
            ["model"],
            registry=self.registry,
        )
        self.shadow_skipped = Counter(
            "cairn_shadow_skipped_rows",
            "Rows not shadowed because the shadow model was still busy",
            ["model"],
            registry=self.registry,
        )
        self._children: dict[tuple[str, int], tuple[Any, Any, Any]] = {}
        self.version = Gauge(
            "cairn_model_version",
            "Registered version being served",
            ["model"],
            registry=self.registry,
        )

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    def observe_request(self, model: str, status: int, seconds: float, body: int) -> None:
        """Count one answered request."""
        children = self._children.get((model, status))
        if children is None:  # looking labels up takes a lock and a dict: once per pair
            code = str(status)
            children = (
                self.requests.labels(model, code),
                self.latency.labels(model, code),
                self.payload.labels(model),
            )
            self._children[(model, status)] = children
        requests, latency, payload = children
        requests.inc()
        latency.observe(seconds)
        payload.observe(body)
