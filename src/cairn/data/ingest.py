"""Recording a version of a dataset: the database part of ``add``, for both of its paths.

A local ``cairn.data.add`` hashes and stores the files itself and then calls
``record_version``; a cairn server calls ``ingest_version`` with a client's manifest (its
objects uploaded first), which checks every value as the Python API does and that every object
is stored, then records the version the same way. Either way a version is recorded in one
transaction, and content equal to the latest live version makes no new one ("unchanged"), so
a request sent twice is applied once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection

from cairn.core.checks import check_text, show
from cairn.core.errors import ArtifactNotFoundError, InvalidInputError
from cairn.core.hashing import hash_bytes, split_digest
from cairn.core.ids import now_ms
from cairn.data import _queries
from cairn.data._frequency import check_frequency
from cairn.data._manifest import manifest_bytes
from cairn.data._refs import check_name
from cairn.data.dataset import DatasetVersion, FileEntry, TableFacts
from cairn.store import Store
from cairn.store.deletions import record_referencing, watermark
from cairn.store.lineage import DATASET_VERSION, INPUT, OUTPUT, RUN, Node, record_edge

TABLE_FORMATS = ("parquet", "csv")
MAX_PATH = 4096


def catalog_fields(
    description: str | None, owner: str | None, frequency: str | None, source: str | None
) -> dict[str, str | None]:
    """The catalog fields given (None: leave as is; "": clear), the frequency checked."""
    fields: dict[str, str | None] = {}
    for key, value, limit in (
        ("description", description, None),
        ("owner", owner, 255),  # the widths of the datasets table's columns
        ("frequency", frequency, 100),
        ("source", source, None),
    ):
        if value is not None:
            check_text(value, key, max_length=limit)
            fields[key] = value.strip() or None  # an empty text clears the field
    if fields.get("frequency"):
        fields["frequency"] = check_frequency(str(fields["frequency"]))
    return fields


def manifest_of(entries: Sequence[FileEntry]) -> tuple[str, bytes]:
    """The manifest of ``entries`` (sorted by path): its digest and its bytes."""
    body = manifest_bytes(list(entries))
    return hash_bytes(body), body


def record_version(
    store: Store,
    name: str,
    *,
    entries: Sequence[FileEntry],
    facts: Mapping[str, TableFacts],
    fields: Mapping[str, str | None],
    tags: Mapping[str, str],
    details: Mapping[str, Any],
    since: int,
    on_gone: Callable[[set[str]], None],
) -> tuple[DatasetVersion, bool]:
    """Record ``entries`` as the next version of ``name`` in one transaction, unless they equal
    the latest live version; return the version and whether it is new.

    ``details``: ``location``, ``user``, ``run`` (the id of the run adding it, or None) and
    ``forced`` (``(suite, summary)`` when a failing suite was overridden, else None). Every
    object, the manifest's included, must be stored already: if gc deleted any of them since
    the watermark ``since``, ``on_gone`` is called with their digests (to store them again,
    or to refuse).
    """
    digest, _ = manifest_of(entries)
    user = details.get("user")
    run_uid = details.get("run")
    forced = details.get("forced")

    def record(conn: Connection) -> tuple[DatasetVersion, bool]:
        now = now_ms()
        ds_id = _queries.lock_dataset(conn, name, now)
        _queries.set_fields(conn, ds_id, fields, now, user)
        _queries.set_tags(conn, ds_id, tags, now, user)
        _queries.save_table_facts(conn, facts)
        if _queries.latest_manifest_digest(conn, ds_id) == digest:
            return _queries.resolve_version(conn, name, None)[2], False
        manifest_id = _queries.ensure_manifest(conn, digest, entries, now)
        run_id = _queries.run_db_id(conn, run_uid) if run_uid else None
        values = {"created_ms": now, "user": user, "run_id": run_id}
        version_id, number = _queries.insert_version(
            conn, ds_id, manifest_id, {**values, "location": details.get("location")}
        )
        if run_id is not None:
            record_edge(conn, Node(RUN, run_id), Node(DATASET_VERSION, version_id), OUTPUT, now)
        if forced is not None:  # the dataset's history says so, for good
            suite, summary = forced
            note = f"v{number}: {suite}: {summary}"
            _queries.add_event(conn, ds_id, now, user, "forced-suite", None, note)
        return _queries.resolve_version(conn, name, number)[2], True

    return record_referencing(
        store.db, [digest, *(e.digest for e in entries)], since, record, on_gone
    )


def ingest_version(
    store: Store,
    name: str,
    *,
    files: Sequence[Mapping[str, Any]],
    tables: Mapping[str, Mapping[str, Any]],
    fields: Mapping[str, str | None],
    tags: Mapping[str, str],
    details: Mapping[str, Any],
) -> tuple[DatasetVersion, bool]:
    """Record a client's manifest as the next version of ``name`` (``record_version``), after
    checking every value and that the server stores every object it names."""
    check_name(name)
    entries = check_entries(files)
    facts = check_facts(tables, {e.digest for e in entries})
    checked = catalog_fields(*(fields.get(f) for f in _queries.CATALOG_FIELDS))
    for key, value in tags.items():
        check_text(key, "tag key", max_length=255)
        check_text(value, "tag value")
    location = details.get("location")
    if location is not None:
        check_text(location, "location")
    since = watermark(store.db)  # before any object is looked for (a gc may be running)
    digest, body = manifest_of(entries)
    unique = dict.fromkeys(e.digest for e in entries)
    lacking = [d for d in unique if not store.artifacts.exists(d)]
    if lacking:
        raise ArtifactNotFoundError(
            f"{len(lacking)} object(s) of {name!r} are not on the server (first: {lacking[0]}); "
            "upload them first (PUT /api/v1/artifacts/{digest}), then record the version"
        )
    if not store.artifacts.exists(digest):
        store.artifacts.put_bytes(body)  # the manifest itself, for anyone holding its digest

    def gone(digests: set[str]) -> None:
        raise ArtifactNotFoundError(
            f"{len(digests)} object(s) of {name!r} were removed by gc while the version was "
            "being recorded; add the data again"
        )

    return record_version(
        store,
        name,
        entries=entries,
        facts=facts,
        fields=checked,
        tags=dict(tags),
        details=details,
        since=since,
        on_gone=gone,
    )


def check_entries(files: Sequence[Mapping[str, Any]]) -> list[FileEntry]:
    """A manifest's files, checked (relative paths without '.' or '..' parts, each once;
    digests cairn makes; sizes), sorted by path."""
    if not files:
        raise InvalidInputError("a version holds at least one file; there is nothing to add")
    entries: list[FileEntry] = []
    seen: set[str] = set()
    for item in files:
        path, digest, size = item.get("path"), item.get("digest"), item.get("size")
        if not isinstance(path, str) or not path or len(path) > MAX_PATH:
            raise InvalidInputError(f"a file's path is text of 1 to {MAX_PATH} characters")
        check_text(path, "a file's path")
        parts = path.split("/")
        if path.startswith("/") or any(p in ("", ".", "..") for p in parts):
            raise InvalidInputError(
                f"{show(path)} is not a path inside a version: use '/' between names, without "
                "'.', '..' or empty parts"
            )
        if path in seen:
            raise InvalidInputError(f"the file {show(path)} is listed twice")
        seen.add(path)
        if not isinstance(digest, str):
            raise InvalidInputError(f"the digest of {show(path)} must be text")
        split_digest(digest)  # refuses what is not a digest cairn makes
        if type(size) is not int or size < 0:
            raise InvalidInputError(f"the size of {show(path)} must be a whole number >= 0")
        entries.append(FileEntry(path, size, digest))
    entries.sort(key=lambda e: e.path)
    return entries


def check_facts(
    tables: Mapping[str, Mapping[str, Any]], digests: set[str]
) -> dict[str, TableFacts]:
    """Table facts by file digest, checked; each digest must be one of the version's files."""
    facts: dict[str, TableFacts] = {}
    for digest, found in tables.items():
        if digest not in digests:
            raise InvalidInputError(f"table facts for {show(digest)}, which is no file of it")
        fmt, columns, rows = found.get("format"), found.get("columns"), found.get("rows")
        if fmt not in TABLE_FORMATS:
            raise InvalidInputError(f"a table's format is parquet or csv, not {show(fmt)}")
        if type(rows) is not int or rows < 0:
            raise InvalidInputError(f"a table's row count is a whole number >= 0: {show(rows)}")
        pairs: list[tuple[str, str]] = []
        for column in columns if isinstance(columns, list) else [None]:
            if not (
                isinstance(column, (list, tuple))
                and len(column) == 2
                and all(isinstance(c, str) for c in column)
            ):
                raise InvalidInputError("a table's columns are [name, type] pairs of text")
            pairs.append((column[0], column[1]))
        facts[digest] = TableFacts(str(fmt), pairs, rows)
    return facts


def ingest_input(store: Store, run_id: int, name: str, number: int) -> None:
    """Record the version ``name@v{number}`` as an input of the run ``run_id`` (a lineage
    edge; recording it again changes nothing)."""
    check_name(name)

    def record(conn: Connection) -> None:
        version_id = _queries.resolve_version(conn, name, number, include_deleted=True)[0]
        record_edge(conn, Node(DATASET_VERSION, version_id), Node(RUN, run_id), INPUT, now_ms())

    store.db.transact(record)
