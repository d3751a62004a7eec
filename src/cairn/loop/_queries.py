"""SQL of the closed loop (SQLAlchemy Core): policies, retrainings, and the cursors that say
which alerts and dataset versions a policy has seen."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Row, func, insert, select, update

from cairn.store.db.schema import (
    dataset_versions,
    datasets,
    monitor_alerts,
    prediction_log_files,
    retrain_policies,
    retrainings,
)

_p = retrain_policies
_r = retrainings

#: States of a retraining that is not over.
OPEN = ("queued", "running")


def policy_row(conn: Connection, model: str) -> Row[Any] | None:
    """The policy of ``model``, or None."""
    return conn.execute(select(_p).where(_p.c.model == model)).first()


def policy_rows(conn: Connection, *, enabled_only: bool = False) -> list[Row[Any]]:
    """Every policy, by model."""
    query = select(_p).order_by(_p.c.model)
    if enabled_only:
        query = query.where(_p.c.enabled.is_(True))
    return list(conn.execute(query))


def insert_policy(conn: Connection, values: Mapping[str, Any]) -> None:
    """Add a policy."""
    conn.execute(insert(_p).values(**values))


def update_policy(conn: Connection, model: str, values: Mapping[str, Any]) -> None:
    """Change a policy's columns."""
    conn.execute(update(_p).where(_p.c.model == model).values(**values))


def delete_policy(conn: Connection, model: str) -> None:
    """Remove a policy (its retraining records stay)."""
    conn.execute(_p.delete().where(_p.c.model == model))


def claim_policy(conn: Connection, model: str, seen_claim: int, values: Mapping[str, Any]) -> bool:
    """Bump the policy's claim counter (with ``values``) if no other scheduler did since it
    was read; True when this caller won."""
    result = conn.execute(
        update(_p)
        .where(_p.c.model == model, _p.c.claim == seen_claim)
        .values(claim=_p.c.claim + 1, **values)
    )
    return result.rowcount == 1


def new_alerts(conn: Connection, model: str, rules: Sequence[str], after_id: int) -> list[Row[Any]]:
    """Alerts of ``model`` fired by one of ``rules`` after alert ``after_id``, oldest first."""
    if not rules:
        return []
    return list(
        conn.execute(
            select(monitor_alerts)
            .where(
                monitor_alerts.c.subject == model,
                monitor_alerts.c.rule.in_(list(rules)),
                monitor_alerts.c.id > after_id,
            )
            .order_by(monitor_alerts.c.id)
        )
    )


def newest_alert_id(conn: Connection) -> int:
    """The id of the newest alert (0 when none)."""
    return int(conn.execute(select(func.max(monitor_alerts.c.id))).scalar() or 0)


def new_versions(conn: Connection, names: Sequence[str], after_id: int) -> list[Row[Any]]:
    """Live versions of the datasets ``names`` added after version id ``after_id``, oldest
    first: (id, name, number)."""
    if not names:
        return []
    return list(
        conn.execute(
            select(dataset_versions.c.id, datasets.c.name, dataset_versions.c.number)
            .join(datasets, datasets.c.id == dataset_versions.c.dataset_id)
            .where(
                datasets.c.name.in_(list(names)),
                dataset_versions.c.id > after_id,
                dataset_versions.c.deleted_ms.is_(None),
            )
            .order_by(dataset_versions.c.id)
        )
    )


def newest_version_id(conn: Connection) -> int:
    """The id of the newest dataset version (0 when none)."""
    return int(conn.execute(select(func.max(dataset_versions.c.id))).scalar() or 0)


def insert_retraining(conn: Connection, values: Mapping[str, Any]) -> int:
    """Add a retraining; return its number."""
    result = conn.execute(insert(_r).values(**values))
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def retraining_row(conn: Connection, number: int) -> Row[Any] | None:
    """Retraining ``number``, or None."""
    return conn.execute(select(_r).where(_r.c.id == number)).first()


def retraining_rows(
    conn: Connection,
    *,
    model: str | None = None,
    states: Sequence[str] | None = None,
    limit: int | None = None,
    oldest_first: bool = False,
) -> list[Row[Any]]:
    """Retrainings, newest first (or oldest first), of one model or all, in ``states``."""
    query = select(_r)
    if model is not None:
        query = query.where(_r.c.model == model)
    if states is not None:
        query = query.where(_r.c.state.in_(list(states)))
    query = query.order_by(_r.c.id if oldest_first else _r.c.id.desc())
    if limit is not None:
        query = query.limit(limit)
    return list(conn.execute(query))


def update_retraining(
    conn: Connection, number: int, values: Mapping[str, Any], *, owner: str | None = None
) -> bool:
    """Change a retraining's columns (only while ``owner`` holds it, when given); True when
    the row changed."""
    query = update(_r).where(_r.c.id == number)
    if owner is not None:
        query = query.where(_r.c.owner == owner, _r.c.state == "running")
    return conn.execute(query.values(**values)).rowcount == 1


def take_retraining(
    conn: Connection, number: int, seen_claim: int, values: Mapping[str, Any]
) -> bool:
    """Hold retraining ``number`` if no other scheduler took it since it was read."""
    result = conn.execute(
        update(_r)
        .where(_r.c.id == number, _r.c.claim == seen_claim)
        .values(claim=_r.c.claim + 1, attempts=_r.c.attempts + 1, **values)
    )
    return result.rowcount == 1


def logged_rows(conn: Connection, model: str, version: int, since_ms: int) -> int:
    """Rows of ``version`` in the sealed prediction log of ``model`` (the name it is served
    under) logged from ``since_ms`` on (files begun earlier are left out)."""
    f = prediction_log_files
    query = select(func.coalesce(func.sum(f.c.rows), 0)).where(
        f.c.model == model, f.c.version == version, f.c.first_ms >= since_ms
    )
    return int(conn.execute(query).scalar_one())
