"""The model registry over HTTP: models, versions (with signature, metrics and files), alias
moves and their history, lineage, and (admins) deleting and restoring versions.

Alias moves, deletions and restores are written to the audit log with the token's user.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, StrictInt, StrictStr

from cairn import registry
from cairn.core.errors import InvalidInputError, ModelNotFoundError, RunNotFoundError
from cairn.core.uris import check_alias
from cairn.core.user import acting_as
from cairn.server.api.data import check_version_text, plain
from cairn.server.audit import record_event
from cairn.server.auth import Caller, require

router = APIRouter(tags=["models"])


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
    with acting_as(caller.user):
        move = registry.set_alias(name, alias, body.version, reason=body.reason)
    _audit(
        request,
        caller,
        "alias.set",
        f"models:/{name}@{alias}",
        {"from": move.from_version, "to": move.to_version, "reason": move.reason},
    )
    return plain(move)


@router.delete("/models/{name}/aliases/{alias}")
def delete_alias(
    request: Request, name: str, alias: str, caller: Annotated[Caller, Depends(require("writer"))]
) -> Any:
    """Remove ``alias`` (kept in its history); audited as ``alias.delete``."""
    with acting_as(caller.user):
        move = registry.delete_alias(name, alias)
    _audit(
        request,
        caller,
        "alias.delete",
        f"models:/{name}@{alias}",
        {"from": move.from_version, "to": None, "reason": None},
    )
    return plain(move)


@router.post("/models/{name}/versions/{version}/delete")
def delete_version(
    request: Request, name: str, version: str, caller: Annotated[Caller, Depends(require("admin"))]
) -> Any:
    """Mark a version deleted (refused while an alias points at it); audited as
    ``model_version.delete``."""
    number = _number(version)
    with acting_as(caller.user):
        found = registry.delete_version(f"{name}/{number}")
    _audit(request, caller, "model_version.delete", found.uri, {"version": number})
    return plain(found)


@router.post("/models/{name}/versions/{version}/restore")
def restore_version(
    request: Request, name: str, version: str, caller: Annotated[Caller, Depends(require("admin"))]
) -> Any:
    """Undo a deletion (while cairn gc has not freed the files); audited as
    ``model_version.restore``."""
    number = _number(version)
    with acting_as(caller.user):
        found = registry.restore_version(f"{name}/{number}")
    _audit(request, caller, "model_version.restore", found.uri, {"version": number})
    return plain(found)


def _audit(
    request: Request, caller: Caller, action: str, subject: str, detail: dict[str, Any]
) -> None:
    """Record the change just committed. The registry's functions commit on their own, so the
    event follows in a transaction of its own, right after."""
    request.app.state.store.db.transact(
        lambda conn: record_event(conn, caller.user, action, subject, detail)
    )
