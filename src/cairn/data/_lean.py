"""``cairn data add`` and ``cairn data status`` when nothing changed, on the standard library.

Both commands are run over and over by scripts and CI to learn that nothing changed; the full
path spends most of its time importing pydantic and SQLAlchemy. When the store is the default
SQLite file, this path reads it directly (read-only), scans the folder, asks the stat cache,
and answers "unchanged" only when it is certain: every file known to the cache and the content
equal to the latest live version. Anything else (another store, a change, a file to hash, a
question it cannot parse, any error) returns None, and the full command decides. Its answers
are tested to equal the full path's.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from cairn.core.hashing import hash_bytes
from cairn.core.home import current_sqlite_file, sqlite_locations
from cairn.core.ids import now_ms
from cairn.data._frequency import is_stale
from cairn.data._manifest import manifest_bytes
from cairn.data._refs import parse_ref
from cairn.data._scan import is_url, scan_local
from cairn.data._stat_cache import StatCache
from cairn.data.dataset import Dataset, DatasetVersion

_CATALOG = """
SELECT id, name, description, owner, frequency, source, created_ms, updated_ms
FROM datasets ORDER BY name
"""
_TAGS = "SELECT dataset_id, key, value FROM dataset_tags ORDER BY dataset_id, key"
_LATEST_LIVE = """
WITH newest AS (
    SELECT dataset_id, max(number) AS number, count(*) AS live FROM dataset_versions
    WHERE deleted_ms IS NULL GROUP BY dataset_id
)
SELECT d.name, v.number, m.digest, m.file_count, m.size, v.created_ms, v.user, r.uid,
       v.location, v.deleted_ms, n.live
FROM dataset_versions v
JOIN datasets d ON d.id = v.dataset_id
JOIN manifests m ON m.id = v.manifest_id
LEFT JOIN runs r ON r.id = v.run_id
JOIN newest n ON n.dataset_id = v.dataset_id AND n.number = v.number
"""
_LATEST = """
SELECT v.number, m.digest, v.location
FROM dataset_versions v
JOIN datasets d ON d.id = v.dataset_id
JOIN manifests m ON m.id = v.manifest_id
WHERE d.name = ? AND v.deleted_ms IS NULL
ORDER BY v.number DESC LIMIT 1
"""


def quick_check(command: list[str]) -> str | None:
    """What ``cairn data add|status ...`` prints when nothing changed, or None to ask the full
    command (the answer is never a guess)."""
    try:
        if command[:1] == ["add"]:
            return _add(command[1:])
        if command[:1] == ["status"]:
            return _status(command[1:])
    except Exception:  # any doubt at all: the full path answers, with its own errors
        return None
    return None


def _add(args: list[str]) -> str | None:
    path, name = _add_arguments(args)
    if path is None or name is None or is_url(path) or "@" in name:
        return None
    parse_ref(name)  # a bad name: the full path says what is wrong
    found = _latest(name)
    if found is None or not _matches(Path(path).expanduser().resolve(), found[1]):
        return None
    return f"{name} is unchanged: same content as {name}@v{found[0]}"


def _matches(root: Path, digest: str) -> bool:
    """Whether the folder's content, as the stat cache knows it, is the manifest ``digest``
    (equal digests: the same paths, sizes and file digests)."""
    entries = _cached_entries(root)
    return entries is not None and hash_bytes(manifest_bytes(sorted(entries))) == digest


def _add_arguments(args: list[str]) -> tuple[str | None, str | None]:
    """PATH and --name NAME, when those are the only arguments."""
    path = name = None
    rest = list(args)
    while rest:
        arg = rest.pop(0)
        if arg in ("--name", "-n") and rest:
            name = rest.pop(0)
        elif arg.startswith("--name="):
            name = arg.removeprefix("--name=")
        elif arg.startswith("-") or path is not None:
            return None, None  # any other option: the full command handles it
        else:
            path = arg
    return path, name


def _status(args: list[str]) -> str | None:
    if not 1 <= len(args) <= 2 or any(a.startswith("-") for a in args):
        return None
    name, number = parse_ref(args[0])
    found = None if number is not None else _latest(name)
    if found is None:
        return None
    version, digest, location = found
    where = args[1] if len(args) == 2 else location
    if not where or is_url(where):
        return None
    root = Path(where).expanduser().resolve()
    if not _matches(root, digest):
        return None
    return f"unchanged: {root} matches {name}@v{version}"


def _connect() -> sqlite3.Connection | None:
    locations = sqlite_locations()
    if locations is None or not locations[1].is_file():
        return None
    database = locations[1].resolve()
    return sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5)


def _latest(name: str) -> tuple[int, str, str | None] | None:
    """Number, manifest digest and location of the dataset's newest live version."""
    conn = _connect()
    if conn is None:
        return None
    try:
        row = conn.execute(_LATEST, (name,)).fetchone()
    finally:
        conn.close()
    return None if row is None else (int(row[0]), str(row[1]), row[2])


def _cached_entries(root: Path) -> set[tuple[str, int, str]] | None:
    """The folder's files as (path, size, digest), if the stat cache vouches for every one."""
    locations = sqlite_locations()
    if locations is None or not os.path.exists(root):
        return None
    cache = StatCache(locations[0] / "cache" / "stat.sqlite")
    try:
        known = cache.under(str(root))
    finally:
        cache.close()
    entries = set()
    for rel, source, size, mtime_ns, inode in scan_local(root):
        cached = known.get(source)
        if cached is None or cached[0] != size or cached[1] != mtime_ns or cached[2] != inode:
            return None
        entries.add((rel, size, cached[3]))
    return entries or None


def list_datasets_lean() -> list[Dataset] | None:
    """``data.list_datasets()`` read directly from the SQLite store (``cairn data ls``), or
    None where the full path must answer."""
    try:
        database = current_sqlite_file()
        if database is None or not database.is_file():
            return None
        conn = sqlite3.connect(f"file:{database.resolve()}?mode=ro", uri=True, timeout=5)
    except Exception:
        return None
    try:
        tags: dict[int, dict[str, str]] = {}
        for ds_id, key, value in conn.execute(_TAGS):
            tags.setdefault(int(ds_id), {})[key] = value
        latest = {}
        for (
            name,
            number,
            digest,
            files,
            size,
            created,
            user,
            run,
            location,
            gone,
            live,
        ) in conn.execute(_LATEST_LIVE):
            version = DatasetVersion(
                dataset=name,
                number=int(number),
                digest=digest,
                file_count=int(files),
                size=int(size),
                created_ms=int(created),
                user=user,
                run_id=run,
                location=location,
                deleted=gone is not None,
            )
            latest[name] = (version, int(live))
        now = now_ms()
        found = []
        for ds_id, name, description, owner, frequency, source, created, updated in conn.execute(
            _CATALOG
        ):
            newest: DatasetVersion | None = None
            live = 0
            if name in latest:
                newest, live = latest[name]
            found.append(
                Dataset(
                    name=name,
                    description=description,
                    owner=owner,
                    frequency=frequency,
                    source=source,
                    created_ms=int(created),
                    updated_ms=int(updated),
                    tags=tags.get(int(ds_id), {}),
                    latest=newest,
                    version_count=live,
                    stale=is_stale(frequency, newest.created_ms if newest else None, now),
                )
            )
        return found
    except Exception:  # an older or newer schema, a locked or damaged file: ask the full path
        return None
    finally:
        conn.close()
