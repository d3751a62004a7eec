"""Serving over HTTP: ``cairn serve`` processes running as clients of this server register the
files of their prediction logs here (each uploaded first, by digest), once per file."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from cairn.core.user import acting_as
from cairn.server.auth import Caller, require
from cairn.serving import ingest
from cairn.serving.wire import PredictionLogFile

router = APIRouter(tags=["serving"])


@router.post("/prediction-logs")
def register_log_file(
    body: PredictionLogFile,
    request: Request,
    caller: Annotated[Caller, Depends(require("writer"))],
) -> dict[str, Any]:
    """List an uploaded Parquet file in a model's prediction log (sent again: listed once)."""
    with acting_as(caller.user):
        recorded = ingest.ingest_log_file(
            request.app.state.store, body.model, body.version, body.day, body.digest
        )
    return {"recorded": recorded}
