"""Monitoring's hook implementations: a registered model version gets its training reference."""

from __future__ import annotations

from cairn.core.errors import CairnError, NotFoundError
from cairn.core.hookspecs import hookimpl
from cairn.core.logging import logger


@hookimpl
def cairn_model_logged(model: str, version: int, run_id: str | None) -> None:
    """Summarize the training data of a new version (when its run read a catalog dataset).

    A reference that cannot be made is logged as a warning and never fails the training
    that logged the model; ``cairn monitor reference`` makes it later.
    """
    from cairn.monitoring.reference import compute_reference

    try:
        compute_reference(f"{model}/{version}")
    except NotFoundError as exc:  # no dataset in its lineage: nothing to summarize yet
        logger.debug("no reference for %s/%s: %s", model, version, exc)
    except (CairnError, OSError, ValueError, TypeError, MemoryError) as exc:
        logger.warning(
            "could not summarize the training data of %s/%s for monitoring (%s); make it "
            "later with `cairn monitor reference %s/%s`",
            model,
            version,
            exc,
            model,
            version,
        )
