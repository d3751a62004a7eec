"""Experiment tracking: runs, params, metrics, artifacts, search."""

from __future__ import annotations

from cairn.tracking.manage import GcResult, delete_runs, gc, restore_runs
from cairn.tracking.query import (
    describe_time,
    download_artifacts,
    find_runs,
    get_run,
    runs_frame,
    search_runs,
)
from cairn.tracking.record import ArtifactEntry, MetricPoint, RunRecord
from cairn.tracking.run import (
    Run,
    active_run,
    current_run,
    end_run,
    log,
    log_artifact,
    log_dict,
    log_figure,
    log_params,
    log_text,
    set_tags,
    start_run,
)

__all__ = [
    "ArtifactEntry",
    "GcResult",
    "MetricPoint",
    "Run",
    "RunRecord",
    "active_run",
    "current_run",
    "delete_runs",
    "describe_time",
    "download_artifacts",
    "end_run",
    "find_runs",
    "gc",
    "get_run",
    "log",
    "log_artifact",
    "log_dict",
    "log_figure",
    "log_params",
    "log_text",
    "restore_runs",
    "runs_frame",
    "search_runs",
    "set_tags",
    "start_run",
]
