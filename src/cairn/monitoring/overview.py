"""What is monitored, at a glance: each model with stored monitoring windows, its newest drift
verdict and its alerts; and a model's quality windows over time (labels joined to its
predictions), beside ``monitor_history``'s drift windows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from cairn.core.checks import check_optional_int
from cairn.store import get_store
from cairn.store.db.schema import monitor_alerts, monitor_windows

__all__ = ["MonitoredModel", "monitored_models", "quality_history"]

MAX_MODELS = 10_000


@dataclass(frozen=True)
class MonitoredModel:
    """A model with stored monitoring windows."""

    model: str
    versions: list[int]  # the versions with windows
    drift_windows: int
    quality_windows: int
    latest: Any  # its newest drift window (``monitor_history``'s rows), or None
    alerts: int  # alerts fired about it, ever
    firing: int  # alerts fired for its newest drift window (or later)
    last_ms: int  # when its newest window was stored


def monitored_models(*, limit: int | None = 200) -> list[MonitoredModel]:
    """The models with monitoring windows, most recently monitored first (``limit`` of them)."""
    from cairn.monitoring import _queries

    limit = check_optional_int(limit, "limit", minimum=1, maximum=MAX_MODELS)
    w = monitor_windows
    with get_store().db.read() as conn:
        newest = (
            select(w.c.model, func.max(w.c.created_ms).label("last"))
            .group_by(w.c.model)
            .order_by(func.max(w.c.created_ms).desc(), w.c.model)
        )
        if limit is not None:
            newest = newest.limit(limit)
        names = [(str(r[0]), int(r[1])) for r in conn.execute(newest)]
        wanted = [n for n, _ in names]
        counts: dict[str, dict[str, int]] = {n: {} for n in wanted}
        versions: dict[str, set[int]] = {n: set() for n in wanted}
        alerts: dict[str, int] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            for model, version, kind, n in conn.execute(
                select(w.c.model, w.c.version, w.c.kind, func.count())
                .where(w.c.model.in_(chunk))
                .group_by(w.c.model, w.c.version, w.c.kind)
            ):
                counts[model][kind] = counts[model].get(kind, 0) + int(n)
                versions[model].add(int(version))
            a = monitor_alerts
            for subject, n in conn.execute(
                select(a.c.subject, func.count())
                .where(a.c.subject.in_(chunk))
                .group_by(a.c.subject)
            ):
                alerts[str(subject)] = int(n)
        latest = _queries.latest_windows(conn, wanted, "drift")
        firing: dict[str, int] = {}
        for name, window in latest.items():
            if alerts.get(name):
                firing[name] = int(
                    conn.execute(
                        select(func.count()).where(
                            monitor_alerts.c.subject == name,
                            monitor_alerts.c.window_start_ms >= window.start_ms,
                        )
                    ).scalar_one()
                )
    return [
        MonitoredModel(
            model=name,
            versions=sorted(versions[name]),
            drift_windows=counts[name].get("drift", 0),
            quality_windows=counts[name].get("quality", 0),
            latest=latest.get(name),
            alerts=alerts.get(name, 0),
            firing=firing.get(name, 0),
            last_ms=last,
        )
        for name, last in names
    ]


def quality_history(model: Any, *, limit: int | None = None) -> list[Any]:
    """The stored quality windows of ``model`` (``"name"``: every version; ``"name/3"`` or
    ``"name@alias"``: that version), oldest first; the newest ``limit`` when given."""
    from cairn.monitoring.quality import KIND
    from cairn.monitoring.windows import stored_windows

    return list(stored_windows(model, KIND, limit=limit))
