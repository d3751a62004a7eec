"""All tables of the metadata store, one module per domain, sharing one ``metadata``."""

from __future__ import annotations

from cairn.store.db.schema._base import metadata
from cairn.store.db.schema.tracking import (
    experiments,
    latest_metrics,
    metric_chunks,
    metric_keys,
    params,
    run_artifacts,
    run_tags,
    runs,
)

#: Columns that hold artifact digests: an object is garbage only when none references it.
DIGEST_COLUMNS = [run_artifacts.c.digest]

__all__ = [
    "DIGEST_COLUMNS",
    "experiments",
    "latest_metrics",
    "metadata",
    "metric_chunks",
    "metric_keys",
    "params",
    "run_artifacts",
    "run_tags",
    "runs",
]
