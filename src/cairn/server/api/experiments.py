"""Experiments over HTTP: readers list them, writers create them (as starting a run in a new
one does), admins rename and delete them (audited in the same transaction)."""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from cairn import tracking
from cairn.core.user import acting_as
from cairn.server.api._audited import audited
from cairn.server.auth import Caller, require
from cairn.tracking.experiments import MAX_NAME_LENGTH, ExperimentDeletion, experiment_dict

router = APIRouter(tags=["experiments"])
Writer = Annotated[Caller, Depends(require("writer"))]
Reader = Annotated[Caller, Depends(require("reader"))]
Admin = Annotated[Caller, Depends(require("admin"))]
Name = Annotated[str, Field(min_length=1, max_length=MAX_NAME_LENGTH)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ExperimentName(_Model):
    """An experiment to create."""

    name: Name


class ExperimentRename(_Model):
    """An experiment's old and new names."""

    old: Name
    new: Name


class ExperimentDelete(_Model):
    """An experiment to delete, and whether its live runs go with it."""

    name: Name
    force: bool = False


@router.get("/experiments")
def list_experiments(_caller: Reader) -> dict[str, Any]:
    """Every experiment with its run counts."""
    return {"experiments": [experiment_dict(e) for e in tracking.list_experiments()]}


@router.post("/experiments", status_code=201)
def create_experiment(body: ExperimentName, caller: Writer) -> dict[str, Any]:
    """Create an empty experiment (refused when the name is taken)."""
    with acting_as(caller.user):
        return experiment_dict(tracking.create_experiment(body.name))


@router.post("/experiments/rename")
def rename_experiment(body: ExperimentRename, request: Request, caller: Admin) -> dict[str, Any]:
    """Rename an experiment (its runs follow); audited."""
    renamed = audited(
        request,
        caller,
        partial(tracking.rename_experiment, body.old, body.new),
        lambda e: ("experiments.rename", body.old, {"old": body.old, "new": e.name}),
    )
    return experiment_dict(renamed)


@router.post("/experiments/delete")
def delete_experiment(body: ExperimentDelete, request: Request, caller: Admin) -> dict[str, Any]:
    """Delete an experiment (its live runs too with ``force``, soft); audited."""

    def event(done: ExperimentDeletion) -> tuple[str, str, dict[str, Any]]:
        return ("experiments.delete", body.name, experiment_dict(done))

    deleted = audited(
        request,
        caller,
        partial(tracking.delete_experiment, body.name, force=body.force),
        event,
    )
    return experiment_dict(deleted)
