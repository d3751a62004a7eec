"""The catalog: list, show, diff, edit, remove and restore datasets and their versions.

Every function is one read or one transaction. Catalog fields are edited in place (each
change kept as an event); versions are never changed except to be marked deleted or restored.
``status`` compares a local folder with a version without recording anything.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from sqlalchemy import Connection

from cairn.core.checks import check_name, check_path, check_tags, show
from cairn.core.errors import InvalidInputError, RunNotFoundError
from cairn.core.ids import now_ms
from cairn.core.settings import get_settings
from cairn.core.threads import leave_signals_to_main_thread
from cairn.core.user import current_user
from cairn.data import _client, _queries
from cairn.data._frequency import is_stale
from cairn.data._hashing import hash_local as _hash_local
from cairn.data._refs import check_name as check_dataset_name
from cairn.data._refs import parse_ref
from cairn.data._scan import Found, is_url, scan_local
from cairn.data._stat_cache import StatCache
from cairn.data._tables import table_format
from cairn.data.dataset import (
    Dataset,
    DatasetDetail,
    DatasetVersion,
    FileChange,
    FileEntry,
    StatusResult,
    TableChange,
    TableFacts,
    VersionDiff,
)
from cairn.data.ingest import catalog_fields
from cairn.store import get_store

HASH_WORKERS = 16


def _datasets(conn: Connection, ds_ids: Iterable[int] | None, now: int) -> list[Dataset]:
    ids = None if ds_ids is None else list(ds_ids)
    tags = _queries.tags_of(conn, ids)
    latest = _queries.latest_live(conn, ids)
    found = []
    for row in _queries.catalog_rows(conn, ids):
        version, live = latest.get(row.name, (None, 0))
        found.append(
            Dataset(
                name=row.name,
                description=row.description,
                owner=row.owner,
                frequency=row.frequency,
                source=row.source,
                created_ms=int(row.created_ms),
                updated_ms=int(row.updated_ms),
                tags=tags.get(int(row.id), {}),
                latest=version,
                version_count=live,
                stale=is_stale(row.frequency, version.created_ms if version else None, now),
            )
        )
    return found


def list_datasets() -> list[Dataset]:
    """Every dataset, by name, with its latest live version and whether it is overdue."""
    store = get_store()
    if store.remote is not None:
        return _client.list_datasets(store.remote)
    with store.db.read() as conn:
        return _datasets(conn, None, now_ms())


def run_datasets(run_id: str) -> list[tuple[str, DatasetVersion]]:
    """The dataset versions the run ``run_id`` (its full id) read (``"input"``) and wrote
    (``"output"``)."""
    check_name(run_id, "run id", max_length=None)
    store = get_store()
    if store.remote is not None:
        return _client.run_datasets(store.remote, run_id)
    with store.db.read() as conn:
        if _queries.run_db_id(conn, run_id) is None:  # a misspelt id is not "read nothing"
            raise RunNotFoundError(
                f"no run with id {show(run_id)}; list runs with 'cairn runs ls' and give the "
                "full id"
            )
        return _queries.run_versions(conn, run_id)


def stale_datasets() -> list[Dataset]:
    """The datasets whose latest version is older than their declared frequency allows."""
    return [d for d in list_datasets() if d.stale]


def show_dataset(name: str) -> DatasetDetail:
    """The dataset ``name`` with every version, its tables, the runs that used it and its
    history (a ``name@vN`` reference shows the whole dataset too)."""
    name, _ = parse_ref(name)
    store = get_store()
    if store.remote is not None:
        return _client.show_dataset(store.remote, name)
    with store.db.read() as conn:
        ds_id = _queries.require_dataset(conn, name)
        (dataset,) = _datasets(conn, [ds_id], now_ms())
        versions = _queries.versions_of(conn, [ds_id])
        numbers = {vid: number for number, vid in _queries.version_ids(conn, ds_id).items()}
        return DatasetDetail(
            dataset=dataset,
            versions=versions,
            tables=_queries.version_tables(conn, ds_id),
            uses=_queries.version_uses(conn, numbers),
            events=_queries.events_of(conn, ds_id),
            models=_queries.version_models(conn, numbers),
        )


def diff_versions(a: str, b: str) -> VersionDiff:
    """What differs from version ``a`` to version ``b`` (``name@v1``, ``name@v2``; ``b`` may
    be a version of another dataset): files added, removed and changed, and for tables,
    rows and columns."""
    ref_a, ref_b = parse_ref(a), parse_ref(b)
    store = get_store()
    if store.remote is not None:
        return _client.diff_versions(store.remote, ref_a, ref_b)
    with store.db.read() as conn:
        _, manifest_a, version_a = _queries.resolve_version(conn, *ref_a)
        _, manifest_b, version_b = _queries.resolve_version(conn, *ref_b)
        files_a = {f.path: f for f in _queries.files_of(conn, manifest_a)}
        files_b = {f.path: f for f in _queries.files_of(conn, manifest_b)}
        tabular = [f.digest for f in (*files_a.values(), *files_b.values()) if table_format(f.path)]
        facts = _queries.table_facts_of(conn, tabular)
    changed = [
        FileChange(path, files_a[path].size, files_b[path].size)
        for path in sorted(files_a.keys() & files_b.keys())
        if files_a[path].digest != files_b[path].digest
    ]
    return VersionDiff(
        a=version_a,
        b=version_b,
        added=[files_b[p] for p in sorted(files_b.keys() - files_a.keys())],
        removed=[files_a[p] for p in sorted(files_a.keys() - files_b.keys())],
        changed=changed,
        tables=_table_changes(files_a, files_b, facts),
    )


def _table_changes(
    files_a: Mapping[str, FileEntry],
    files_b: Mapping[str, FileEntry],
    facts: Mapping[str, TableFacts],
) -> list[TableChange]:
    """Pairs tables by path; a version holding a single table is paired with the other's."""
    tables_a = {p: f for p, f in files_a.items() if f.digest in facts}
    tables_b = {p: f for p, f in files_b.items() if f.digest in facts}
    pairs = [(tables_a[p], tables_b[p]) for p in sorted(tables_a.keys() & tables_b.keys())]
    if not pairs and len(tables_a) == 1 and len(tables_b) == 1:
        pairs = [(next(iter(tables_a.values())), next(iter(tables_b.values())))]
    changes = []
    for file_a, file_b in pairs:
        if file_a.digest == file_b.digest:
            continue
        fa, fb = facts[file_a.digest], facts[file_b.digest]
        columns_a, columns_b = dict(fa.columns), dict(fb.columns)
        changes.append(
            TableChange(
                path_a=file_a.path,
                path_b=file_b.path,
                rows_a=fa.rows,
                rows_b=fb.rows,
                columns_added=[(c, t) for c, t in fb.columns if c not in columns_a],
                columns_removed=[(c, t) for c, t in fa.columns if c not in columns_b],
                types_changed=[
                    (c, t, columns_b[c])
                    for c, t in fa.columns
                    if c in columns_b and columns_b[c] != t
                ],
            )
        )
    return changes


def edit_dataset(
    name: str,
    *,
    description: str | None = None,
    owner: str | None = None,
    frequency: str | None = None,
    source: str | None = None,
    tags: Mapping[str, Any] | None = None,
) -> Dataset:
    """Edit catalog fields of ``name`` (never its versions); each change is recorded.

    An empty string clears a field.
    """
    check_dataset_name(name)
    fields = catalog_fields(description, owner, frequency, source)
    tag_values = {str(k): str(v) for k, v in (check_tags(tags) or {}).items()}
    if not fields and not tag_values:
        raise InvalidInputError(
            f"nothing to edit on {name!r}: give at least one of description, owner, frequency, "
            "source or tags (e.g. cairn data edit NAME --owner ana@team)"
        )
    store = get_store()
    if store.remote is not None:  # None (cleared) travels as "", as the route reads it
        body = {k: "" if v is None else v for k, v in fields.items()}
        return _client.edit_dataset(store.remote, name, {**body, "tags": tag_values})
    user = current_user()

    def edit(conn: Connection) -> Dataset:
        now = now_ms()
        ds_id = _queries.require_dataset(conn, name)
        _queries.set_fields(conn, ds_id, fields, now, user)
        _queries.set_tags(conn, ds_id, tag_values, now, user)
        return _datasets(conn, [ds_id], now)[0]

    return store.db.transact(edit)


def _one_version(ref: str, verb: str) -> tuple[str, int]:
    name, number = parse_ref(ref)
    if number is None:
        raise InvalidInputError(
            f"{verb} needs one version, such as {name}@v1, not {ref!r}: name the version "
            f"explicitly (see cairn data show {name})"
        )
    return name, number


def remove_version(ref: str, *, force: bool = False) -> DatasetVersion:
    """Mark the version ``name@vN`` deleted (reversible with ``restore_version``).

    Refused while a model version was made from it, unless ``force`` (which is recorded).
    """
    name, number = _one_version(ref, "removing")
    store = get_store()
    if store.remote is not None:
        return _client.change_version(store.remote, name, number, f"delete{'?force' * force}")
    user = current_user()

    def remove(conn: Connection) -> DatasetVersion:
        now = now_ms()
        version_id, _, found = _queries.resolve_version(conn, name, number, include_deleted=True)
        if found.deleted:
            raise InvalidInputError(
                f"{found.ref} is already deleted; bring it back with cairn data restore {found.ref}"
            )
        models = _queries.dependent_models(conn, version_id)
        described = ", ".join(f"model {m}" + (f" (run {uid})" if uid else "") for m, uid in models)
        if models and not force:
            raise InvalidInputError(
                f"{found.ref} is not removed: {described} depend(s) on it; remove those first, "
                "or pass --force (force=True) to remove it all the same"
            )
        _queries.mark_deleted(conn, version_id, now, user)
        ds_id = _queries.require_dataset(conn, name)
        if models:  # forced: the history says what was left pointing at the removed version
            _queries.add_event(conn, ds_id, now, user, "force-rm", None, f"v{number}: {described}")
        else:
            _queries.add_event(conn, ds_id, now, user, "rm", None, f"v{number}")
        return _queries.resolve_version(conn, name, number, include_deleted=True)[2]

    return store.db.transact(remove)


def restore_version(ref: str) -> DatasetVersion:
    """Bring back the version ``name@vN`` removed with ``remove_version``."""
    name, number = _one_version(ref, "restoring")
    store = get_store()
    if store.remote is not None:
        return _client.change_version(store.remote, name, number, "restore")
    user = current_user()

    def restore(conn: Connection) -> DatasetVersion:
        now = now_ms()
        version_id, manifest_id, found = _queries.resolve_version(
            conn, name, number, include_deleted=True
        )
        if not found.deleted:
            raise InvalidInputError(f"{found.ref} is not deleted; there is nothing to restore")
        if found.file_count and not _queries.stored_file_count(conn, manifest_id):
            raise InvalidInputError(
                f"{found.ref} cannot be restored: its files were garbage-collected; add the "
                "data again with cairn data add"
            )
        _queries.mark_deleted(conn, version_id, None, None)
        ds_id = _queries.require_dataset(conn, name)
        _queries.add_event(conn, ds_id, now, user, "restore", None, f"v{number}")
        return _queries.resolve_version(conn, name, number)[2]

    return store.db.transact(restore)


def status(name: str, path: str | Path | None = None) -> StatusResult:
    """Compare the files at ``path`` (default: where the latest version was added from) with
    the latest live version of ``name`` (or the version ``name@vN`` names); records nothing.

    Files whose size, mtime and inode the stat cache knows are not read.
    """
    dataset, number = parse_ref(name)
    if path is not None:
        check_path(path, "path")
    store = get_store()
    if store.remote is not None:
        version, listed = _client.resolve(store.remote, dataset, number)
    else:
        with store.db.read() as conn:
            _, manifest_id, version = _queries.resolve_version(conn, dataset, number)
            listed = _queries.files_of(conn, manifest_id)
    recorded = {f.path: f for f in listed}
    location = str(path) if path is not None else version.location
    if not location:
        raise InvalidInputError(
            f"{version.ref} records no location to compare with; give the path: cairn data "
            f"status {dataset} PATH"
        )
    if is_url(location):
        raise InvalidInputError(
            f"status compares local files only, and {location} is remote; download it (cairn "
            f"data get) or give a local path: cairn data status {dataset} PATH"
        )
    root = Path(location).expanduser().resolve()
    found = scan_local(root)
    here = {f.rel: f for f in found}
    candidates = [  # same path and size: only the content can tell (sizes differ: changed)
        f for f in found if f.rel in recorded and recorded[f.rel].size == f.size
    ]
    digests, hashed = _digests(root, candidates)
    changed = [
        f.rel
        for f in found
        if f.rel in recorded
        and (recorded[f.rel].size != f.size or digests[f.rel] != recorded[f.rel].digest)
    ]
    return StatusResult(
        version=version,
        path=str(root),
        added=[f.rel for f in found if f.rel not in recorded],
        removed=sorted(recorded.keys() - here.keys()),
        changed=changed,
        hashed=hashed,
    )


def _digests(root: Path, files: list[Found]) -> tuple[dict[str, str], int]:
    """Digests of ``files`` by relative path (cached ones not read); how many were read."""
    cache = StatCache(get_settings().home_dir / "cache" / "stat.sqlite")
    try:
        known = cache.under(str(root))
        digests: dict[str, str] = {}
        missing: list[Found] = []
        for f in files:
            cached = known.get(f.source)
            if cached is not None and cached[:3] == (f.size, f.mtime_ns, f.inode):
                digests[f.rel] = cached[3]
            else:
                missing.append(f)
        if missing:
            with ThreadPoolExecutor(
                min(HASH_WORKERS, len(missing)), initializer=leave_signals_to_main_thread
            ) as pool:
                for f, digest in zip(missing, pool.map(_hash_local, missing), strict=True):
                    digests[f.rel] = digest
            # The cache is a local index of file contents, not the store: the next status of
            # these files reads nothing.
            cache.remember((f.source, f.size, f.mtime_ns, f.inode, digests[f.rel]) for f in missing)
    finally:
        cache.close()
    return digests, len(missing)
