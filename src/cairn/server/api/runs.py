"""Runs over HTTP: what cairn clients write (create, batches, end, artifacts) and read (a run,
searches with the filter language), and (admins) deleting and restoring runs.

Writers write only their own runs (the run's user is the token's user); every write is
idempotent, so a client's spool may send it again. The user a run records is the token's, not
what the client says, whenever tokens are required.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response

from cairn import tracking
from cairn.core.user import acting_as
from cairn.server.api._audited import Event, audited
from cairn.server.auth import Caller, check_owner, require
from cairn.tracking import ingest
from cairn.tracking.record import ArtifactEntry
from cairn.tracking.wire import (
    ArtifactRecord,
    Batch,
    Claim,
    Heartbeat,
    RunCreate,
    RunEnd,
    RunIds,
    RunSearch,
    record_to_wire,
)

router = APIRouter(tags=["runs"])
Writer = Annotated[Caller, Depends(require("writer"))]
Reader = Annotated[Caller, Depends(require("reader"))]
Admin = Annotated[Caller, Depends(require("admin"))]


def _own_run(request: Request, caller: Caller, uid: str) -> int:
    db_id, owner = ingest.run_owner(request.app.state.store, uid)
    check_owner(caller, owner, f"run {uid}")
    return db_id


@router.post("/runs", status_code=201)
def create_run(body: RunCreate, request: Request, caller: Writer) -> dict[str, Any]:
    """Create a run (once per id: sending it again answers the same run)."""
    user = caller.user if request.app.state.auth else (body.user or caller.user)
    with acting_as(user):
        db_id = ingest.ingest_run(
            request.app.state.store,
            uid=body.uid.lower(),
            experiment=body.experiment,
            name=body.name,
            parent=body.parent.lower() if body.parent else None,
            start_ms=body.start_ms,
            user=user,
            host=body.host,
            pid=body.pid,
            params=body.params,
            tags=body.tags,
        )
    _own_run(request, caller, body.uid.lower())  # an id another user's run already has: 403
    return {"id": body.uid.lower(), "db_id": db_id}


@router.post("/runs/{uid}/batch")
def log_batch(uid: str, body: Batch, request: Request, caller: Writer) -> dict[str, Any]:
    """Write metric points, params and tags of a run in one transaction (once per key)."""
    db_id = _own_run(request, caller, uid)
    metrics = {key: (s.steps, s.ts, s.values) for key, s in body.metrics.items()}
    applied = ingest.ingest_batch(
        request.app.state.store, db_id, body.key, metrics, body.params, body.tags
    )
    return {"applied": applied}


@router.post("/runs/{uid}/end")
def end_run(uid: str, body: RunEnd, request: Request, caller: Writer) -> dict[str, Any]:
    """End a run (an ended run stays as it ended, unless ``fail`` marks it failed)."""
    db_id = _own_run(request, caller, uid)
    store = request.app.state.store
    if body.fail:
        ingest.ingest_fail(store, db_id, body.end_ms, body.error or "failed")
    else:
        ingest.ingest_end(store, db_id, body.status, body.end_ms, body.error)
    return {"id": uid}


@router.post("/runs/{uid}/claim")
def claim_run(uid: str, body: Claim, request: Request, caller: Writer) -> dict[str, Any]:
    """Record the client process that runs the run."""
    db_id = _own_run(request, caller, uid)
    ingest.ingest_claim(request.app.state.store, db_id, body.host, body.pid)
    return {"id": uid}


@router.post("/runs/heartbeat")
def heartbeat(body: Heartbeat, request: Request, caller: Writer) -> dict[str, Any]:
    """Record that the processes of these runs are alive."""
    ids = []
    for uid in body.runs:
        db_id, owner = ingest.run_owner(request.app.state.store, uid)
        check_owner(caller, owner, f"run {uid}")
        ids.append(db_id)
    ingest.ingest_heartbeat(request.app.state.store, ids)
    return {"runs": len(ids)}


@router.post("/runs/{uid}/artifacts")
def record_artifacts(
    uid: str, body: ArtifactRecord, request: Request, caller: Writer
) -> dict[str, Any]:
    """Record uploaded objects as the run's artifacts."""
    db_id = _own_run(request, caller, uid)
    entries = [ArtifactEntry(e.path, e.digest, e.size) for e in body.entries]
    ingest.ingest_artifacts(request.app.state.store, db_id, entries)
    return {"recorded": len(entries)}


@router.post("/runs/search", response_model=None)
def search_runs(body: RunSearch, _caller: Reader) -> Response:
    """Runs matching the filter language, in order, as records."""
    records = tracking.find_runs(
        body.filter, body.order_by, body.experiment, body.limit, body.include_deleted
    )
    return _json({"runs": [record_to_wire(record) for record in records]})


@router.get("/runs/{ref}", response_model=None)
def get_run(ref: str, _caller: Reader) -> Response:
    """A run (id or unique prefix) with params, tags, metrics, history and artifacts."""
    return _json(record_to_wire(tracking.get_run(ref)))


def _json(data: Any) -> Response:
    """Rendered once, by json (NaN and infinities kept): records are plain data already, so
    FastAPI's walk over every value is not needed."""
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str)
    return Response(body.encode("utf-8"), media_type="application/json")


@router.post("/runs/delete")
def delete_runs(body: RunIds, request: Request, caller: Admin) -> dict[str, Any]:
    """Delete runs (restorable until gc); audited in the same transaction."""
    deleted = audited(
        request, caller, partial(tracking.delete_runs, body.runs), _event("runs.delete")
    )
    return {"runs": deleted}


@router.post("/runs/restore")
def restore_runs(body: RunIds, request: Request, caller: Admin) -> dict[str, Any]:
    """Restore deleted runs; audited in the same transaction."""
    restored = audited(
        request, caller, partial(tracking.restore_runs, body.runs), _event("runs.restore")
    )
    return {"runs": restored}


def _event(action: str) -> Callable[[list[str]], Event]:
    return lambda uids: (action, ",".join(uids), {"runs": uids})
