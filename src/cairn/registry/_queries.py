"""SQL of the model registry (SQLAlchemy Core); every function runs inside the caller's
transaction."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, and_, delete, func, select, update

from cairn.core.errors import ModelNotFoundError
from cairn.core.uris import ModelUri
from cairn.registry.model_version import (
    AliasMove,
    ModelFile,
    ModelVersion,
    RegisteredModel,
    version_from_row,
)
from cairn.store.db.dialect import insert_ignore
from cairn.store.db.schema import (
    model_alias_events,
    model_aliases,
    model_tags,
    model_version_files,
    model_version_tags,
    model_versions,
    models,
    run_artifacts,
    runs,
)


def lock_model(conn: Connection, name: str, now: int) -> int:
    """Create model ``name`` if needed and lock it for the rest of the transaction."""
    insert_ignore(conn, models, [{"name": name, "created_ms": now, "updated_ms": now}])
    query = select(models.c.id).where(models.c.name == name)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()  # SQLite's BEGIN IMMEDIATE already serialises writers
    return int(conn.execute(query).scalar_one())


def model_id(conn: Connection, name: str) -> int:
    """The id of model ``name``; a clear error when there is none."""
    found = conn.execute(select(models.c.id).where(models.c.name == name)).scalar()
    if found is None:
        known = sorted(conn.execute(select(models.c.name)).scalars())
        hint = (
            f"; registered models: {', '.join(known[:20])}"
            if known
            else (
                "; none is registered yet: log one with cairn.log_model(model, name) inside a run"
            )
        )
        raise ModelNotFoundError(f"no model named {name!r}{hint}")
    return int(found)


def insert_version(conn: Connection, mid: int, values: Mapping[str, Any]) -> tuple[int, int]:
    """Add the next version of the model (numbers are never reused); return (id, number)."""
    last = conn.execute(
        select(func.max(model_versions.c.number)).where(model_versions.c.model_id == mid)
    ).scalar()
    number = int(last or 0) + 1
    result = conn.execute(model_versions.insert().values(model_id=mid, number=number, **values))
    key = result.inserted_primary_key
    if key is None:  # every supported dialect reports it; guard the type
        raise RuntimeError("the database did not report the new version's id")
    conn.execute(update(models).where(models.c.id == mid).values(updated_ms=values["created_ms"]))
    return int(key[0]), number


def insert_files(conn: Connection, version_id: int, files: Sequence[ModelFile]) -> None:
    """Record the files of a new version."""
    conn.execute(
        model_version_files.insert(),
        [
            {"version_id": version_id, "path": f.path, "digest": f.digest, "size": f.size}
            for f in files
        ],
    )


def set_tags(
    conn: Connection, table: Any, owner: str, owner_id: int, tags: Mapping[str, str]
) -> None:
    """Set (replace) tags on a model (``table`` model_tags) or a version (model_version_tags)."""
    if not tags:
        return
    column = table.c[owner]
    conn.execute(delete(table).where(and_(column == owner_id, table.c.key.in_(list(tags)))))
    conn.execute(table.insert(), [{owner: owner_id, "key": k, "value": v} for k, v in tags.items()])


def set_model_tags(conn: Connection, mid: int, tags: Mapping[str, str]) -> None:
    """Set tags on a model."""
    set_tags(conn, model_tags, "model_id", mid, tags)


def set_version_tags(conn: Connection, version_id: int, tags: Mapping[str, str]) -> None:
    """Set tags on a model version."""
    set_tags(conn, model_version_tags, "version_id", version_id, tags)


def set_description(
    conn: Connection, mid: int, version_id: int | None, text: str | None, now: int
) -> None:
    """Set the description of a model (``version_id`` None) or of one of its versions."""
    if version_id is None:
        conn.execute(
            update(models).where(models.c.id == mid).values(description=text, updated_ms=now)
        )
    else:
        conn.execute(
            update(model_versions).where(model_versions.c.id == version_id).values(description=text)
        )


def resolve(conn: Connection, uri: ModelUri, *, include_deleted: bool = False) -> int:
    """The version id ``uri`` names: by alias, by number, or the latest live version."""
    mid = model_id(conn, uri.name)
    if uri.alias is not None:
        found = conn.execute(
            select(model_aliases.c.version_id).where(
                model_aliases.c.model_id == mid, model_aliases.c.alias == uri.alias
            )
        ).scalar()
        if found is None:
            aliases = sorted(
                conn.execute(
                    select(model_aliases.c.alias).where(model_aliases.c.model_id == mid)
                ).scalars()
            )
            known = f"its aliases: {', '.join(aliases)}" if aliases else "it has no alias yet"
            raise ModelNotFoundError(
                f"model {uri.name!r} has no alias {uri.alias!r} ({known}); set one with "
                f"cairn models alias {uri.name} {uri.alias} <version>"
            )
        return int(found)
    query = select(model_versions.c.id, model_versions.c.deleted_ms).where(
        model_versions.c.model_id == mid
    )
    if uri.version is not None:
        row = conn.execute(query.where(model_versions.c.number == uri.version)).first()
        if row is None or (row.deleted_ms is not None and not include_deleted):
            last = conn.execute(
                select(func.max(model_versions.c.number)).where(
                    model_versions.c.model_id == mid, model_versions.c.deleted_ms.is_(None)
                )
            ).scalar()
            state = "was deleted" if row is not None else "does not exist"
            raise ModelNotFoundError(
                f"version {uri.version} of model {uri.name!r} {state}; its latest version is {last}"
                if last
                else f"version {uri.version} of model {uri.name!r} {state}"
            )
        return int(row.id)
    row = conn.execute(
        query.where(model_versions.c.deleted_ms.is_(None))
        .order_by(model_versions.c.number.desc())
        .limit(1)
    ).first()
    if row is None:
        raise ModelNotFoundError(f"model {uri.name!r} has no live version")
    return int(row.id)


_VERSION_COLUMNS = (
    model_versions.c.id,
    models.c.name,
    model_versions.c.number,
    model_versions.c.flavor,
    runs.c.uid,
    model_versions.c.artifact_path,
    model_versions.c.created_ms,
    model_versions.c.user,
    model_versions.c.description,
    model_versions.c.signature,
    model_versions.c.requirements,
    model_versions.c.metadata,
    model_versions.c.deleted_ms,
    model_versions.c.model_id,
)


def versions(conn: Connection, ids: Iterable[int]) -> list[ModelVersion]:
    """The model versions with these ids (tags and aliases included), in the order given."""
    wanted = list(ids)
    if not wanted:
        return []
    rows = conn.execute(
        select(*_VERSION_COLUMNS)
        .select_from(
            model_versions.join(models).outerjoin(runs, runs.c.id == model_versions.c.run_id)
        )
        .where(model_versions.c.id.in_(wanted))
    ).all()
    tags: dict[int, dict[str, str]] = {}
    for vid, key, value in conn.execute(
        select(
            model_version_tags.c.version_id, model_version_tags.c.key, model_version_tags.c.value
        ).where(model_version_tags.c.version_id.in_(wanted))
    ):
        tags.setdefault(int(vid), {})[key] = value
    aliases: dict[int, list[str]] = {}
    for vid, alias in conn.execute(
        select(model_aliases.c.version_id, model_aliases.c.alias)
        .where(model_aliases.c.version_id.in_(wanted))
        .order_by(model_aliases.c.alias)
    ):
        aliases.setdefault(int(vid), []).append(alias)
    by_id = {
        int(r.id): version_from_row(r._mapping, tags.get(int(r.id), {}), aliases.get(int(r.id), []))
        for r in rows
    }
    return [by_id[i] for i in wanted if i in by_id]


def version(conn: Connection, version_id: int) -> ModelVersion:
    """One model version."""
    return versions(conn, [version_id])[0]


def version_ids(conn: Connection, mid: int, *, include_deleted: bool) -> list[int]:
    """The ids of a model's versions, newest first."""
    query = select(model_versions.c.id).where(model_versions.c.model_id == mid)
    if not include_deleted:
        query = query.where(model_versions.c.deleted_ms.is_(None))
    return [int(i) for i in conn.execute(query.order_by(model_versions.c.number.desc())).scalars()]


def version_number_id(conn: Connection, mid: int, number: int) -> tuple[int, bool] | None:
    """(id, deleted) of version ``number`` of the model, or None."""
    row = conn.execute(
        select(model_versions.c.id, model_versions.c.deleted_ms).where(
            model_versions.c.model_id == mid, model_versions.c.number == number
        )
    ).first()
    return None if row is None else (int(row.id), row.deleted_ms is not None)


def files(conn: Connection, version_id: int) -> list[ModelFile]:
    """The files of a version, by path."""
    rows = conn.execute(
        select(model_version_files.c.path, model_version_files.c.size, model_version_files.c.digest)
        .where(model_version_files.c.version_id == version_id)
        .order_by(model_version_files.c.path)
    )
    return [ModelFile(p, int(s), d) for p, s, d in rows]


def alias_target(conn: Connection, mid: int, alias: str) -> int | None:
    """The version id ``alias`` points at, or None."""
    found = conn.execute(
        select(model_aliases.c.version_id).where(
            model_aliases.c.model_id == mid, model_aliases.c.alias == alias
        )
    ).scalar()
    return None if found is None else int(found)


def number_of(conn: Connection, version_id: int | None) -> int | None:
    """The number of a version id."""
    if version_id is None:
        return None
    return int(
        conn.execute(
            select(model_versions.c.number).where(model_versions.c.id == version_id)
        ).scalar_one()
    )


def move_alias(
    conn: Connection,
    mid: int,
    alias: str,
    version_id: int | None,
    now: int,
    user: str | None,
    reason: str | None,
) -> tuple[int | None, int | None]:
    """Point ``alias`` at ``version_id`` (None: delete it), keeping the move in the history;
    return (from number, to number). Setting it where it already points records nothing."""
    current = alias_target(conn, mid, alias)
    if current == version_id:
        number = number_of(conn, current)
        return number, number
    if current is not None:
        conn.execute(
            delete(model_aliases).where(
                model_aliases.c.model_id == mid, model_aliases.c.alias == alias
            )
        )
    if version_id is not None:
        conn.execute(
            model_aliases.insert().values(
                model_id=mid, alias=alias, version_id=version_id, updated_ms=now
            )
        )
    moved = (number_of(conn, current), number_of(conn, version_id))
    conn.execute(
        model_alias_events.insert().values(
            model_id=mid,
            alias=alias,
            from_number=moved[0],
            to_number=moved[1],
            ts_ms=now,
            user=user,
            reason=reason,
        )
    )
    conn.execute(update(models).where(models.c.id == mid).values(updated_ms=now))
    return moved


def alias_history(conn: Connection, mid: int) -> list[AliasMove]:
    """Every alias move of a model, oldest first."""
    rows = conn.execute(
        select(model_alias_events)
        .where(model_alias_events.c.model_id == mid)
        .order_by(model_alias_events.c.ts_ms, model_alias_events.c.id)
    )
    return [
        AliasMove(r.alias, r.from_number, r.to_number, int(r.ts_ms), r.user, r.reason) for r in rows
    ]


def aliases_of_version(conn: Connection, version_id: int) -> list[str]:
    """The aliases pointing at a version."""
    return sorted(
        conn.execute(
            select(model_aliases.c.alias).where(model_aliases.c.version_id == version_id)
        ).scalars()
    )


def mark_deleted(conn: Connection, version_id: int, when: int | None, user: str | None) -> None:
    """Mark a version deleted (``when`` set) or live again (``when`` None)."""
    conn.execute(
        update(model_versions)
        .where(model_versions.c.id == version_id)
        .values(deleted_ms=when, deleted_by=user if when is not None else None)
    )


def list_models(conn: Connection) -> list[RegisteredModel]:
    """Every registered model with its latest live version, version count, aliases and tags."""
    stats = {
        int(mid): (latest, count)
        for mid, latest, count in conn.execute(
            select(model_versions.c.model_id, func.max(model_versions.c.number), func.count())
            .where(model_versions.c.deleted_ms.is_(None))
            .group_by(model_versions.c.model_id)
        )
    }
    aliases: dict[int, dict[str, int]] = {}
    for mid, alias, number in conn.execute(
        select(model_aliases.c.model_id, model_aliases.c.alias, model_versions.c.number)
        .select_from(
            model_aliases.join(model_versions, model_versions.c.id == model_aliases.c.version_id)
        )
        .order_by(model_aliases.c.alias)
    ):
        aliases.setdefault(int(mid), {})[alias] = int(number)
    tags: dict[int, dict[str, str]] = {}
    for mid, key, value in conn.execute(
        select(model_tags.c.model_id, model_tags.c.key, model_tags.c.value)
    ):
        tags.setdefault(int(mid), {})[key] = value
    out = []
    for row in conn.execute(select(models).order_by(models.c.name)):
        latest, count = stats.get(int(row.id), (None, 0))
        out.append(
            RegisteredModel(
                name=row.name,
                description=row.description,
                created_ms=int(row.created_ms),
                updated_ms=int(row.updated_ms),
                latest_version=None if latest is None else int(latest),
                version_count=int(count),
                aliases=aliases.get(int(row.id), {}),
                tags=tags.get(int(row.id), {}),
            )
        )
    return out


def run_db_id(conn: Connection, uid: str) -> int | None:
    """The database id of the run ``uid``."""
    value = conn.execute(select(runs.c.id).where(runs.c.uid == uid)).scalar()
    return None if value is None else int(value)


def version_ids_of_runs(conn: Connection, run_ids: Sequence[int]) -> dict[int, list[int]]:
    """Live model version ids per run database id."""
    out: dict[int, list[int]] = {}
    if not run_ids:
        return out
    for rid, vid in conn.execute(
        select(model_versions.c.run_id, model_versions.c.id).where(
            model_versions.c.run_id.in_(list(run_ids))
        )
    ):
        out.setdefault(int(rid), []).append(int(vid))
    return out


def artifact_roots(conn: Connection, run_uid: str, prefix: str) -> set[str]:
    """The first path parts of a run's artifacts that start with ``prefix``."""
    rows = conn.execute(
        select(run_artifacts.c.path)
        .select_from(run_artifacts.join(runs, runs.c.id == run_artifacts.c.run_id))
        .where(runs.c.uid == run_uid, run_artifacts.c.path.startswith(prefix, autoescape=True))
    ).scalars()
    return {path.split("/", 1)[0] for path in rows}


def run_artifact_files(conn: Connection, run_uid: str, prefix: str) -> list[ModelFile] | None:
    """The files of a run under the folder ``prefix`` (paths relative to it); None: no run."""
    rid = run_db_id(conn, run_uid)
    if rid is None:
        return None
    rows = conn.execute(
        select(run_artifacts.c.path, run_artifacts.c.size, run_artifacts.c.digest)
        .where(
            run_artifacts.c.run_id == rid,
            run_artifacts.c.path.startswith(prefix + "/", autoescape=True),
        )
        .order_by(run_artifacts.c.path)
    )
    return [ModelFile(p[len(prefix) + 1 :], int(s), d) for p, s, d in rows]


def version_of_run_path(conn: Connection, run_uid: str, path: str) -> int | None:
    """The model version logged by run ``run_uid`` at ``path``, if one was registered."""
    found = conn.execute(
        select(model_versions.c.id)
        .select_from(model_versions.join(runs, runs.c.id == model_versions.c.run_id))
        .where(runs.c.uid == run_uid, model_versions.c.artifact_path == path)
        .order_by(model_versions.c.id.desc())
        .limit(1)
    ).scalar()
    return None if found is None else int(found)
