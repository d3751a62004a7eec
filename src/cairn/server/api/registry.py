"""The model registry over HTTP: models, versions (with signature, metrics and files), alias
moves and their history, lineage, and (admins) deleting and restoring versions; for cairn
clients, registering a new version (its files uploaded first), the files to load a version,
tags and descriptions, and a run's loads of a version.

Alias moves, deletions and restores are written to the audit log with the token's user.
Writers register versions of their own runs only (admins of any run).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, StrictInt, StrictStr

from cairn import registry
from cairn.core.errors import InvalidInputError, ModelNotFoundError, RunNotFoundError
from cairn.core.uris import ModelUri, RunUri, check_alias, parse_model_uri
from cairn.core.user import acting_as
from cairn.registry import ModelFile, ingest
from cairn.registry.wire import DescriptionBody, ModelInput, TagsBody, VersionCreate
from cairn.server.api._audited import audited
from cairn.server.api._json import check_version_text, plain
from cairn.server.auth import Caller, check_owner, require
from cairn.tracking.ingest import run_owner

router = APIRouter(tags=["models"])
Writer = Annotated[Caller, Depends(require("writer"))]
Reader = Annotated[Caller, Depends(require("reader"))]


class AliasBody(BaseModel):
    """The body of ``PUT /models/{name}/aliases/{alias}``: the version, and why."""

    model_config = ConfigDict(extra="forbid")

    version: StrictInt | StrictStr
    reason: StrictStr | None = None


def _version_ref(name: str, version: str) -> str:
    """``name/3`` for a number, ``name/latest``, else ``name@alias``."""
    check_version_text(version)
    if (version.isascii() and version.isdigit()) or version == "latest":
        return f"{name}/{version}"
    return f"{name}@{version}"


def _uri(name: str, version: str) -> ModelUri:
    """The version of ``name`` that ``version`` (a number, an alias or ``latest``) names."""
    parsed = parse_model_uri(_version_ref(name, version))
    assert not isinstance(parsed, RunUri)  # a model name never starts with runs:/
    return parsed


def _own_run(request: Request, caller: Caller, run_id: str) -> int:
    """The database id of the run ``run_id``, which the caller may write to."""
    db_id, owner = run_owner(request.app.state.store, run_id.lower())
    check_owner(caller, owner, f"run {run_id}")
    return db_id


def _number(version: str) -> int:
    if not (version.isascii() and version.isdigit() and len(version) <= 18 and int(version)):
        raise InvalidInputError(
            f"deleting and restoring name a version by its number (1, 2, ...), not {version[:40]!r}"
        )
    return int(version)


@router.get("/models")
def list_models(_caller: Annotated[Caller, Depends(require("reader"))]) -> list[Any]:
    """Every registered model, by name, with its latest version, aliases and tags."""
    return [plain(m) for m in registry.list_models()]


@router.get("/models/{name}")
def show_model(
    name: str, _caller: Annotated[Caller, Depends(require("reader"))], deleted: bool = False
) -> Any:
    """The model and its versions, newest first (deleted ones too when ``deleted``)."""
    model = registry.get_model(name)
    versions = registry.list_versions(name, include_deleted=deleted)
    return {**plain(model), "versions": [plain(v) for v in versions]}


@router.get("/models/{name}/versions/{version}")
def show_version(
    name: str, version: str, _caller: Annotated[Caller, Depends(require("reader"))]
) -> Any:
    """One version (a number, an alias or ``latest``) with its signature, tags, the metrics
    of the run that logged it and its files (a version deleted by number is shown, flagged)."""
    by_number = version.isascii() and version.isdigit()
    found = registry.get_model_version(_version_ref(name, version), include_deleted=by_number)
    metrics: dict[str, Any] = {}
    files: list[Any] = []
    if found.run_id is not None:
        from cairn.tracking import get_run

        try:
            run = get_run(found.run_id)
        except RunNotFoundError:  # purged: the version outlives its run's record
            run = None
        if run is not None:
            metrics = {k: v for k, v in run.metrics.items() if not k.startswith("system/")}
            prefix = found.artifact_path.rstrip("/") + "/"
            files = [
                {"path": a.path[len(prefix) :], "size": a.size, "digest": a.digest}
                for a in sorted(run.artifacts, key=lambda a: a.path)
                if a.path.startswith(prefix)
            ]
    return {**plain(found), "metrics": plain(metrics), "files": files}


@router.get("/models/{name}/aliases/{alias}/history")
def alias_history(
    name: str, alias: str, _caller: Annotated[Caller, Depends(require("reader"))]
) -> list[Any]:
    """Every move of ``alias`` (oldest first): who, when, from which version to which, why."""
    check_alias(alias)
    moves = [plain(m) for m in registry.alias_history(name) if m.alias == alias]
    if not moves:
        raise ModelNotFoundError(f"model {name!r} never had an alias {alias!r}")
    return moves


@router.get("/models/{name}/versions/{version}/lineage")
def lineage(name: str, version: str, _caller: Annotated[Caller, Depends(require("reader"))]) -> Any:
    """The lineage map of the version: its run, the dataset versions that run read, the runs
    that made those, up to the sources."""
    return plain(registry.model_lineage(_version_ref(name, version)).to_dict())


@router.get("/models/{name}/history")
def model_history(name: str, _caller: Reader) -> list[Any]:
    """Every move of every alias of the model (oldest first)."""
    return [plain(m) for m in registry.alias_history(name)]


@router.get("/models/{name}/versions/{version}/files")
def version_files(request: Request, name: str, version: str, _caller: Reader) -> Any:
    """The live version (a number, an alias or ``latest``) and its files by digest: what a
    client downloads, verified, to load it."""
    found, files = ingest.version_files(request.app.state.store, _uri(name, version))
    return {"version": plain(found), "files": [plain(f) for f in files]}


@router.post("/models/{name}/versions", status_code=201)
def create_version(request: Request, name: str, body: VersionCreate, caller: Writer) -> Any:
    """Register the next version of ``name``, logged by the caller's run: refused, with
    nothing recorded, unless the server holds every one of its files."""
    _own_run(request, caller, body.run_id)
    user = caller.user if request.app.state.auth else (body.user or caller.user)
    with acting_as(user):
        found = ingest.ingest_version(
            request.app.state.store,
            name,
            run_id=body.run_id,
            artifact_path=body.artifact_path,
            flavor=body.flavor,
            digest=body.digest,
            signature=body.signature,
            requirements=body.requirements,
            metadata=body.metadata,
            description=body.description,
            tags=body.tags,
            files=[ModelFile(f.path, f.size, f.digest) for f in body.files],
            user=user,
        )
    return plain(found)


@router.post("/models/{name}/versions/{version}/inputs")
def record_input(
    request: Request, name: str, version: str, body: ModelInput, caller: Writer
) -> dict[str, Any]:
    """Record that the caller's run loaded the version (once)."""
    db_id = _own_run(request, caller, body.run_id)
    ingest.record_input(request.app.state.store, _uri(name, version), db_id)
    return {"run_id": body.run_id}


@router.put("/models/{name}/tags")
def set_model_tags(name: str, body: TagsBody, caller: Writer) -> dict[str, Any]:
    """Set tags on the model (replacing those of the same names)."""
    with acting_as(caller.user):
        registry.set_model_tags(name, body.tags)
    return {"tags": body.tags}


@router.put("/models/{name}/versions/{version}/tags")
def set_version_tags(name: str, version: str, body: TagsBody, caller: Writer) -> dict[str, Any]:
    """Set tags on a version (a number, an alias or ``latest``)."""
    with acting_as(caller.user):
        registry.set_model_tags(_version_ref(name, version), body.tags)
    return {"tags": body.tags}


@router.put("/models/{name}/description")
def describe_model(name: str, body: DescriptionBody, caller: Writer) -> dict[str, Any]:
    """Set the model's description (none when empty)."""
    with acting_as(caller.user):
        registry.describe(name, body.description)
    return {"description": body.description}


@router.put("/models/{name}/versions/{version}/description")
def describe_version(
    name: str, version: str, body: DescriptionBody, caller: Writer
) -> dict[str, Any]:
    """Set a version's description (none when empty)."""
    with acting_as(caller.user):
        registry.describe(_version_ref(name, version), body.description)
    return {"description": body.description}


@router.put("/models/{name}/aliases/{alias}")
def set_alias(
    request: Request,
    name: str,
    alias: str,
    body: AliasBody,
    caller: Annotated[Caller, Depends(require("writer"))],
) -> Any:
    """Point ``alias`` at ``version``; the move is kept in the alias history and the audit
    log (``alias.set``)."""
    if isinstance(body.version, str):
        check_version_text(body.version)
    return plain(
        audited(
            request,
            caller,
            lambda: registry.set_alias(name, alias, body.version, reason=body.reason),
            lambda move: (
                "alias.set",
                f"models:/{name}@{alias}",
                {"from": move.from_version, "to": move.to_version, "reason": move.reason},
            ),
        )
    )


@router.delete("/models/{name}/aliases/{alias}")
def delete_alias(
    request: Request, name: str, alias: str, caller: Annotated[Caller, Depends(require("writer"))]
) -> Any:
    """Remove ``alias`` (kept in its history); audited as ``alias.delete``."""
    return plain(
        audited(
            request,
            caller,
            lambda: registry.delete_alias(name, alias),
            lambda move: (
                "alias.delete",
                f"models:/{name}@{alias}",
                {"from": move.from_version, "to": None, "reason": None},
            ),
        )
    )


@router.post("/models/{name}/versions/{version}/delete")
def delete_version(
    request: Request, name: str, version: str, caller: Annotated[Caller, Depends(require("admin"))]
) -> Any:
    """Mark a version deleted (refused while an alias points at it); audited as
    ``model_version.delete``."""
    number = _number(version)
    found = audited(
        request,
        caller,
        lambda: registry.delete_version(f"{name}/{number}"),
        lambda found: ("model_version.delete", found.uri, {"version": number}),
    )
    return plain(found)


@router.post("/models/{name}/versions/{version}/restore")
def restore_version(
    request: Request, name: str, version: str, caller: Annotated[Caller, Depends(require("admin"))]
) -> Any:
    """Undo a deletion (while cairn gc has not freed the files); audited as
    ``model_version.restore``."""
    number = _number(version)
    found = audited(
        request,
        caller,
        lambda: registry.restore_version(f"{name}/{number}"),
        lambda found: ("model_version.restore", found.uri, {"version": number}),
    )
    return plain(found)
