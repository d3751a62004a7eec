"""The hooks cairn's parts (and third-party packages) implement.

A plugin is any object or module with functions marked ``@hookimpl`` whose names are these
specs; third-party packages announce theirs under the ``cairn`` entry-point group. Built-in
features register through the same hooks (``core/plugins.py`` loads them on first use).
"""

from __future__ import annotations

from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("cairn")
hookimpl = pluggy.HookimplMarker("cairn")


class CairnSpec:
    """Hook specifications."""

    @hookspec
    def cairn_model_flavors(self) -> list[Any]:
        """Return model flavors (objects following ``cairn.registry.Flavor``)."""
        raise NotImplementedError

    @hookspec
    def cairn_expectations(self) -> list[Any]:
        """Return expectation classes (following ``cairn.validation.Expectation``)."""
        raise NotImplementedError

    @hookspec(firstresult=True)
    def cairn_check_before_add(self, path: str, suite: str) -> Any:
        """Validate the local table(s) at ``path`` against ``suite`` before they become a
        dataset version: return ``(passed, summary, record)`` where ``record(version_ref)``
        keeps the result linked to the version made (the validation capability implements it)."""
        raise NotImplementedError

    @hookspec
    def cairn_model_logged(self, model: str, version: int, run_id: str | None) -> None:
        """Say that version ``version`` of ``model`` was just registered (by the run
        ``run_id``); monitoring summarizes its training data as the version's reference."""
        raise NotImplementedError

    @hookspec
    def cairn_drift_detected(
        self, model: str, version: int | None, details: dict[str, Any]
    ) -> None:
        """Say that monitoring found drift on ``model`` (``version``, or None for the model as
        a whole), with what it measured in ``details``; pipelines records it as the event
        ``drift_detected``, which starts the schedules waiting on it."""
        raise NotImplementedError

    @hookspec(firstresult=True)
    def cairn_drift_gauges(self, model: str) -> dict[str, Any] | None:
        """Return the latest stored drift window of ``model`` for a server's ``/metrics``
        (monitoring implements it), or None when there is none: ``{"version": int,
        "start_ms": int, "end_ms": int, "rows": int, "verdict": str, "share": float | None,
        "columns": {name: {"effect": float | None, "verdict": str}}}``."""
        raise NotImplementedError
