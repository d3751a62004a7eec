"""One dataset's pages: ``/data/<name>`` (catalog fields, versions, the runs and models that
used each), ``/data/<name>/v<N>`` (one version's files and tables) and
``/data/<name>/diff?a=<N>&b=<N>`` (what changed between two versions)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from cairn import data
from cairn.core.errors import InvalidInputError
from cairn.ui.page import Viewer, render

router = APIRouter(include_in_schema=False)

INT64_MAX = 2**63 - 1
FILES_PAGE = 200  # files a version page lists at once
MAX_FILES_PAGE = 5000


def dataset_name(name: str) -> str:
    """``name`` if it is a dataset's name rather than a reference to a version."""
    if "@" in name or name.startswith("data:"):
        raise InvalidInputError(
            f"{name[:80]!r} is a reference, not a dataset's name; a version's page is "
            "/data/NAME/vN (e.g. /data/customers/v2)"
        )
    return name


def version_number(text: str, what: str = "the version") -> int:
    """The number in ``v3`` (or ``3``); a clear 400 for anything else."""
    digits = text.removeprefix("v")
    if not (digits.isascii() and digits.isdigit()) or len(digits) > 19:
        raise InvalidInputError(
            f"{what} {text[:40]!r} is not a version: write v1, v2, ... (versions count from 1)"
        )
    number = int(digits)
    if not 1 <= number <= INT64_MAX:
        raise InvalidInputError(
            f"{what} {text[:40]!r} is out of range: versions count from 1 and fit in 64 bits"
        )
    return number


@router.get("/data/{name}/diff")
@router.get("/data/{name}/diff.json")
def data_diff(
    request: Request,
    caller: Viewer,
    name: str,
    a: Annotated[str, Query(max_length=40)],
    b: Annotated[str, Query(max_length=40)],
) -> Response:
    """What differs from version ``a`` to version ``b``: files added, removed and changed,
    and for tables, rows and columns."""
    name = dataset_name(name)
    first, second = version_number(a, "version a"), version_number(b, "version b")
    diff = data.diff_versions(f"{name}@v{first}", f"{name}@v{second}")
    context = {"name": name, "diff": diff, "same": diff.same}
    return render(request, "data_diff.html", context)


@router.get("/data/{name}/{ref}")
@router.get("/data/{name}/{ref}.json")
def data_version(
    request: Request,
    caller: Viewer,
    name: str,
    ref: str,
    offset: Annotated[int, Query(ge=0, le=INT64_MAX)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_FILES_PAGE)] = FILES_PAGE,
) -> Response:
    """One version: its files (a page of them, in path order) and its tables' facts."""
    name = dataset_name(name)
    if not ref.startswith("v"):
        raise InvalidInputError(
            f"{ref[:40]!r} is not a page of dataset {name!r}: a version's page is "
            f"/data/{name}/vN (e.g. v1)"
        )
    number = version_number(ref)
    found = data.version(f"{name}@v{number}")
    files = data.files(found.ref)
    tables = data.show_dataset(name).tables.get(number, {})
    context = {
        "name": name,
        "dataset_version": found,
        "files": files[offset : offset + limit],
        "offset": offset,
        "limit": limit,
        "total": len(files),
        "tables": tables,
    }
    return render(request, "data_version.html", context)


@router.get("/data/{name}")
@router.get("/data/{name}.json")
def data_dataset(request: Request, caller: Viewer, name: str) -> Response:
    """The dataset's catalog fields, its versions (newest first) with the runs that read or
    wrote each and the model versions made from it, and its catalog history."""
    detail = data.show_dataset(dataset_name(name))
    versions = [_version_entry(detail, v) for v in reversed(detail.versions)]
    live = [v.number for v in reversed(detail.versions) if not v.deleted]
    context = {
        "dataset": detail.dataset,
        "versions": versions,
        "events": list(reversed(detail.events)),
        "pick_a": live[1] if len(live) > 1 else (live[0] if live else None),
        "pick_b": live[0] if live else None,
        "live": live,
        "can_edit": caller.may("writer"),
    }
    return render(request, "data_dataset.html", context)


def _version_entry(detail: data.DatasetDetail, v: data.DatasetVersion) -> dict[str, Any]:
    """A version with its tables, the runs that used it and the model versions made from it."""
    tables = detail.tables.get(v.number, {})
    models = []
    for use in detail.models.get(v.number, []):
        model, _, number = use.model_version.rpartition("/")
        models.append(
            {"label": use.model_version, "model": model, "number": number, "run_id": use.run_id}
        )
    return {
        "version": v,
        "tables": tables,
        "rows": sum(t.rows for t in tables.values()) if tables else None,
        "uses": detail.uses.get(v.number, []),
        "models": models,
        "lineage": f"data:{v.dataset}@v{v.number}",
    }
