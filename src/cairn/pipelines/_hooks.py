"""Pipelines' side of hooks other capabilities call (announced as the ``cairn`` entry point
``pipelines``, so monitoring reaches it without importing this package)."""

from __future__ import annotations

from typing import Any

from cairn.core.hookspecs import hookimpl


@hookimpl
def cairn_drift_detected(model: str, version: int | None, details: dict[str, Any]) -> None:
    """Record the event ``drift_detected``: schedules with ``--on-event drift_detected`` start."""
    from cairn.pipelines._schedule_checks import DRIFT_DETECTED
    from cairn.pipelines.schedule import emit_event

    emit_event(DRIFT_DETECTED, {"model": model, "version": version, "details": details})
