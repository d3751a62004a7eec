"""``add``: a file or folder becomes the next immutable version of a dataset.

Files are hashed (BLAKE3) on a pool of threads and copied into the content-addressed store by
the kernel; a file whose (size, mtime, inode) the stat cache knows is not read at all, and an
object already stored is not copied again. Objects are flushed to disk once, then the version
is recorded in one transaction: an add that dies before that leaves no version (only objects
that ``cairn gc`` may reclaim), and running it again completes it. Content equal to the latest
version makes no new version ("unchanged").
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from cairn.core import context
from cairn.core.checks import (
    check_optional_mapping,
    check_optional_text,
    check_path,
    check_tags,
    check_text,
)
from cairn.core.errors import CairnError, InvalidInputError
from cairn.core.hashing import StreamingHasher, hash_bytes
from cairn.core.progress import track
from cairn.core.settings import get_settings
from cairn.core.threads import leave_signals_to_main_thread
from cairn.core.user import current_user
from cairn.data import _queries
from cairn.data._hashing import BIG_FILE, SMALL_READ, hash_local, known_digests, workers
from cairn.data._manifest import manifest_bytes
from cairn.data._refs import check_name
from cairn.data._scan import Found, is_url, scan_local, scan_remote
from cairn.data._stat_cache import StatCache
from cairn.data._tables import read_facts, table_format
from cairn.data.dataset import AddResult, FileEntry, TableFacts
from cairn.data.ingest import catalog_fields, manifest_of, record_version
from cairn.store import Store, get_store
from cairn.store.deletions import watermark

CHUNK = 8 << 20


@dataclass
class _Hashed:
    found: Found
    digest: str
    from_cache: bool
    stored: bool


def add(
    path: str | Path,
    name: str,
    *,
    description: str | None = None,
    owner: str | None = None,
    frequency: str | None = None,
    source: str | None = None,
    tags: Mapping[str, Any] | None = None,
    storage_options: Mapping[str, Any] | None = None,
    suite: str | None = None,
    force: bool = False,
) -> AddResult:
    """Add the file or folder at ``path`` (a local path or ``s3://...``) as dataset ``name``.

    Catalog fields given here are set on the dataset (each change recorded); the content
    becomes the next version unless it equals the latest one. With ``suite``, the tables are
    validated first and a version failing an ``error`` expectation is refused, unless
    ``force`` (which the dataset's history records).
    """
    check_name(name)
    location = str(check_path(path, "path")) if not isinstance(path, str) else path
    check_text(location, "path", empty=False)
    check_optional_text(suite, "suite", empty=False)
    check_optional_mapping(storage_options, "storage_options")
    fields = catalog_fields(description, owner, frequency, source)
    tag_values = {str(k): str(v) for k, v in (check_tags(tags) or {}).items()}
    store = get_store()
    if store.remote is not None:  # client mode: the server records the version
        from cairn.data._client_add import add_through_server

        return add_through_server(store.remote, name, location, fields, tag_values, suite=suite)
    since = watermark(store.db)  # before any object is looked for (a gc may be running)
    check = _check(location, suite, force) if suite else None
    if is_url(location):
        fs, files = scan_remote(location, dict(storage_options or {}))
        hashed = _add_remote(store, fs, files)
    else:
        root = Path(location).expanduser().resolve()
        location = str(root)
        files = scan_local(root)
        local = _store_local(store, name, root, files, quick=not fields and not tag_values)
        if isinstance(local, AddResult):
            return local if check is None else replace(local, suite_report=check[1])
        hashed = local
    if not files:
        raise InvalidInputError(f"{location} holds no files; there is nothing to add")
    entries = [FileEntry(h.found.rel, h.found.size, h.digest) for h in hashed]
    entries.sort(key=lambda e: e.path)
    stored = [h for h in hashed if h.stored]
    digest, body = manifest_of(entries)
    if not store.artifacts.exists(digest):
        store.artifacts.put_bytes(body)  # the manifest itself, for anyone holding only its digest
    if stored:
        store.artifacts.sync()  # every object durable before any version names it
    forced = (suite, check[1]) if check is not None and not check[0] else None
    # Recorded only if gc deleted none of these objects since the watermark (else stored again).
    version, created = record_version(
        store,
        name,
        entries=entries,
        facts=_table_facts(store, hashed),
        fields=fields,
        tags=tag_values,
        details={
            "location": location,
            "user": current_user(),
            "run": context.current_run_id(),
            "forced": forced,
        },
        since=since,
        on_gone=lambda gone: _restore(
            store, hashed, gone, (location, storage_options), (digest, body)
        ),
    )
    if check is not None and created:
        check[2](version.ref)
    return AddResult(
        version=version,
        created=created,
        files=len(entries),
        hashed=sum(1 for h in hashed if not h.from_cache),
        stored=len(stored),
        stored_bytes=sum(h.found.size for h in stored),
        suite_report=None if check is None else check[1],
    )


def _store_local(
    store: Store, name: str, root: Path, files: list[Found], *, quick: bool
) -> list[_Hashed] | AddResult:
    """Hash and store local files (the stat cache vouching for unchanged ones); with ``quick``,
    content equal to the latest version answers "unchanged" at once."""
    cache = StatCache(get_settings().home_dir / "cache" / "stat.sqlite")
    try:
        known = known_digests(files, cache.under(str(root)))
        if quick and len(known) == len(files):
            unchanged = _unchanged(store, name, files, known)
            if unchanged is not None:
                return unchanged
        return _add_local(store, root, files, known, cache)
    finally:
        cache.close()


def _check(location: str, suite: str, force: bool) -> tuple[bool, str, Any]:
    """Validate the local tables at ``location`` against ``suite`` (through the validation
    capability's hook: data does not import it); refuse a failure unless ``force``."""
    from cairn.core.plugins import plugin_manager

    if is_url(location):
        raise InvalidInputError(
            f"suite= checks local files; add {location} first, then run "
            "cairn validate check data:NAME --suite SUITE"
        )
    found = plugin_manager().hook.cairn_check_before_add(path=location, suite=suite)
    if found is None:
        raise InvalidInputError(
            "suite= needs cairn's validation plugin, which is not registered; reinstall cairn"
        )
    passed, summary, record = found
    if not passed and not force:
        raise InvalidInputError(
            f"{location} fails suite {suite}, so no version was made: "
            f"{summary.replace(chr(10), '; ')}. Fix the data, "
            "or pass --force (force=True) to add it anyway (recorded in the dataset's history)"
        )
    return bool(passed), str(summary), record


def _unchanged(
    store: Store, name: str, files: list[Found], known: Mapping[str, str]
) -> AddResult | None:
    """The fast path: every file known to the cache and the manifest equal to the latest."""
    entries = [FileEntry(f.rel, f.size, known[f.source]) for f in files]
    digest = hash_bytes(manifest_bytes(entries))
    with store.db.read() as conn:
        ds_id = _queries.dataset_id(conn, name)
        if ds_id is None or _queries.latest_manifest_digest(conn, ds_id) != digest:
            return None
        version = _queries.resolve_version(conn, name, None)[2]
    return AddResult(version, created=False, files=len(files), hashed=0, stored=0, stored_bytes=0)


def _add_local(
    store: Store,
    root: Path,
    files: list[Found],
    known: Mapping[str, str],
    cache: StatCache,
) -> list[_Hashed]:
    results: list[_Hashed] = []
    misses = [f for f in files if f.source not in known]
    for found in files:  # known content: stored unless gc took it since
        digest = known.get(found.source)
        if digest is not None:
            stored = not store.artifacts.exists(digest) and _store(store, found, digest)
            results.append(_Hashed(found, digest, True, stored))
    small = [f for f in misses if f.size < BIG_FILE]
    big = [f for f in misses if f.size >= BIG_FILE]
    with ThreadPoolExecutor(
        workers(), thread_name_prefix="cairn-add", initializer=leave_signals_to_main_thread
    ) as pool:
        futures = [pool.submit(_hash_and_store, store, f) for f in small]
        for future in track(as_completed(futures), len(futures), f"adding {root.name}"):
            results.append(future.result())
    for found in track(big, len(big), f"adding {root.name}", min_total=1):
        results.append(_hash_and_store(store, found))
    cache.remember(
        (h.found.source, h.found.size, h.found.mtime_ns, h.found.inode, h.digest)
        for h in results
        if not h.from_cache
    )
    return results


def _hash_and_store(store: Store, found: Found) -> _Hashed:
    if found.size >= SMALL_READ:
        digest = hash_local(found)
        return _Hashed(found, digest, False, _store(store, found, digest))
    # Small files are read once: the bytes hashed are the bytes stored (no second open, and a
    # file rewritten between hashing and copying cannot slip in), in about two thirds the time.
    data = _read_small(found)
    digest = hash_bytes(data, parallel=False)  # the pool's threads are the parallelism
    return _Hashed(
        found, digest, False, store.artifacts.put_hashed_bytes(data, digest, durable=False)
    )


def _read_small(found: Found) -> bytes:
    try:
        with open(found.source, "rb") as stream:
            data = stream.read(found.size + 1)
            after = os.fstat(stream.fileno())
    except FileNotFoundError:
        raise InvalidInputError(f"{found.source} disappeared while it was being added") from None
    except OSError as exc:
        raise InvalidInputError(f"cannot read {found.source}: {exc.strerror or exc}") from None
    if len(data) != found.size or (after.st_size, after.st_mtime_ns) != (
        found.size,
        found.mtime_ns,
    ):
        raise InvalidInputError(
            f"{found.source} changed while it was being added; add it again once it is complete"
        )
    return data


def _store(store: Store, found: Found, digest: str) -> bool:
    try:
        return store.artifacts.put_hashed_file(
            Path(found.source), digest, found.size, mtime_ns=found.mtime_ns, durable=False
        )
    except FileNotFoundError:
        raise InvalidInputError(f"{found.source} disappeared while it was being added") from None


def _add_remote(store: Store, fs: Any, files: list[Found]) -> list[_Hashed]:
    """Stream each remote file through a local spool (hashed on the way), then store it."""

    def one(found: Found) -> _Hashed:
        with tempfile.TemporaryDirectory(prefix="cairn-add-") as scratch:
            spool = Path(scratch) / "file"
            hasher = StreamingHasher()
            try:
                with fs.open(found.source, "rb") as src, open(spool, "wb") as out:
                    while chunk := src.read(CHUNK):
                        hasher.update(chunk)
                        out.write(chunk)
            except CairnError:
                raise
            except Exception as exc:
                raise InvalidInputError(
                    f"cannot read {found.source}: {type(exc).__name__}: {exc}; check the "
                    "credentials and the URL"
                ) from None
            stored = store.artifacts.put_hashed_file(spool, hasher.digest, hasher.size)
            read = Found(found.rel, found.source, hasher.size, 0, 0)
            return _Hashed(read, hasher.digest, False, stored)

    results: list[_Hashed] = []
    with ThreadPoolExecutor(
        workers(), thread_name_prefix="cairn-add", initializer=leave_signals_to_main_thread
    ) as pool:
        futures = [pool.submit(one, f) for f in files]
        for future in track(as_completed(futures), len(futures), "downloading and adding"):
            results.append(future.result())
    return results


def _table_facts(store: Store, hashed: list[_Hashed]) -> dict[str, TableFacts]:
    """Facts of the tabular files whose content the catalog has not seen before."""
    tables = {h.digest: fmt for h in hashed if (fmt := table_format(h.found.rel))}
    if not tables:
        return {}
    with store.db.read() as conn:
        known = _queries.table_facts_of(conn, tables)
    facts: dict[str, TableFacts] = {}
    for digest, fmt in tables.items():
        if digest in known:
            continue
        if store.artifacts.is_local:
            found = read_facts(store.artifacts.object_path(digest), fmt)
        else:
            with tempfile.TemporaryDirectory(prefix="cairn-table-") as scratch:
                local = Path(scratch) / f"table.{fmt}"
                store.artifacts.materialize(digest, local, link=False)
                found = read_facts(str(local), fmt)
        if found is not None:
            facts[digest] = found
    return facts


def _restore(
    store: Store,
    hashed: list[_Hashed],
    gone: set[str],
    source: tuple[str, Mapping[str, Any] | None],
    manifest: tuple[str, bytes],
) -> None:
    """Store again the objects gc deleted while this add was running, from the same files."""
    location, storage_options = source
    if manifest[0] in gone:
        store.artifacts.put_bytes(manifest[1])
    lost = [h for h in hashed if h.digest in gone]
    if not lost:
        return
    if is_url(location):
        fs, _ = scan_remote(location, dict(storage_options or {}))
        again = _add_remote(store, fs, [h.found for h in lost])
        expected = {h.found.source: h.digest for h in lost}
        changed = [a.found.source for a in again if expected[a.found.source] != a.digest]
        if changed:
            raise InvalidInputError(
                f"{changed[0]} changed while it was being added; add it again once it is complete"
            )
        return
    for h in lost:
        _store(store, h.found, h.digest)  # refuses a file changed since it was hashed
    store.artifacts.sync()
