"""Validation over HTTP: stored suites, and the checks recorded against a dataset's versions;
writers (cairn clients) register suite versions and record checks, both idempotently."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from cairn import validation
from cairn.core.errors import InvalidInputError
from cairn.core.user import acting_as
from cairn.server.api._json import check_version_text, plain
from cairn.server.auth import Caller, require
from cairn.validation import ingest
from cairn.validation.catalog import Check
from cairn.validation.wire import ResultRecord, SuiteSave

router = APIRouter(tags=["validation"])

#: A stored suite's name, then optionally its version (what ``save_suite`` accepts).
_SUITE_REF = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}(@v?[0-9]{1,18})?")


def _stored_suite_ref(ref: str) -> str:
    """``ref`` if it can only name a suite in the store: ``load_suite`` also reads YAML files,
    and the server must never read its own files for a client."""
    if (
        not _SUITE_REF.fullmatch(ref)
        or ref.endswith((".yaml", ".yml"))
        or _exists(Path(ref))  # a file of that name here would be read instead
    ):
        raise InvalidInputError(
            f"{ref[:40]!r} does not name a stored suite: use NAME or NAME@vN (letters, digits, "
            "'.', '_' or '-'; the server reads suites from its store, never from files)"
        )
    return ref


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except OSError:
        return False


@router.get("/suites/{ref}")
def show_suite(ref: str, _caller: Annotated[Caller, Depends(require("reader"))]) -> Any:
    """A stored suite (``NAME`` for its latest version, ``NAME@v2``) with its expectations,
    and which version it is (and the dataset version it was profiled from)."""
    suite, version = validation.load_suite(_stored_suite_ref(ref))
    return {"suite": plain(suite.to_dict()), "version": plain(version)}


@router.get("/datasets/{name}/validation")
def results(
    name: str,
    _caller: Annotated[Caller, Depends(require("reader"))],
    version: Annotated[str, Query(description="v2, 2 or latest")] = "latest",
) -> list[Any]:
    """The checks recorded against a version of dataset ``name`` (oldest first): the suite,
    the verdict, the counts and the full report."""
    if "@" in name or "@" in version:
        raise InvalidInputError(
            "name the dataset in the path and its version with ?version=v2 (or latest)"
        )
    check_version_text(version)
    return [plain(r) for r in validation.results_of(f"{name}@{version}")]


@router.post("/suites", status_code=201)
def save_suite(
    body: SuiteSave, request: Request, caller: Annotated[Caller, Depends(require("writer"))]
) -> Any:
    """Store an uploaded suite's YAML as the next version of its name (the same text as its
    latest version answers that version: saving again makes none)."""
    with acting_as(caller.user):
        version = ingest.ingest_suite(request.app.state.store, body.name, body.digest)
    return plain(version)


@router.post("/validation/results")
def record_result(
    body: ResultRecord, request: Request, caller: Annotated[Caller, Depends(require("writer"))]
) -> dict[str, Any]:
    """Record a check whose JSON report was uploaded (once per report and time: a request
    sent again changes nothing)."""
    check = Check(body.suite, body.number, body.digest, body.target, body.dataset_version, body.run)
    with acting_as(caller.user):
        recorded = ingest.ingest_result(request.app.state.store, check, body.created_ms)
    return {"recorded": recorded}
