"""Monitoring's reads and writes of the metadata store (SQLAlchemy Core)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, delete, insert, select, update

from cairn.store.db.schema import (
    model_references,
    model_versions,
    models,
    monitor_alerts,
    monitor_windows,
)


@dataclass(frozen=True)
class StoredReference:
    """A model version's stored reference summary (the row; the summary is an artifact)."""

    model: str
    version: int
    digest: str
    rows: int
    source: dict[str, Any]
    created_ms: int


@dataclass(frozen=True)
class WindowRow:
    """One stored monitoring window."""

    id: int
    model: str
    version: int
    kind: str  # drift | quality
    start_ms: int
    end_ms: int
    rows: int
    verdict: str
    score: float | None
    result: dict[str, Any]
    digest: str | None
    created_ms: int


@dataclass(frozen=True)
class AlertRow:
    """One fired alert and how its delivery went."""

    id: int
    rule: str
    subject: str
    window_start_ms: int
    window_end_ms: int
    message: str
    evidence: dict[str, Any]
    fired_ms: int
    delivery: str  # none | pending | delivered | failed
    attempts: int
    last_error: str | None


def version_db_id(conn: Connection, model: str, version: int) -> int | None:
    """The row id of version ``version`` of ``model`` (None when there is none)."""
    query = (
        select(model_versions.c.id)
        .join(models, models.c.id == model_versions.c.model_id)
        .where(models.c.name == model, model_versions.c.number == version)
    )
    return conn.execute(query).scalar()


def reference(conn: Connection, model: str, version: int) -> StoredReference | None:
    """The stored reference of a model version."""
    query = (
        select(model_references)
        .join(model_versions, model_versions.c.id == model_references.c.version_id)
        .join(models, models.c.id == model_versions.c.model_id)
        .where(models.c.name == model, model_versions.c.number == version)
    )
    row = conn.execute(query).first()
    if row is None:
        return None
    return StoredReference(
        model, version, row.digest, int(row.rows), json.loads(row.source), int(row.created_ms)
    )


def save_reference(
    conn: Connection, version_id: int, digest: str, rows: int, source: dict[str, Any], now: int
) -> None:
    """Keep (or replace) a version's reference."""
    conn.execute(delete(model_references).where(model_references.c.version_id == version_id))
    conn.execute(
        insert(model_references).values(
            version_id=version_id,
            digest=digest,
            rows=rows,
            source=json.dumps(source),
            created_ms=now,
        )
    )


def save_window(
    conn: Connection,
    *,
    model: str,
    version: int,
    kind: str,
    start_ms: int,
    end_ms: int,
    rows: int,
    verdict: str,
    score: float | None,
    result: dict[str, Any],
    digest: str | None,
    now: int,
) -> int:
    """Keep a window's result, replacing an earlier result for the same window."""
    key = and_(
        monitor_windows.c.model == model,
        monitor_windows.c.version == version,
        monitor_windows.c.kind == kind,
        monitor_windows.c.start_ms == start_ms,
    )
    conn.execute(delete(monitor_windows).where(key))
    return int(
        conn.execute(
            insert(monitor_windows).values(
                model=model,
                version=version,
                kind=kind,
                start_ms=start_ms,
                end_ms=end_ms,
                rows=rows,
                verdict=verdict,
                score=score,
                result=json.dumps(result, allow_nan=False),
                digest=digest,
                created_ms=now,
            )
        ).inserted_primary_key[0]  # type: ignore[index]
    )


def windows(
    conn: Connection,
    model: str,
    *,
    kind: str | None = None,
    version: int | None = None,
    since_ms: int | None = None,
    until_ms: int | None = None,
    limit: int | None = None,
) -> list[WindowRow]:
    """Stored windows of ``model``, oldest first (the newest ``limit`` when given)."""
    query = select(monitor_windows).where(monitor_windows.c.model == model)
    if kind is not None:
        query = query.where(monitor_windows.c.kind == kind)
    if version is not None:
        query = query.where(monitor_windows.c.version == version)
    if since_ms is not None:
        query = query.where(monitor_windows.c.start_ms >= since_ms)
    if until_ms is not None:
        query = query.where(monitor_windows.c.start_ms < until_ms)
    if limit is not None:
        query = query.order_by(monitor_windows.c.start_ms.desc()).limit(limit)
        rows = list(reversed(conn.execute(query).all()))
    else:
        rows = list(conn.execute(query.order_by(monitor_windows.c.start_ms, monitor_windows.c.id)))
    return [_window(row) for row in rows]


def latest_windows(conn: Connection, models_: Sequence[str], kind: str) -> dict[str, WindowRow]:
    """The newest window of each of ``models_`` (those that have one)."""
    out: dict[str, WindowRow] = {}
    for name in models_:
        found = windows(conn, name, kind=kind, limit=1)
        if found:
            out[name] = found[-1]
    return out


def _window(row: Any) -> WindowRow:
    return WindowRow(
        id=int(row.id),
        model=row.model,
        version=int(row.version),
        kind=row.kind,
        start_ms=int(row.start_ms),
        end_ms=int(row.end_ms),
        rows=int(row.rows),
        verdict=row.verdict,
        score=None if row.score is None else float(row.score),
        result=json.loads(row.result),
        digest=row.digest,
        created_ms=int(row.created_ms),
    )


def insert_alert(
    conn: Connection,
    *,
    rule: str,
    subject: str,
    window_start_ms: int,
    window_end_ms: int,
    message: str,
    evidence: dict[str, Any],
    delivery: str,
    now: int,
) -> int | None:
    """Record an alert; None when this rule already fired for this subject and window."""
    exists = conn.execute(
        select(monitor_alerts.c.id).where(
            monitor_alerts.c.rule == rule,
            monitor_alerts.c.subject == subject,
            monitor_alerts.c.window_start_ms == window_start_ms,
        )
    ).first()
    if exists is not None:
        return None
    return int(
        conn.execute(
            insert(monitor_alerts).values(
                rule=rule,
                subject=subject,
                window_start_ms=window_start_ms,
                window_end_ms=window_end_ms,
                message=message,
                evidence=json.dumps(evidence, allow_nan=False, default=str),
                fired_ms=now,
                delivery=delivery,
                attempts=0,
                last_error=None,
            )
        ).inserted_primary_key[0]  # type: ignore[index]
    )


def set_delivery(
    conn: Connection, alert_id: int, delivery: str, attempts: int, error: str | None
) -> None:
    """Record how delivering an alert went."""
    conn.execute(
        update(monitor_alerts)
        .where(monitor_alerts.c.id == alert_id)
        .values(delivery=delivery, attempts=attempts, last_error=error)
    )


def alerts(
    conn: Connection,
    *,
    subject: str | None = None,
    delivery: str | None = None,
    since_ms: int | None = None,
    limit: int | None = None,
) -> list[AlertRow]:
    """Fired alerts, newest first."""
    query = select(monitor_alerts)
    if subject is not None:
        query = query.where(monitor_alerts.c.subject == subject)
    if delivery is not None:
        query = query.where(monitor_alerts.c.delivery == delivery)
    if since_ms is not None:
        query = query.where(monitor_alerts.c.fired_ms >= since_ms)
    query = query.order_by(monitor_alerts.c.fired_ms.desc(), monitor_alerts.c.id.desc())
    if limit is not None:
        query = query.limit(limit)
    return [
        AlertRow(
            id=int(row.id),
            rule=row.rule,
            subject=row.subject,
            window_start_ms=int(row.window_start_ms),
            window_end_ms=int(row.window_end_ms),
            message=row.message,
            evidence=json.loads(row.evidence),
            fired_ms=int(row.fired_ms),
            delivery=row.delivery,
            attempts=int(row.attempts),
            last_error=row.last_error,
        )
        for row in conn.execute(query)
    ]
