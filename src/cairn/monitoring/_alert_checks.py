"""The evaluation of alert rules against the store: the stored monitoring windows (drift and
quality rules), the prediction log (``no_predictions``) and the data catalog (``stale``).

Each rule yields ``Candidate`` alerts with their message and evidence; ``cairn.monitoring.alerts``
(where the rules' grammar is described) stores each one once, logs and posts it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Connection, func, select

from cairn.core.logging import logger
from cairn.monitoring import _queries
from cairn.monitoring._alert_rules import LOWER_IS_BETTER, AlertRule
from cairn.store.db.schema import monitor_windows, prediction_log_files

RECENT_WINDOWS = 24  # windows of each model a check looks at: a new rule never floods
DATA_PREFIX = "data:"  # the subject of a dataset's alert
_NAMED_PERIODS_MS = {
    "hourly": 3_600_000,
    "daily": 86_400_000,
    "weekly": 7 * 86_400_000,
    "monthly": 31 * 86_400_000,
}


@dataclass(frozen=True)
class Candidate:
    """An alert a rule raises, before it is stored (when it is not already)."""

    rule: AlertRule
    subject: str
    start_ms: int
    end_ms: int
    message: str
    evidence: dict[str, Any]
    version: int | None = None


class Scope:
    """One check's reads, each made once: the models to look at and their windows."""

    def __init__(self, conn: Connection, names: list[str] | None) -> None:
        self.conn = conn
        self.names = names
        self._windows: dict[tuple[str, str], list[_queries.WindowRow]] = {}
        self._monitored: list[str] | None = None
        self._served: list[str] | None = None

    def subjects(self, rule: AlertRule) -> list[str]:
        """The models ``rule`` is checked on."""
        if rule.model != "*":
            assert rule.model is not None
            return [rule.model] if self.names is None or rule.model in self.names else []
        if rule.condition == "no_predictions":
            if self._served is None:
                query = select(prediction_log_files.c.model).distinct()
                self._served = sorted(self.conn.execute(query).scalars())
            found = self._served
        else:
            if self._monitored is None:
                query = select(monitor_windows.c.model).distinct()
                self._monitored = sorted(self.conn.execute(query).scalars())
            found = self._monitored
        return [m for m in found if self.names is None or m in self.names]

    def windows(self, model: str, kind: str) -> list[_queries.WindowRow]:
        """The newest ``RECENT_WINDOWS`` windows of ``model`` of ``kind``, oldest first."""
        key = (model, kind)
        if key not in self._windows:
            self._windows[key] = _queries.windows(self.conn, model, kind=kind, limit=RECENT_WINDOWS)
        return self._windows[key]

    def last_prediction_ms(self, model: str) -> int | None:
        """When ``model``'s newest logged prediction was made (None: it never logged one)."""
        query = select(func.max(prediction_log_files.c.last_ms)).where(
            prediction_log_files.c.model == model
        )
        value = self.conn.execute(query).scalar()
        return None if value is None else int(value)


def evaluate(scope: Scope, rule: AlertRule, model: str, now: int) -> Iterator[Candidate]:
    """The alerts ``rule`` raises on ``model`` (a drift, quality or no_predictions rule)."""
    if rule.condition == "drift_share":
        for window in scope.windows(model, "drift"):
            found = _drift_share(rule, window)
            if found is not None:
                yield found
    elif rule.condition == "feature_drift":
        drift_windows = scope.windows(model, "drift")
        seen = False
        for window in drift_windows:
            column = _column(window, rule.feature)
            seen = seen or column is not None
            if column is not None and column.get("verdict") == "drift":
                yield _feature_drift(rule, window, column)
        if drift_windows and not seen:
            known = sorted({str(c.get("column")) for w in drift_windows for c in _columns(w)})
            logger.warning(
                "alert rule %s: no monitoring window of %s has the column %r (it has: %s); "
                "fix the rule's feature",
                rule.name,
                model,
                rule.feature,
                ", ".join(known[:20]) or "none",
            )
    elif rule.condition == "quality_below_training":
        for window in scope.windows(model, "quality"):
            found = _quality(rule, window)
            if found is not None:
                yield found
    elif rule.condition == "no_predictions":
        found = _silence(rule, model, scope.last_prediction_ms(model), now)
        if found is not None:
            yield found


def _window_evidence(rule: AlertRule, window: _queries.WindowRow) -> dict[str, Any]:
    return {
        "condition": rule.condition,
        "model": window.model,
        "version": window.version,
        "window": {
            "id": window.id,
            "kind": window.kind,
            "start_ms": window.start_ms,
            "end_ms": window.end_ms,
            "rows": window.rows,
            "verdict": window.verdict,
        },
    }


def _drift_share(rule: AlertRule, window: _queries.WindowRow) -> Candidate | None:
    share = window.result.get("share")
    if not isinstance(share, (int, float)) or isinstance(share, bool) or not math.isfinite(share):
        return None  # not enough data: no verdict to alert on
    if rule.threshold is None:
        fires = window.result.get("verdict", window.verdict) == "drift"
        wanted = "the window's verdict is drift"
    else:
        fires = share >= rule.threshold if rule.inclusive else share > rule.threshold
        wanted = f"{'>=' if rule.inclusive else '>'} {rule.threshold:.0%}"
    if not fires:
        return None
    drifted = [str(c) for c in window.result.get("drifted_columns") or []]
    evidence = _window_evidence(rule, window)
    evidence.update(
        share=share,
        threshold=rule.threshold,
        drifted_columns=drifted,
        columns=[c for c in _columns(window) if c.get("verdict") == "drift"],
    )
    message = (
        f"{window.model} v{window.version}: {share:.0%} of columns drifted ({wanted}) in "
        f"{_span(window.start_ms, window.end_ms)}; drifted: {', '.join(drifted) or 'none'}"
    )
    return Candidate(
        rule, window.model, window.start_ms, window.end_ms, message, evidence, window.version
    )


def _columns(window: _queries.WindowRow) -> list[dict[str, Any]]:
    columns = window.result.get("columns")
    return [c for c in columns if isinstance(c, dict)] if isinstance(columns, list) else []


def _column(window: _queries.WindowRow, name: str | None) -> dict[str, Any] | None:
    return next((c for c in _columns(window) if c.get("column") == name), None)


def _feature_drift(
    rule: AlertRule, window: _queries.WindowRow, column: dict[str, Any]
) -> Candidate:
    evidence = _window_evidence(rule, window)
    evidence.update(feature=rule.feature, column=column)
    effect = column.get("effect")
    shown = f" (effect {effect:.3g}, {column.get('test') or 'test'})" if effect is not None else ""
    message = (
        f"{window.model} v{window.version}: feature {rule.feature!r} drifted{shown} in "
        f"{_span(window.start_ms, window.end_ms)}"
    )
    return Candidate(
        rule, window.model, window.start_ms, window.end_ms, message, evidence, window.version
    )


def _quality_numbers(result: dict[str, Any], metric: str) -> tuple[float | None, float | None]:
    """The window's value of ``metric`` and the training run's (either may be missing).

    Read from ``result["metrics"][metric]`` as ``{"value", "training"}`` (the quality part's
    shape), or as a plain number with the training value in ``result["training"]``."""
    for holder in (result.get("metrics"), result):
        if not isinstance(holder, dict) or metric not in holder:
            continue
        entry = holder[metric]
        if isinstance(entry, dict):
            return _number(entry.get("value")), _number(entry.get("training"))
        training = result.get("training")
        base = training.get(metric) if isinstance(training, dict) else None
        return _number(entry), _number(base)
    return None, None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _quality(rule: AlertRule, window: _queries.WindowRow) -> Candidate | None:
    assert rule.metric is not None
    if window.verdict == "not enough data":
        return None
    value, training = _quality_numbers(window.result, rule.metric)
    if value is None or training is None:
        return None
    margin = rule.effective_margin
    if rule.metric in LOWER_IS_BETTER:
        limit = training * (1 + margin) if training > 0 else training + margin
        fires, how = value > limit, f"above the training run's {training:.4g} by more than"
        allowed = f"{margin:.0%}"
    else:
        limit = training - margin
        fires, how = value < limit, f"below the training run's {training:.4g} by more than"
        allowed = f"{margin:.4g}"
    if not fires:
        return None
    evidence = _window_evidence(rule, window)
    evidence.update(metric=rule.metric, value=value, training=training, margin=margin)
    message = (
        f"{window.model} v{window.version}: {rule.metric} {value:.4g} is {how} {allowed} in "
        f"{_span(window.start_ms, window.end_ms)} ({window.rows} labelled rows)"
    )
    return Candidate(
        rule, window.model, window.start_ms, window.end_ms, message, evidence, window.version
    )


def _silence(rule: AlertRule, model: str, last: int | None, now: int) -> Candidate | None:
    period = rule.silence_ms
    assert period is not None
    if last is None or now - last < period:
        return None  # never served (nothing to miss yet), or not silent for long enough
    start = last + (now - last) // period * period
    evidence = {
        "condition": rule.condition,
        "model": model,
        "last_prediction_ms": last,
        "silent_ms": now - last,
        "for_ms": period,
    }
    message = (
        f"{model}: no prediction logged for {_duration(now - last)} (since {iso(last)}; "
        f"rule: none for {_duration(period)})"
    )
    return Candidate(rule, model, start, start + period, message, evidence)


def stale(rules: list[AlertRule], now: int) -> list[Candidate]:
    """The alerts the ``stale`` rules raise on the catalog's overdue datasets."""
    from cairn.data import stale_datasets

    found = []
    overdue = stale_datasets()
    for rule in rules:
        for dataset in overdue:
            if rule.dataset not in ("*", dataset.name) or dataset.latest is None:
                continue
            assert dataset.frequency is not None
            latest = dataset.latest.created_ms
            period = _period_ms(dataset.frequency, latest)
            start = latest + max(1, (now - latest) // period) * period
            evidence = {
                "condition": rule.condition,
                "dataset": dataset.name,
                "frequency": dataset.frequency,
                "latest_version": dataset.latest.number,
                "latest_ms": latest,
                "age_ms": now - latest,
            }
            message = (
                f"dataset {dataset.name}: the latest version (v{dataset.latest.number}, "
                f"{iso(latest)}) is {_duration(max(0, now - latest))} old, past its "
                f"{dataset.frequency} updates"
            )
            subject = f"{DATA_PREFIX}{dataset.name}"
            found.append(Candidate(rule, subject, start, start + period, message, evidence))
    return found


def _period_ms(frequency: str, latest_ms: int) -> int:
    """The time between two expected updates of a dataset declared ``frequency``."""
    named = _NAMED_PERIODS_MS.get(frequency.lower())
    if named is not None:
        return named
    from croniter import croniter

    schedule = croniter(frequency, datetime.fromtimestamp(latest_ms / 1000, tz=timezone.utc))
    due: datetime = schedule.get_next(datetime)
    after: datetime = schedule.get_next(datetime)
    return max(60_000, int((after - due).total_seconds() * 1000))


# -- small helpers ----------------------------------------------------------------------------


def iso(ms: int) -> str:
    """``ms`` as a UTC date and time to the minute."""
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _span(start: int, end: int) -> str:
    return f"the window {iso(start)} to {iso(end)}"


def _duration(ms: int) -> str:
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000)):
        if ms >= size:
            whole, part = divmod(ms, size)
            return f"{whole}{unit}" if part < size / 10 else f"{ms / size:.1f}{unit}"
    return f"{ms // 1000}s"
