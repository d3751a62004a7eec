"""SQL of the data catalog (SQLAlchemy Core), one function per question or change."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, and_, func, select, update

from cairn.core.errors import InvalidInputError, NotFoundError
from cairn.data.dataset import (
    CatalogEvent,
    DatasetVersion,
    FileEntry,
    ModelUse,
    TableFacts,
    VersionUse,
)
from cairn.store.db.dialect import insert_ignore, upsert
from cairn.store.db.schema import (
    dataset_events,
    dataset_tags,
    dataset_versions,
    datasets,
    manifest_files,
    manifests,
    model_versions,
    models,
    runs,
    table_facts,
)
from cairn.store.lineage import (
    DATASET_VERSION,
    INPUT,
    MODEL_VERSION,
    OUTPUT,
    RUN,
    Node,
    edges_into,
    edges_out_of,
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
    query = select(dataset_tags.c.key, dataset_tags.c.value)
    old = {k: v for k, v in conn.execute(query.where(dataset_tags.c.dataset_id == ds_id))}
    rows = [{"dataset_id": ds_id, "key": k, "value": v} for k, v in tags.items() if old.get(k) != v]
    if rows:
        upsert(conn, dataset_tags, rows, ["dataset_id", "key"], ["value"])
        conn.execute(update(datasets).where(datasets.c.id == ds_id).values(updated_ms=now))
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
    """The id of the manifest ``digest``, creating it with its files if it is new.

    A manifest whose file list gc dropped (all its versions were deleted) gets its files back:
    reusing the row as it is would make a version whose files are gone.
    """
    query = select(manifests.c.id).where(manifests.c.digest == digest)
    if conn.dialect.name == "postgresql":
        # gc locks the row before dropping its files: one waits for the other, so the check
        # below never sees a file list that is about to go.
        query = query.with_for_update()
    found = conn.execute(query).scalar()
    if found is not None:
        manifest_id = int(found)
        if entries and not _has_files(conn, manifest_id):
            _insert_files(conn, manifest_id, entries)
        return manifest_id
    size = sum(e.size for e in entries)
    insert_ignore(
        conn,
        manifests,
        [{"digest": digest, "file_count": len(entries), "size": size, "created_ms": now}],
    )
    manifest_id = int(conn.execute(query).scalar_one())
    _insert_files(conn, manifest_id, entries)
    return manifest_id


def _has_files(conn: Connection, manifest_id: int) -> bool:
    """Whether the store still lists any file of the manifest."""
    first = select(manifest_files.c.path).where(manifest_files.c.manifest_id == manifest_id)
    return conn.execute(first.limit(1)).first() is not None


def _insert_files(conn: Connection, manifest_id: int, entries: Sequence[FileEntry]) -> None:
    for start in range(0, len(entries), _FILE_BATCH):
        insert_ignore(
            conn,
            manifest_files,
            [
                {"manifest_id": manifest_id, "path": e.path, "digest": e.digest, "size": e.size}
                for e in entries[start : start + _FILE_BATCH]
            ],
        )


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
        raise InvalidInputError(
            f"{name}@v{number} was deleted; restore it with cairn data restore {name}@v{number}, "
            "or use another version"
        )
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


# --- the catalog: listing, showing, removing ---------------------------------------------


def catalog_rows(conn: Connection, ds_ids: Iterable[int] | None = None) -> list[Any]:
    """Rows of ``datasets`` (all when ``ds_ids`` is None), by name."""
    query = select(datasets).order_by(datasets.c.name)
    if ds_ids is not None:
        query = query.where(datasets.c.id.in_(list(ds_ids)))
    return list(conn.execute(query))


def tags_of(conn: Connection, ds_ids: Iterable[int] | None = None) -> dict[int, dict[str, str]]:
    """Dataset id -> its tags (all datasets when ``ds_ids`` is None)."""
    query = select(dataset_tags.c.dataset_id, dataset_tags.c.key, dataset_tags.c.value).order_by(
        dataset_tags.c.dataset_id, dataset_tags.c.key
    )
    if ds_ids is not None:
        query = query.where(dataset_tags.c.dataset_id.in_(list(ds_ids)))
    found: dict[int, dict[str, str]] = {}
    for ds_id, key, value in conn.execute(query):
        found.setdefault(int(ds_id), {})[key] = value
    return found


def latest_live(
    conn: Connection, ds_ids: Iterable[int] | None = None
) -> dict[str, tuple[DatasetVersion, int]]:
    """Dataset name -> (its newest live version, how many live versions it has)."""
    live = (
        select(
            dataset_versions.c.dataset_id.label("dataset_id"),
            func.max(dataset_versions.c.number).label("number"),
            func.count().label("live"),
        )
        .where(dataset_versions.c.deleted_ms.is_(None))
        .group_by(dataset_versions.c.dataset_id)
    )
    if ds_ids is not None:
        live = live.where(dataset_versions.c.dataset_id.in_(list(ds_ids)))
    newest = live.subquery()
    query = (
        _version_select()
        .add_columns(newest.c.live)
        .join(
            newest,
            and_(
                newest.c.dataset_id == dataset_versions.c.dataset_id,
                newest.c.number == dataset_versions.c.number,
            ),
        )
    )
    return {row[1]: (_to_version(row), int(row[12])) for row in conn.execute(query)}


def _parse_facts(fmt: str, columns: str, rows: int) -> TableFacts:
    return TableFacts(fmt, [(str(c[0]), str(c[1])) for c in json.loads(columns)], int(rows))


def version_tables(conn: Connection, ds_id: int) -> dict[int, dict[str, TableFacts]]:
    """Version number -> file path -> facts, for the dataset's files that are tables."""
    rows = conn.execute(
        select(
            dataset_versions.c.number,
            manifest_files.c.path,
            table_facts.c.format,
            table_facts.c.columns,
            table_facts.c.rows,
        )
        .select_from(dataset_versions)
        .join(manifest_files, manifest_files.c.manifest_id == dataset_versions.c.manifest_id)
        .join(table_facts, table_facts.c.digest == manifest_files.c.digest)
        .where(dataset_versions.c.dataset_id == ds_id)
        .order_by(dataset_versions.c.number, manifest_files.c.path)
    )
    found: dict[int, dict[str, TableFacts]] = {}
    for number, path, fmt, columns, count in rows:
        found.setdefault(int(number), {})[path] = _parse_facts(fmt, columns, count)
    return found


def version_uses(conn: Connection, numbers: Mapping[int, int]) -> dict[int, list[VersionUse]]:
    """Version number -> the runs that read it (input) or wrote it (output), oldest first.

    ``numbers`` maps version ids to version numbers.
    """
    nodes = [Node(DATASET_VERSION, i) for i in numbers]
    links: list[tuple[int, int, str, int]] = []  # (version id, run id, relation, created)
    for edge in edges_out_of(conn, nodes):
        if edge.dst.kind == RUN and edge.relation == INPUT:
            links.append((edge.src.id, edge.dst.id, INPUT, edge.created_ms))
    for edge in edges_into(conn, nodes):
        if edge.src.kind == RUN and edge.relation == OUTPUT:
            links.append((edge.dst.id, edge.src.id, OUTPUT, edge.created_ms))
    run_ids = sorted({link[1] for link in links})
    names = {
        int(i): (uid, name)
        for i, uid, name in conn.execute(
            select(runs.c.id, runs.c.uid, runs.c.name).where(runs.c.id.in_(run_ids))
        )
    }
    found: dict[int, list[VersionUse]] = {}
    for version_id, run_id, relation, created in sorted(links, key=lambda link: link[3]):
        if run_id in names:  # a run removed for good leaves its edges behind
            uid, name = names[run_id]
            found.setdefault(numbers[version_id], []).append(
                VersionUse(uid, name, relation, created)
            )
    return found


def dependent_models(conn: Connection, version_id: int) -> list[tuple[str, str | None]]:
    """Live model versions made from a dataset version: (``name/N``, run uid or None).

    A model depends on the version when a run read the version and wrote the model, or when
    an edge leads straight from the version to the model.
    """
    out = edges_out_of(conn, [Node(DATASET_VERSION, version_id)])
    found = [(e.dst.id, None) for e in out if e.dst.kind == MODEL_VERSION]
    readers = sorted({e.dst.id for e in out if e.dst.kind == RUN and e.relation == INPUT})
    if readers:
        query = select(runs.c.id, runs.c.uid).where(runs.c.id.in_(readers))
        uids = {int(i): uid for i, uid in conn.execute(query)}
        for edge in edges_out_of(conn, [Node(RUN, r) for r in readers]):
            if edge.dst.kind == MODEL_VERSION:
                found.append((edge.dst.id, uids.get(edge.src.id)))
    unique: dict[int, str | None] = {}
    for model_id, uid in found:
        unique.setdefault(model_id, uid)
    labels = _model_labels(conn, list(unique))
    return sorted((labels[i], uid) for i, uid in unique.items() if i in labels)


def _model_labels(conn: Connection, ids: list[int]) -> dict[int, str]:
    """``name/N`` of the live model versions among ``ids``."""
    if not ids:
        return {}
    rows = conn.execute(
        select(model_versions.c.id, models.c.name, model_versions.c.number)
        .select_from(model_versions.join(models))
        .where(model_versions.c.id.in_(ids), model_versions.c.deleted_ms.is_(None))
    )
    return {int(i): f"{name}/{number}" for i, name, number in rows}


def version_models(conn: Connection, numbers: Mapping[int, int]) -> dict[int, list[ModelUse]]:
    """Version number -> the live model versions that depend on it."""
    found: dict[int, list[ModelUse]] = {}
    for version_id, number in numbers.items():
        for label, uid in dependent_models(conn, version_id):
            found.setdefault(number, []).append(ModelUse(label, uid))
    return found


def mark_deleted(conn: Connection, version_id: int, when: int | None, user: str | None) -> None:
    """Mark a version deleted (``when`` set) or live again (``when`` None)."""
    conn.execute(
        update(dataset_versions)
        .where(dataset_versions.c.id == version_id)
        .values(deleted_ms=when, deleted_by=user if when is not None else None)
    )


def add_event(
    conn: Connection,
    ds_id: int,
    now: int,
    user: str | None,
    field: str,
    old: str | None,
    new: str | None,
) -> None:
    """Record one event in the dataset's history."""
    conn.execute(
        dataset_events.insert().values(
            dataset_id=ds_id, ts_ms=now, user=user, field=field, old=old, new=new
        )
    )


def stored_file_count(conn: Connection, manifest_id: int) -> int:
    """How many files of a manifest the store still lists (0 after gc removed them)."""
    return int(
        conn.execute(
            select(func.count()).where(manifest_files.c.manifest_id == manifest_id)
        ).scalar_one()
    )


def run_versions(conn: Connection, run_uid: str) -> list[tuple[str, DatasetVersion]]:
    """The dataset versions a run read (``input``) or wrote (``output``), in that order."""
    run_id = run_db_id(conn, run_uid)
    if run_id is None:
        return []
    node = Node(RUN, run_id)
    links = [(INPUT, e.src.id) for e in edges_into(conn, [node]) if e.src.kind == DATASET_VERSION]
    links += [
        (OUTPUT, e.dst.id) for e in edges_out_of(conn, [node]) if e.dst.kind == DATASET_VERSION
    ]
    if not links:
        return []
    rows = conn.execute(
        _version_select().where(dataset_versions.c.id.in_([i for _, i in links]))
    ).all()
    by_id = {int(r[0]): _to_version(r) for r in rows}
    return [(relation, by_id[i]) for relation, i in links if i in by_id]
