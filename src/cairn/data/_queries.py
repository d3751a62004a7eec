"""SQL of the data catalog (SQLAlchemy Core), one function per question or change."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, func, select, update

from cairn.core.errors import InvalidInputError, NotFoundError
from cairn.data.dataset import CatalogEvent, DatasetVersion, FileEntry, TableFacts
from cairn.store.db.dialect import insert_ignore, upsert
from cairn.store.db.schema import (
    dataset_events,
    dataset_tags,
    dataset_versions,
    datasets,
    manifest_files,
    manifests,
    runs,
    table_facts,
)

CATALOG_FIELDS = ("description", "owner", "frequency", "source")
_FILE_BATCH = 2000


def dataset_id(conn: Connection, name: str) -> int | None:
    """The id of dataset ``name``, or None."""
    value = conn.execute(select(datasets.c.id).where(datasets.c.name == name)).scalar()
    return None if value is None else int(value)


def require_dataset(conn: Connection, name: str) -> int:
    """The id of dataset ``name``; a clear error when there is none."""
    found = dataset_id(conn, name)
    if found is None:
        known = conn.execute(select(datasets.c.name).order_by(datasets.c.name).limit(10))
        names = ", ".join(known.scalars()) or "none yet"
        raise NotFoundError(
            f"no dataset named {name!r} (known: {names}); add it with cairn data add PATH "
            f"--name {name}"
        )
    return found


def lock_dataset(conn: Connection, name: str, now: int) -> int:
    """Create dataset ``name`` if needed and lock it for the rest of the transaction."""
    insert_ignore(conn, datasets, [{"name": name, "created_ms": now, "updated_ms": now}])
    query = select(datasets.c.id).where(datasets.c.name == name)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()  # SQLite's BEGIN IMMEDIATE already serialises writers
    return int(conn.execute(query).scalar_one())


def set_fields(
    conn: Connection,
    ds_id: int,
    fields: Mapping[str, str | None],
    now: int,
    user: str | None,
) -> list[str]:
    """Set catalog fields, recording each change as an event; return the fields changed."""
    row = conn.execute(
        select(*(datasets.c[f] for f in CATALOG_FIELDS)).where(datasets.c.id == ds_id)
    ).one()
    current = dict(zip(CATALOG_FIELDS, row, strict=True))
    changed = [f for f, v in fields.items() if current.get(f) != v]
    if changed:
        conn.execute(
            update(datasets)
            .where(datasets.c.id == ds_id)
            .values(**{f: fields[f] for f in changed}, updated_ms=now)
        )
        conn.execute(
            dataset_events.insert(),
            [
                {
                    "dataset_id": ds_id,
                    "ts_ms": now,
                    "user": user,
                    "field": f,
                    "old": current.get(f),
                    "new": fields[f],
                }
                for f in changed
            ],
        )
    return changed


def set_tags(
    conn: Connection, ds_id: int, tags: Mapping[str, str], now: int, user: str | None
) -> None:
    """Set tags on a dataset (each change recorded as an event)."""
    if not tags:
        return
    old = dict(
        conn.execute(
            select(dataset_tags.c.key, dataset_tags.c.value).where(
                dataset_tags.c.dataset_id == ds_id
            )
        ).tuples()
    )
    rows = [{"dataset_id": ds_id, "key": k, "value": v} for k, v in tags.items() if old.get(k) != v]
    if rows:
        upsert(conn, dataset_tags, rows, ["dataset_id", "key"], ["value"])
        conn.execute(
            dataset_events.insert(),
            [
                {
                    "dataset_id": ds_id,
                    "ts_ms": now,
                    "user": user,
                    "field": f"tag:{r['key']}",
                    "old": old.get(r["key"]),
                    "new": r["value"],
                }
                for r in rows
            ],
        )


def latest_manifest_digest(conn: Connection, ds_id: int) -> str | None:
    """The manifest digest of the dataset's newest live version."""
    return conn.execute(
        select(manifests.c.digest)
        .join(dataset_versions, dataset_versions.c.manifest_id == manifests.c.id)
        .where(dataset_versions.c.dataset_id == ds_id, dataset_versions.c.deleted_ms.is_(None))
        .order_by(dataset_versions.c.number.desc())
        .limit(1)
    ).scalar()


def ensure_manifest(conn: Connection, digest: str, entries: Sequence[FileEntry], now: int) -> int:
    """The id of the manifest ``digest``, creating it with its files if it is new."""
    found = conn.execute(select(manifests.c.id).where(manifests.c.digest == digest)).scalar()
    if found is not None:
        return int(found)
    size = sum(e.size for e in entries)
    insert_ignore(
        conn,
        manifests,
        [{"digest": digest, "file_count": len(entries), "size": size, "created_ms": now}],
    )
    manifest_id = int(
        conn.execute(select(manifests.c.id).where(manifests.c.digest == digest)).scalar_one()
    )
    for start in range(0, len(entries), _FILE_BATCH):
        insert_ignore(
            conn,
            manifest_files,
            [
                {"manifest_id": manifest_id, "path": e.path, "digest": e.digest, "size": e.size}
                for e in entries[start : start + _FILE_BATCH]
            ],
        )
    return manifest_id


def insert_version(
    conn: Connection, ds_id: int, manifest_id: int, values: Mapping[str, Any]
) -> tuple[int, int]:
    """Add the next version of the dataset (numbers are never reused); return (id, number)."""
    last = conn.execute(
        select(func.max(dataset_versions.c.number)).where(dataset_versions.c.dataset_id == ds_id)
    ).scalar()
    number = int(last or 0) + 1
    result = conn.execute(
        dataset_versions.insert().values(
            dataset_id=ds_id, number=number, manifest_id=manifest_id, **values
        )
    )
    key = result.inserted_primary_key
    if key is None:  # every supported dialect reports it; guard the type
        raise RuntimeError("the database did not report the new version's id")
    return int(key[0]), number


def run_db_id(conn: Connection, uid: str) -> int | None:
    """The database id of the run ``uid``."""
    value = conn.execute(select(runs.c.id).where(runs.c.uid == uid)).scalar()
    return None if value is None else int(value)


_VERSION_COLUMNS = (
    dataset_versions.c.id,
    datasets.c.name,
    dataset_versions.c.number,
    manifests.c.digest,
    manifests.c.file_count,
    manifests.c.size,
    dataset_versions.c.created_ms,
    dataset_versions.c.user,
    runs.c.uid,
    dataset_versions.c.location,
    dataset_versions.c.deleted_ms,
    dataset_versions.c.manifest_id,
)


def _version_select() -> Any:
    return (
        select(*_VERSION_COLUMNS)
        .join(datasets, datasets.c.id == dataset_versions.c.dataset_id)
        .join(manifests, manifests.c.id == dataset_versions.c.manifest_id)
        .outerjoin(runs, runs.c.id == dataset_versions.c.run_id)
    )


def _to_version(row: Any) -> DatasetVersion:
    return DatasetVersion(
        dataset=row[1],
        number=int(row[2]),
        digest=row[3],
        file_count=int(row[4]),
        size=int(row[5]),
        created_ms=int(row[6]),
        user=row[7],
        run_id=row[8],
        location=row[9],
        deleted=row[10] is not None,
    )


def resolve_version(
    conn: Connection, name: str, number: int | None, *, include_deleted: bool = False
) -> tuple[int, int, DatasetVersion]:
    """Find ``name@vN`` (the newest live version when ``number`` is None).

    Returns (version id, manifest id, version).
    """
    ds_id = require_dataset(conn, name)
    query = _version_select().where(dataset_versions.c.dataset_id == ds_id)
    if number is None:
        query = (
            query.where(dataset_versions.c.deleted_ms.is_(None))
            .order_by(dataset_versions.c.number.desc())
            .limit(1)
        )
    else:
        query = query.where(dataset_versions.c.number == number)
    row = conn.execute(query).first()
    if row is None:
        count = conn.execute(
            select(func.count()).where(dataset_versions.c.dataset_id == ds_id)
        ).scalar_one()
        if number is None:
            raise NotFoundError(
                f"dataset {name!r} has no live version; add one with cairn data add"
            )
        raise NotFoundError(
            f"dataset {name!r} has no version v{number} (it has {count}: v1 to v{count}); "
            f"use {name}@v1 ... {name}@v{count}, or {name} for the latest"
        )
    if row[10] is not None and not include_deleted:
        raise InvalidInputError(f"{name}@v{number} was deleted; restore it or use another version")
    return int(row[0]), int(row[11]), _to_version(row)


def versions_of(conn: Connection, ds_ids: Iterable[int] | None = None) -> list[DatasetVersion]:
    """Every version of the given datasets (all when None), oldest first."""
    query = _version_select().order_by(datasets.c.name, dataset_versions.c.number)
    if ds_ids is not None:
        query = query.where(dataset_versions.c.dataset_id.in_(list(ds_ids)))
    return [_to_version(r) for r in conn.execute(query)]


def version_ids(conn: Connection, ds_id: int) -> dict[int, int]:
    """Version number -> version id for one dataset."""
    rows = conn.execute(
        select(dataset_versions.c.number, dataset_versions.c.id).where(
            dataset_versions.c.dataset_id == ds_id
        )
    )
    return {int(n): int(i) for n, i in rows}


def files_of(conn: Connection, manifest_id: int) -> list[FileEntry]:
    """The files of a manifest, sorted by path."""
    rows = conn.execute(
        select(manifest_files.c.path, manifest_files.c.size, manifest_files.c.digest)
        .where(manifest_files.c.manifest_id == manifest_id)
        .order_by(manifest_files.c.path)
    )
    return [FileEntry(p, int(s), d) for p, s, d in rows]


def table_facts_of(conn: Connection, digests: Iterable[str]) -> dict[str, TableFacts]:
    """Known table facts for file digests."""
    wanted = list(digests)
    found: dict[str, TableFacts] = {}
    for start in range(0, len(wanted), 500):
        rows = conn.execute(
            select(table_facts).where(table_facts.c.digest.in_(wanted[start : start + 500]))
        )
        for digest, fmt, columns, rows_count in rows:
            pairs = [(str(c[0]), str(c[1])) for c in json.loads(columns)]
            found[digest] = TableFacts(fmt, pairs, int(rows_count))
    return found


def save_table_facts(conn: Connection, facts: Mapping[str, TableFacts]) -> None:
    """Remember table facts by file digest."""
    insert_ignore(
        conn,
        table_facts,
        [
            {"digest": d, "format": f.format, "columns": json.dumps(f.columns), "rows": f.rows}
            for d, f in facts.items()
        ],
    )


def events_of(conn: Connection, ds_id: int) -> list[CatalogEvent]:
    """The catalog edits of a dataset, oldest first."""
    rows = conn.execute(
        select(
            dataset_events.c.ts_ms,
            dataset_events.c.user,
            dataset_events.c.field,
            dataset_events.c.old,
            dataset_events.c.new,
        )
        .where(dataset_events.c.dataset_id == ds_id)
        .order_by(dataset_events.c.id)
    )
    return [CatalogEvent(int(t), u, f, o, n) for t, u, f, o, n in rows]
