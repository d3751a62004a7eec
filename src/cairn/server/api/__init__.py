"""The API's routers, one per capability; ``create_app`` mounts each under ``/api/v1``."""

from __future__ import annotations

from cairn.server.api import (
    admin,
    artifacts,
    data,
    experiments,
    health,
    registry,
    runs,
    serving,
    validation,
)
from cairn.server.api._audited import audited
from cairn.server.api._json import plain

ROUTERS = [
    health.router,
    admin.router,
    runs.router,
    experiments.router,
    artifacts.router,
    registry.router,
    data.router,
    validation.router,
    serving.router,
]

__all__ = ["ROUTERS", "audited", "plain"]
