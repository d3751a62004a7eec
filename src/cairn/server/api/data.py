"""The data catalog over HTTP: datasets, their versions and files, diffs; (writers) adding a
version by its manifest, editing catalog fields, recording a run's inputs; and (admins)
removing and restoring versions, each change written to the audit log.

Also ``plain``: the JSON form of what the capabilities return (dataclasses as dicts with their
``ref``/``uri``, NaN and infinities as null, NumPy values as Python ones, datetimes in ISO),
which the other capability routers share.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from cairn import data
from cairn.core.errors import InvalidInputError, RunNotFoundError
from cairn.core.user import acting_as
from cairn.data import ingest
from cairn.data.wire import CatalogFields, RunInput, VersionCreate
from cairn.server.api._audited import audited
from cairn.server.api._json import check_version_text, plain
from cairn.server.audit import record_event
from cairn.server.auth import Caller, check_owner, require
from cairn.tracking.ingest import run_owner

router = APIRouter(tags=["data"])
Writer = Annotated[Caller, Depends(require("writer"))]

MAX_FILES_PAGE = 100_000  # the most file entries one answer lists


def version_ref(name: str, ref: str) -> str:
    """``name@ref`` for a version of ``name`` (``v2``, ``2``, ``latest``), or ``ref`` itself
    when it already names a dataset (``other@v2``)."""
    check_version_text(ref.rpartition("@")[2])
    return ref if "@" in ref else f"{name}@{ref}"


@router.get("/datasets")
def list_datasets(_caller: Annotated[Caller, Depends(require("reader"))]) -> list[Any]:
    """Every dataset, by name, with its latest live version and whether it is overdue."""
    return [plain(d) for d in data.list_datasets()]


@router.get("/datasets/{name}")
def show_dataset(name: str, _caller: Annotated[Caller, Depends(require("reader"))]) -> Any:
    """The dataset with every version (deleted ones flagged), its tables, the runs and model
    versions that used each version, and its catalog history."""
    return plain(data.show_dataset(name))


@router.get("/datasets/{name}/versions/{ref}")
def show_version(
    name: str,
    ref: str,
    _caller: Annotated[Caller, Depends(require("reader"))],
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_FILES_PAGE)] = 10_000,
) -> Any:
    """One version (``v2``, ``2`` or ``latest``) with its files, ``limit`` of them from
    ``offset`` in path order (``file_count`` says how many it holds)."""
    _one_segment(ref)
    found = data.version(f"{name}@{ref}")
    files = data.files(found.ref)  # by number: a version added meanwhile is not mixed in
    return {
        **plain(found),
        "files": [plain(f) for f in files[offset : offset + limit]],
        "offset": offset,
    }


@router.get("/datasets/{name}/diff")
def diff_versions(
    name: str,
    a: Annotated[str, Query(description="a version of this dataset: v1, 1 or latest")],
    b: Annotated[str, Query(description="a version of this dataset (v2), or of another (x@v1)")],
    _caller: Annotated[Caller, Depends(require("reader"))],
) -> Any:
    """What differs from version ``a`` to version ``b``: files added, removed and changed,
    and for tables, rows and columns."""
    diff = data.diff_versions(version_ref(name, a), version_ref(name, b))
    return {**plain(diff), "same": diff.same}


@router.post("/datasets/{name}/versions")
def add_version(name: str, body: VersionCreate, request: Request, caller: Writer) -> Any:
    """Record a version by its manifest (every object uploaded first) with the catalog fields
    and tags ``add`` sets, in one transaction; the same content as the latest live version
    makes no new one (``created`` false). A new version is written to the audit log as
    ``dataset_version.add``."""
    store = request.app.state.store
    run = body.run.lower() if body.run else None
    if run is not None:
        try:
            check_owner(caller, run_owner(store, run)[1], f"run {run}")
        except RunNotFoundError:
            run = None  # not (yet) on the server: the version is recorded without the edge
    with acting_as(caller.user):
        version, created = ingest.ingest_version(
            store,
            name,
            files=[f.model_dump() for f in body.files],
            tables={d: t.model_dump() for d, t in body.tables.items()},
            fields=_fields(body),
            tags=body.tags,
            details={"location": body.location, "user": caller.user, "run": run, "forced": None},
        )
    if created:
        _audit(request, caller, "dataset_version.add", version, {"files": version.file_count})
    return {"version": plain(version), "created": created}


@router.patch("/datasets/{name}")
def edit_dataset(name: str, body: CatalogFields, request: Request, caller: Writer) -> Any:
    """Edit catalog fields and tags of the dataset (never its versions); each change is
    recorded in its history and, as ``dataset.edit``, in the audit log (as the web UI's)."""
    fields = _fields(body)
    edited = audited(
        request,
        caller,
        lambda: data.edit_dataset(name, **fields, tags=body.tags or None),
        lambda d: ("dataset.edit", f"data:{d.name}", {"fields": sorted(fields)}),
    )
    return plain(edited)


@router.post("/runs/{uid}/inputs")
def record_run_input(uid: str, body: RunInput, request: Request, caller: Writer) -> Any:
    """Record a dataset version as an input of the run (lineage; sending it again changes
    nothing)."""
    store = request.app.state.store
    db_id, owner = run_owner(store, uid.lower())
    check_owner(caller, owner, f"run {uid}")
    ingest.ingest_input(store, db_id, body.dataset, body.number)
    return {"run": uid.lower(), "dataset": f"{body.dataset}@v{body.number}"}


@router.get("/runs/{uid}/datasets")
def run_datasets(uid: str, _caller: Annotated[Caller, Depends(require("reader"))]) -> Any:
    """The dataset versions the run read (``input``) and wrote (``output``)."""
    return [{"relation": r, "version": plain(v)} for r, v in data.run_datasets(uid.lower())]


def _fields(body: CatalogFields) -> dict[str, str]:
    """The catalog fields a body sets (absent ones are left as they are)."""
    named = {"description": body.description, "owner": body.owner}
    named.update(frequency=body.frequency, source=body.source)
    return {k: v for k, v in named.items() if v is not None}


@router.post("/datasets/{name}/versions/{ref}/delete")
def delete_version(
    request: Request,
    name: str,
    ref: str,
    caller: Annotated[Caller, Depends(require("admin"))],
    force: bool = False,
) -> Any:
    """Mark the version deleted (refused while a model version was made from it, unless
    ``force``); written to the audit log as ``dataset_version.delete``."""
    _one_segment(ref)
    removed = audited(
        request,
        caller,
        lambda: data.remove_version(f"{name}@{ref}", force=force),
        lambda removed: (
            "dataset_version.delete",
            f"data:{removed.ref}",
            {"version": removed.number, "force": force},
        ),
    )
    return plain(removed)


@router.post("/datasets/{name}/versions/{ref}/restore")
def restore_version(
    request: Request, name: str, ref: str, caller: Annotated[Caller, Depends(require("admin"))]
) -> Any:
    """Bring back a deleted version (while its files were not garbage-collected); written to
    the audit log as ``dataset_version.restore``."""
    _one_segment(ref)
    restored = audited(
        request,
        caller,
        lambda: data.restore_version(f"{name}@{ref}"),
        lambda restored: (
            "dataset_version.restore",
            f"data:{restored.ref}",
            {"version": restored.number},
        ),
    )
    return plain(restored)


def _one_segment(ref: str) -> None:
    check_version_text(ref)
    if "@" in ref:
        raise InvalidInputError(
            f"the version in the path is v2, 2 or latest, not {ref[:40]!r}: the dataset is "
            "named once, before /versions/"
        )


def _audit(
    request: Request,
    caller: Caller,
    action: str,
    version: data.DatasetVersion,
    detail: dict[str, Any],
) -> None:
    """Record a version just added (its ingest commits on its own: the event follows in a
    transaction of its own; deletions and restores are recorded with the change instead)."""
    request.app.state.store.db.transact(
        lambda conn: record_event(
            conn,
            caller.user,
            action,
            f"data:{version.ref}",
            {"version": version.number, **detail},
        )
    )
