"""``add`` in client mode: hash here, upload what the server lacks, record on the server.

Files are hashed on a pool of threads (the project's stat cache vouching for unchanged ones,
as a local add does); the server is asked which objects it lacks and only those are uploaded
(each verified by the server against its digest); then the version is recorded on the server
by its manifest, in one transaction there. Nothing is spooled: an add whose server is down
fails with ``ServerUnavailableError`` and records no version (objects already uploaded are
reclaimed by the server's gc, or reused by the next add).
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from cairn.core import context
from cairn.core.errors import InvalidInputError, NotFoundError
from cairn.core.progress import track
from cairn.core.settings import get_settings
from cairn.core.threads import leave_signals_to_main_thread
from cairn.data._client import decode
from cairn.data._hashing import hash_local, known_digests, workers
from cairn.data._scan import Found, is_url, scan_local
from cairn.data._stat_cache import StatCache
from cairn.data._tables import read_facts, table_format
from cairn.data.dataset import AddResult, DatasetVersion, FileEntry
from cairn.data.ingest import manifest_of
from cairn.store.artifacts.direct import DIRECT_FROM
from cairn.store.remote import RemoteSession

MISSING_BATCH = 50_000  # digests asked about in one request
UPLOADS = 8  # objects uploaded at once


def add_through_server(
    session: RemoteSession,
    name: str,
    location: str,
    fields: Mapping[str, str | None],
    tags: Mapping[str, str],
    *,
    suite: str | None,
) -> AddResult:
    """Add the local file or folder ``location`` as the next version of ``name`` on the
    server (``fields`` as ``catalog_fields`` checked them: None clears a field)."""
    if is_url(location):
        raise InvalidInputError(
            f"in client mode (CAIRN_SERVER) add reads local files, and {location} is remote: "
            "download it first, then add the local copy"
        )
    if suite is not None:
        raise InvalidInputError(
            "suite= is not offered in client mode yet (the suite lives in the server's store): "
            "add the data, then run cairn validate check data:NAME --suite SUITE"
        )
    root = Path(location).expanduser().resolve()
    files = scan_local(root)
    if not files:
        raise InvalidInputError(f"{root} holds no files; there is nothing to add")
    digests, hashed = _digests(root, files)
    entries = sorted(
        (FileEntry(f.rel, f.size, digests[f.source]) for f in files), key=lambda e: e.path
    )
    if not fields and not tags and hashed == 0:
        unchanged = _unchanged(session, name, entries)
        if unchanged is not None:
            return unchanged
    sources = {digests[f.source]: f for f in files}
    lacking = _missing(session, list(sources))
    total = _upload_all(session, [sources[d] for d in lacking], lacking, root.name)
    body = {
        "files": [{"path": e.path, "digest": e.digest, "size": e.size} for e in entries],
        "tables": _tables(files, digests),
        "location": str(root),
        "run": context.current_run_id(),
        "tags": dict(tags),
        # None (cleared) travels as "": the server reads an absent field as "leave as is".
        **{k: ("" if v is None else v) for k, v in fields.items()},
    }
    answer = session.call("POST", f"/datasets/{name}/versions", body)
    version: DatasetVersion = decode(DatasetVersion, answer["version"])
    return AddResult(
        version=version,
        created=bool(answer["created"]),
        files=len(entries),
        hashed=hashed,
        stored=len(lacking),
        stored_bytes=total,
    )


def _digests(root: Path, files: list[Found]) -> tuple[dict[str, str], int]:
    """Digests by source path (the stat cache vouching for unchanged files); how many were
    read and hashed."""
    cache = StatCache(get_settings().home_dir / "cache" / "stat.sqlite")
    try:
        digests = known_digests(files, cache.under(str(root)))
        misses = [f for f in files if f.source not in digests]
        if misses:
            with ThreadPoolExecutor(
                min(workers(), len(misses)),
                thread_name_prefix="cairn-add",
                initializer=leave_signals_to_main_thread,
            ) as pool:
                done = pool.map(hash_local, misses)
                for f, digest in zip(
                    misses, track(done, len(misses), f"hashing {root.name}"), strict=True
                ):
                    digests[f.source] = digest
            cache.remember(
                (f.source, f.size, f.mtime_ns, f.inode, digests[f.source]) for f in misses
            )
    finally:
        cache.close()
    return digests, len(misses)


def _unchanged(session: RemoteSession, name: str, entries: list[FileEntry]) -> AddResult | None:
    """The fast path: the manifest equals the server's latest live version (nothing sent)."""
    try:
        answer = session.call("GET", f"/datasets/{name}/versions/latest", params={"limit": 1})
    except (NotFoundError, InvalidInputError):
        return None  # no such dataset, or no live version: the full path adds it
    version: DatasetVersion = decode(DatasetVersion, answer)
    if version.digest != manifest_of(entries)[0]:
        return None
    return AddResult(version, created=False, files=len(entries), hashed=0, stored=0, stored_bytes=0)


def _missing(session: RemoteSession, digests: list[str]) -> list[str]:
    """The digests the server lacks, asked in batches."""
    lacking: list[str] = []
    for start in range(0, len(digests), MISSING_BATCH):
        batch = digests[start : start + MISSING_BATCH]
        lacking += session.call("POST", "/artifacts/missing", {"digests": batch})["missing"]
    return lacking


def _upload_all(session: RemoteSession, files: list[Found], digests: list[str], label: str) -> int:
    """Upload the files as the objects ``digests`` on a few connections at once, with a
    progress bar by bytes; return the bytes sent. The first failure stops the add."""
    total = sum(f.size for f in files)
    if not files:
        return 0
    with ThreadPoolExecutor(
        min(UPLOADS, len(files)),
        thread_name_prefix="cairn-upload",
        initializer=leave_signals_to_main_thread,
    ) as pool:
        futures = {
            pool.submit(_upload, session, d, f): f for d, f in zip(digests, files, strict=True)
        }
        try:
            done = as_completed(futures)
            for future in track(
                done, total, f"uploading {label}", min_total=1, size=lambda f: futures[f].size
            ):
                future.result()
        finally:
            for future in futures:
                future.cancel()  # after a failure: the uploads not started are not sent
    return total


def _upload(session: RemoteSession, digest: str, found: Found) -> None:
    """Upload one file as the object ``digest`` (the server refuses bytes that differ)."""
    try:
        if found.size >= DIRECT_FROM:  # the server may offer to take it straight to its bucket
            session.upload_object(digest, Path(found.source))
            return
        with open(found.source, "rb") as stream:
            session.call("PUT", f"/artifacts/{digest}", content=stream)
    except FileNotFoundError:
        raise InvalidInputError(f"{found.source} disappeared while it was being added") from None
    except OSError as exc:
        raise InvalidInputError(f"cannot read {found.source}: {exc.strerror or exc}") from None


def _tables(files: list[Found], digests: Mapping[str, str]) -> dict[str, object]:
    """Facts of the tabular files, by digest (the server keeps those it lacks)."""
    facts: dict[str, object] = {}
    for f in files:
        fmt = table_format(f.rel)
        digest = digests[f.source]
        if fmt and digest not in facts:
            found = read_facts(f.source, fmt)
            if found is not None:
                facts[digest] = {
                    "format": found.format,
                    "columns": found.columns,
                    "rows": found.rows,
                }
    return facts
