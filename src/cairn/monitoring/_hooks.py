"""Monitoring's hook implementations: a registered model version gets its training reference;
a server's ``/metrics`` gets its models' latest drift."""

from __future__ import annotations

from typing import Any

from cairn.core.errors import NotFoundError
from cairn.core.hookspecs import hookimpl
from cairn.core.logging import logger


@hookimpl
def cairn_model_logged(model: str, version: int, run_id: str | None) -> None:
    """Summarize the training data of a new version (when its run read a catalog dataset).

    A reference that cannot be made is logged as a warning and never fails the training
    that logged the model; ``cairn monitor reference`` makes it later.
    """
    from cairn.monitoring.reference import compute_reference
    from cairn.store import get_store

    if get_store().remote is not None:  # client mode: the reference needs the team's stores
        logger.info(
            "the training reference of %s/%s for monitoring is made where the team's stores "
            "are: run `cairn monitor reference %s/%s` there",
            model,
            version,
            model,
            version,
        )
        return
    try:
        compute_reference(f"{model}/{version}")
    except NotFoundError as exc:  # no dataset in its lineage: nothing to summarize yet
        logger.debug("no reference for %s/%s: %s", model, version, exc)
    except Exception as exc:  # whatever it is (the data, the model's predict): not the training's
        logger.warning(
            "could not summarize the training data of %s/%s for monitoring (%s); make it "
            "later with `cairn monitor reference %s/%s`",
            model,
            version,
            exc,
            model,
            version,
        )


@hookimpl
def cairn_drift_gauges(model: str) -> dict[str, Any] | None:
    """The latest stored drift window of ``model``, in the shape serving's ``/metrics``
    exports (None when the model has none)."""
    from cairn.monitoring import _queries
    from cairn.store import get_store

    store = get_store()
    if store.remote is not None:
        return None  # client mode: monitoring windows live with the team's stores
    with store.db.read() as conn:
        found = _queries.latest_windows(conn, [model], "drift").get(model)
    if found is None:
        return None
    columns: dict[str, dict[str, Any]] = {}
    for column in found.result.get("columns", []):
        if not isinstance(column, dict) or not isinstance(column.get("column"), str):
            continue
        effect = column.get("effect")
        columns[column["column"]] = {
            "effect": float(effect) if isinstance(effect, (int, float)) else None,
            "verdict": str(column.get("verdict", "")),
        }
    share = found.result.get("share")
    return {
        "version": found.version,
        "start_ms": found.start_ms,
        "end_ms": found.end_ms,
        "rows": found.rows,
        "verdict": found.verdict,
        "share": float(share) if isinstance(share, (int, float)) else None,
        "columns": columns,
    }
