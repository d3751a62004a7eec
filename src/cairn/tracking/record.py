"""Read models of stored runs: what ``cairn.get_run`` and ``cairn.search_runs`` return."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from cairn.core.ids import to_datetime


class MetricPoint(NamedTuple):
    """One logged value of a metric."""

    step: int
    timestamp_ms: int
    value: float


@dataclass(frozen=True)
class ArtifactEntry:
    """A file logged in a run: its path in the run and the stored object."""

    path: str
    digest: str
    size: int


@dataclass(frozen=True)
class RunRecord:
    """A run as stored: attributes, params, tags, latest metrics and artifacts.

    ``metric_history`` holds every logged point per metric key when the record was read with
    history (``cairn.get_run`` does so), in the order they were logged.
    """

    id: str
    name: str
    experiment: str
    status: str
    start_ms: int
    end_ms: int | None
    parent_id: str | None
    user: str | None
    error: str | None
    deleted: bool
    params: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    metric_history: dict[str, list[MetricPoint]] = field(default_factory=dict)
    artifacts: list[ArtifactEntry] = field(default_factory=list)

    @property
    def start_time(self) -> datetime:
        """When the run started (UTC)."""
        return to_datetime(self.start_ms)

    @property
    def end_time(self) -> datetime | None:
        """When the run ended (UTC), or None while it runs."""
        return None if self.end_ms is None else to_datetime(self.end_ms)

    @property
    def duration_s(self) -> float | None:
        """Seconds from start to end, or None while it runs."""
        return None if self.end_ms is None else (self.end_ms - self.start_ms) / 1000


def record_to_wire(record: RunRecord) -> dict[str, Any]:
    """A run record as JSON-ready data (built directly: no deep copy of every value)."""
    return {
        "id": record.id,
        "name": record.name,
        "experiment": record.experiment,
        "status": record.status,
        "start_ms": record.start_ms,
        "end_ms": record.end_ms,
        "parent_id": record.parent_id,
        "user": record.user,
        "error": record.error,
        "deleted": record.deleted,
        "params": record.params,
        "tags": record.tags,
        "metrics": record.metrics,
        "metric_history": {
            key: [list(point) for point in points] for key, points in record.metric_history.items()
        },
        "artifacts": [
            {"path": a.path, "digest": a.digest, "size": a.size} for a in record.artifacts
        ],
    }


def record_from_wire(data: dict[str, Any]) -> RunRecord:
    """The run record a server answered."""
    return RunRecord(
        **{
            **data,
            "metric_history": {
                key: [MetricPoint(*point) for point in points]
                for key, points in data.get("metric_history", {}).items()
            },
            "artifacts": [ArtifactEntry(**entry) for entry in data.get("artifacts", [])],
        }
    )
