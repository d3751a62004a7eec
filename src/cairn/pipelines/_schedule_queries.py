"""SQL of schedules and events (SQLAlchemy Core), one function per question or change.

A scheduler claims a due schedule with a compare-and-set on its ``claim`` counter: the update
that moves the schedule past what is due holds only while the counter still has the value the
scheduler read, so of two schedulers that saw the same due schedule exactly one moves it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, Row, delete, func, select, update

from cairn.store.db.schema import dataset_versions, datasets
from cairn.store.db.schema.pipelines import pipeline_events, pipeline_schedules

_s = pipeline_schedules


def insert_schedule(conn: Connection, values: Mapping[str, Any]) -> int:
    """Insert a schedule; return its id."""
    result = conn.execute(_s.insert().values(**values).returning(_s.c.id))
    return int(result.scalar_one())


def schedule_row(conn: Connection, name: str) -> Row[Any] | None:
    """The schedule called ``name``, or None."""
    return conn.execute(select(_s).where(_s.c.name == name)).first()


def schedule_rows(conn: Connection, *, enabled_only: bool = False) -> list[Row[Any]]:
    """Every schedule, by name."""
    query = select(_s).order_by(_s.c.name)
    if enabled_only:
        query = query.where(_s.c.enabled.is_(True))
    return list(conn.execute(query))


def schedule_names(conn: Connection, limit: int = 10) -> list[str]:
    """The first names of schedules (for messages that list what exists)."""
    return list(conn.execute(select(_s.c.name).order_by(_s.c.name).limit(limit)).scalars())


def delete_schedule(conn: Connection, name: str) -> bool:
    """Delete the schedule called ``name``; whether there was one."""
    return conn.execute(delete(_s).where(_s.c.name == name)).rowcount == 1


def claim(conn: Connection, schedule_id: int, seen_claim: int, values: Mapping[str, Any]) -> bool:
    """Move a schedule past what is due if no other scheduler did since it was read (its
    claim counter is still ``seen_claim``); True when this caller won the claim."""
    result = conn.execute(
        update(_s)
        .where(_s.c.id == schedule_id, _s.c.claim == seen_claim)
        .values(claim=_s.c.claim + 1, **values)
    )
    return result.rowcount == 1


def record_outcome(
    conn: Connection, schedule_id: int, run_uid: str | None, error: str | None
) -> None:
    """Keep how the start of a schedule ended: the pipeline run and the error, if any."""
    conn.execute(
        update(_s).where(_s.c.id == schedule_id).values(last_run_uid=run_uid, last_error=error)
    )


def newest_version_id(conn: Connection, dataset: str) -> int | None:
    """The id of the newest live version of dataset ``dataset``, or None."""
    value = conn.execute(
        select(func.max(dataset_versions.c.id))
        .join(datasets, datasets.c.id == dataset_versions.c.dataset_id)
        .where(datasets.c.name == dataset, dataset_versions.c.deleted_ms.is_(None))
    ).scalar()
    return None if value is None else int(value)


def newest_version_ids(conn: Connection, names: list[str]) -> dict[str, int]:
    """The id of the newest live version of each dataset named (those with one)."""
    if not names:
        return {}
    rows = conn.execute(
        select(datasets.c.name, func.max(dataset_versions.c.id))
        .join(datasets, datasets.c.id == dataset_versions.c.dataset_id)
        .where(datasets.c.name.in_(names), dataset_versions.c.deleted_ms.is_(None))
        .group_by(datasets.c.name)
    )
    return {str(name): int(newest) for name, newest in rows if newest is not None}


def newest_event_ids(conn: Connection, names: list[str]) -> dict[str, int]:
    """The id of the newest event of each name given (those with one)."""
    if not names:
        return {}
    rows = conn.execute(
        select(pipeline_events.c.name, func.max(pipeline_events.c.id))
        .where(pipeline_events.c.name.in_(names))
        .group_by(pipeline_events.c.name)
    )
    return {str(name): int(newest) for name, newest in rows if newest is not None}


def newest_event_id(conn: Connection, name: str) -> int | None:
    """The id of the newest event called ``name``, or None."""
    value = conn.execute(
        select(func.max(pipeline_events.c.id)).where(pipeline_events.c.name == name)
    ).scalar()
    return None if value is None else int(value)


def insert_event(conn: Connection, name: str, payload: Mapping[str, Any], now: int) -> int:
    """Record an event; return its id."""
    result = conn.execute(
        pipeline_events.insert()
        .values(name=name, payload=json.dumps(payload, sort_keys=True), created_ms=now)
        .returning(pipeline_events.c.id)
    )
    return int(result.scalar_one())
