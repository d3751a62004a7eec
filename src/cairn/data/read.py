"""Reading versions: ``path`` (a cached read-only folder), ``get`` (a copy) and ``load``.

Every read inside a run records the version as an input of the run (a lineage edge), so a
model trained from ``cairn.data.load("customers")`` knows which bytes it saw.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from cairn.core import context
from cairn.core.checks import check_path, show
from cairn.core.destination import write_tree
from cairn.core.errors import InvalidInputError
from cairn.data import _client, _queries
from cairn.data._read_cache import cached_folder, materialize_entries
from cairn.data._refs import parse_ref
from cairn.data._tables import table_format
from cairn.data.dataset import DatasetVersion, FileEntry
from cairn.store import Store, get_store
from cairn.store.lineage import DATASET_VERSION, Node, record_run_input


def _resolve(store: Store, ref: str) -> tuple[int, DatasetVersion, list[FileEntry]]:
    """The version's database id (0 in client mode), the version and its files."""
    name, number = parse_ref(ref)
    if store.remote is not None:  # client mode: the server's catalog
        version, files = _client.resolve(store.remote, name, number)
        return 0, version, files
    with store.db.read() as conn:
        version_id, manifest_id, version = _queries.resolve_version(conn, name, number)
        files = _queries.files_of(conn, manifest_id)
    if version.file_count and not files:
        raise InvalidInputError(
            f"{version.ref} was deleted and its files garbage-collected; use another version"
        )
    return version_id, version, files


def _record_read(store: Store, ref: str, version_id: int, found: DatasetVersion) -> None:
    """A read is an input of the current run (lineage) and of the current pipeline step
    (its cached result holds while ``ref`` still names this version)."""
    if store.remote is not None:  # client mode: sent through the outbox, never lost
        run_uid = context.current_run_id()
        if run_uid is not None:
            _client.record_input(store.remote, run_uid, found)
    else:
        record_run_input(store.db, Node(DATASET_VERSION, version_id))
    context.note_read(ref, found.ref, found.digest)


def version(ref: str) -> DatasetVersion:
    """The version ``ref`` names (``name``, ``name@v2``, ``name@latest``)."""
    return _resolve(get_store(), ref)[1]


def files(ref: str) -> list[FileEntry]:
    """The files of the version ``ref`` names."""
    return _resolve(get_store(), ref)[2]


def path(ref: str) -> Path:
    """A local read-only folder holding the version (materialised once, then cached; every
    call checks the cached files still match their digests, hashing only those that may
    have changed)."""
    store = get_store()
    version_id, found, entries = _resolve(store, ref)
    folder = cached_folder(store, found, entries)
    _record_read(store, ref, version_id, found)
    return folder


def get(ref: str, dest: str | Path, *, force: bool = False) -> Path:
    """Copy the version into the folder ``dest`` (digests verified); return ``dest``.

    Files are reflinked where the filesystem can, else copied by the kernel: the copy is the
    caller's to edit. Existing files are refused unless ``force``; a symbolic link inside
    ``dest`` where the version has a folder is always refused (never written through).
    """
    check_path(dest, "destination")
    store = get_store()
    version_id, found, entries = _resolve(store, ref)
    target = Path(dest).expanduser()
    paths = [e.path for e in entries]

    def fill(staging: Path) -> None:
        materialize_entries(store, entries, staging, link=False, what=found.ref)
        for rel in paths:
            os.chmod(staging / rel, 0o644)  # the caller's copy: writable, like any file

    # Everything is copied and verified in a staging folder inside ``dest`` first, then moved
    # into place by renames, never through a link found in the destination: a failed get (a
    # damaged object, a full disk) leaves no file of the version half-written, and no mix of
    # versions.
    write_tree(target, paths, fill, force=force, what=found.ref)
    _record_read(store, ref, version_id, found)
    return target


Reader = Literal["pandas", "polars", "arrow"]


def load(ref: str, as_: Reader = "pandas", *, file: str | None = None) -> Any:
    """Read a tabular version (Parquet or CSV files) into pandas, polars or a pyarrow Table.

    A version holding several tables is read as one when they are all Parquet with one
    schema; otherwise name the one to read with ``file=``.
    """
    if as_ not in ("pandas", "polars", "arrow"):
        raise InvalidInputError(f"as_ is 'pandas', 'polars' or 'arrow', not {show(as_)}")
    store = get_store()
    version_id, found, entries = _resolve(
        store, ref
    )  # once: a version added meanwhile is not mixed in
    folder = cached_folder(store, found, entries)
    _record_read(store, ref, version_id, found)
    names = [e.path for e in entries]
    tables = [n for n in names if table_format(n)]
    if file is not None:
        if file not in names:
            raise InvalidInputError(
                f"{ref} has no file {show(file)}; it has: {', '.join(names[:10])}"
                + (" ..." if len(names) > 10 else "")
            )
        tables = [file]
    if not tables:
        raise InvalidInputError(
            f"{ref} holds no Parquet or CSV file to load; use cairn.data.path({ref!r}) to "
            "read its files yourself"
        )
    formats = {table_format(t) for t in tables}
    if len(tables) > 1 and formats != {"parquet"}:
        raise InvalidInputError(
            f"{ref} holds {len(tables)} tables ({', '.join(tables[:5])}); pick one with "
            f"file=..., e.g. cairn.data.load({ref!r}, file={tables[0]!r})"
        )
    table = _read_arrow([folder / t for t in tables], formats.pop() or "parquet")
    if as_ == "arrow":
        return table
    if as_ == "polars":
        from cairn.core.lazy import import_optional

        polars = import_optional("polars", "polars", "cairn.data.load(..., as_='polars')")
        return polars.from_arrow(table)
    return table.to_pandas()


def _read_arrow(paths: list[Path], fmt: str) -> Any:
    if fmt == "csv":
        import pyarrow.csv as pcsv

        return pcsv.read_csv(paths[0])
    import pyarrow.parquet as pq

    if len(paths) == 1:
        return pq.read_table(paths[0])
    import pyarrow as pa

    return pa.concat_tables([pq.read_table(p) for p in paths])
