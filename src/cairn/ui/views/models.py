"""The model registry pages: every model (``/models``), one model's versions and aliases with
their full move history (``/models/<name>``), and one version (``/models/<name>/<version>``,
by number, alias or ``latest``); each also at ``.json``. The forms that move aliases, promote,
roll back and describe are in ``models_edit``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from cairn import registry
from cairn.ui.page import Viewer, render
from cairn.ui.views import models_edit
from cairn.ui.views.models_data import model_context, version_context

router = APIRouter(include_in_schema=False)


@router.get("/models")
@router.get("/models.json")
def models_page(request: Request, caller: Viewer) -> Response:
    """Every registered model: name, description, latest version, aliases, tags, updated."""
    models: list[Any] = registry.list_models()
    return render(request, "models.html", {"models": models})


@router.get("/models/{name}")
@router.get("/models/{name}.json")
def model_page(request: Request, name: str, caller: Viewer) -> Response:
    """One model: its versions (with their runs' key metrics), its aliases with every move,
    and (writers) the forms to move, promote and roll back an alias."""
    return render(request, "models_model.html", model_context(name, caller))


@router.get("/models/{name}/{version}")
@router.get("/models/{name}/{version}.json")
def version_page(request: Request, name: str, version: str, caller: Viewer) -> Response:
    """One version: signature, flavor, files, its run's metrics and params, tags, inputs,
    description (editable by writers) and a link to its lineage."""
    return render(request, "models_version.html", version_context(request, name, version, caller))


router.include_router(models_edit.router)
