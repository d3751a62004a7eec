"""All tables of the metadata store, one module per domain, sharing one ``metadata``."""

from __future__ import annotations

from cairn.store.db.schema._base import metadata
from cairn.store.db.schema.data import (
    dataset_events,
    dataset_tags,
    dataset_versions,
    datasets,
    manifest_files,
    manifests,
    table_facts,
)
from cairn.store.db.schema.lineage import lineage_edges
from cairn.store.db.schema.loop import retrain_policies, retrainings
from cairn.store.db.schema.monitoring import model_references, monitor_alerts, monitor_windows
from cairn.store.db.schema.objects import object_deletions
from cairn.store.db.schema.pipelines import pipeline_events, pipeline_schedules, step_results
from cairn.store.db.schema.registry import (
    model_alias_events,
    model_aliases,
    model_tags,
    model_version_files,
    model_version_tags,
    model_versions,
    models,
)
from cairn.store.db.schema.server import applied_batches, audit_events, server_tokens
from cairn.store.db.schema.serving import prediction_log_files
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
from cairn.store.db.schema.validation import validation_results, validation_suites

#: Columns that hold artifact digests: an object is garbage only when none references it.
DIGEST_COLUMNS = [
    run_artifacts.c.digest,
    manifest_files.c.digest,
    manifests.c.digest,
    model_version_files.c.digest,
    prediction_log_files.c.digest,
    validation_suites.c.digest,
    validation_results.c.digest,
    model_references.c.digest,
    monitor_windows.c.digest,
]

__all__ = [
    "DIGEST_COLUMNS",
    "applied_batches",
    "audit_events",
    "dataset_events",
    "dataset_tags",
    "dataset_versions",
    "datasets",
    "experiments",
    "latest_metrics",
    "lineage_edges",
    "manifest_files",
    "manifests",
    "metadata",
    "metric_chunks",
    "metric_keys",
    "model_alias_events",
    "model_aliases",
    "model_references",
    "model_tags",
    "model_version_files",
    "model_version_tags",
    "model_versions",
    "models",
    "monitor_alerts",
    "monitor_windows",
    "object_deletions",
    "params",
    "pipeline_events",
    "pipeline_schedules",
    "prediction_log_files",
    "retrain_policies",
    "retrainings",
    "run_artifacts",
    "run_tags",
    "runs",
    "server_tokens",
    "step_results",
    "table_facts",
    "validation_results",
    "validation_suites",
]
