"""The pages, one module per section; each module's ``router`` is mounted by ``create_app``."""

from __future__ import annotations

from cairn.ui.views import (
    compare,
    data,
    lineage,
    models,
    monitoring,
    pipelines,
    run,
    runs,
    session,
)

ROUTERS = [
    session.router,
    runs.router,
    run.router,
    compare.router,
    data.router,
    models.router,
    lineage.router,
    pipelines.router,
    monitoring.router,
]

__all__ = ["ROUTERS"]
