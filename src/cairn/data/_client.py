"""The data catalog in client mode: every read and change through the cairn server's routes.

The public functions of ``cairn.data`` choose this path once, where the store is a session to
a server (``store.remote``); answers are the same value types the local catalog returns. The
lineage of a read (a run's input) goes through the session's outbox, so it is sent later when
the server is down, never lost.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from typing import Any

from cairn.data.dataset import (
    Dataset,
    DatasetDetail,
    DatasetVersion,
    FileEntry,
    VersionDiff,
)
from cairn.store.remote import RemoteSession

FILES_PAGE = 100_000  # the most file entries the server lists in one answer


def decode(kind: Any, value: Any) -> Any:
    """``value`` (JSON as the server's ``plain`` writes it) as the type ``kind``: dataclasses,
    lists, tuples, dicts (integer keys read back from text), optional values and scalars."""
    if value is None:
        return None
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        (inner,) = [a for a in typing.get_args(kind) if a is not type(None)]
        return decode(inner, value)
    if dataclasses.is_dataclass(kind) and isinstance(kind, type):
        hints = _hints(kind)
        return kind(
            **{
                f.name: decode(hints[f.name], value[f.name])
                for f in dataclasses.fields(kind)
                if f.name in value
            }
        )
    if origin is list:
        (item,) = typing.get_args(kind)
        return [decode(item, v) for v in value]
    if origin is tuple:
        return tuple(decode(k, v) for k, v in zip(typing.get_args(kind), value, strict=True))
    if origin is dict:
        key, item = typing.get_args(kind)
        return {decode(key, k): decode(item, v) for k, v in value.items()}
    if kind is int:
        return int(value)
    return value


@functools.cache
def _hints(kind: type) -> dict[str, Any]:
    return typing.get_type_hints(kind)


def list_datasets(session: RemoteSession) -> list[Dataset]:
    """Every dataset the server's catalog holds."""
    return [decode(Dataset, d) for d in session.call("GET", "/datasets")]


def show_dataset(session: RemoteSession, name: str) -> DatasetDetail:
    """The dataset with its versions, tables, uses, models and history."""
    detail: DatasetDetail = decode(DatasetDetail, session.call("GET", f"/datasets/{name}"))
    return detail


def resolve(
    session: RemoteSession, name: str, number: int | None
) -> tuple[DatasetVersion, list[FileEntry]]:
    """The version ``name@v{number}`` (the latest live one when None) with all its files."""
    ref = "latest" if number is None else f"v{number}"
    answer = session.call("GET", f"/datasets/{name}/versions/{ref}", params={"limit": FILES_PAGE})
    version: DatasetVersion = decode(DatasetVersion, answer)
    files = [decode(FileEntry, f) for f in answer["files"]]
    while len(files) < version.file_count:  # by number: a version added meanwhile is not mixed
        page = session.call(
            "GET",
            f"/datasets/{name}/versions/v{version.number}",
            params={"offset": len(files), "limit": FILES_PAGE},
        )
        if not page["files"]:
            break
        files.extend(decode(FileEntry, f) for f in page["files"])
    return version, files


def diff_versions(
    session: RemoteSession, a: tuple[str, int | None], b: tuple[str, int | None]
) -> VersionDiff:
    """What differs from version ``a`` to version ``b`` (``(name, number)`` each)."""
    params = {"a": _ref(a, a[0]), "b": _ref(b, a[0])}
    answer = session.call("GET", f"/datasets/{a[0]}/diff", params=params)
    diff: VersionDiff = decode(VersionDiff, answer)
    return diff


def _ref(ref: tuple[str, int | None], base: str) -> str:
    version = "latest" if ref[1] is None else f"v{ref[1]}"
    return version if ref[0] == base else f"{ref[0]}@{version}"


def edit_dataset(session: RemoteSession, name: str, fields: dict[str, Any]) -> Dataset:
    """Set catalog fields and tags (``fields`` as the route takes them)."""
    return typing.cast(Dataset, decode(Dataset, session.call("PATCH", f"/datasets/{name}", fields)))


def change_version(session: RemoteSession, name: str, number: int, action: str) -> DatasetVersion:
    """``delete`` (``delete?force=1``) or ``restore`` a version (an admin's token)."""
    verb, _, query = action.partition("?")
    path = f"/datasets/{name}/versions/v{number}/{verb}"
    answer = session.call("POST", path, params={"force": "true"} if query else None)
    return typing.cast(DatasetVersion, decode(DatasetVersion, answer))


def run_datasets(session: RemoteSession, run_id: str) -> list[tuple[str, DatasetVersion]]:
    """The dataset versions the run read and wrote."""
    answer = session.call("GET", f"/runs/{run_id}/datasets")
    return [(str(a["relation"]), decode(DatasetVersion, a["version"])) for a in answer]


def record_input(session: RemoteSession, run_id: str, version: DatasetVersion) -> None:
    """Record the version as an input of the run, through the outbox (idempotent)."""
    body = {"dataset": version.dataset, "number": version.number}
    session.post(f"/runs/{run_id}/inputs", body)
