"""Experiment tracking: runs, params, metrics, artifacts, search."""

from __future__ import annotations

from cairn.core.ids import describe_time
from cairn.tracking.diff import Difference, DiffSection, RunDiff, diff_runs
from cairn.tracking.launch import LaunchResult, launch, parse_overrides, parse_seeds
from cairn.tracking.manage import GcResult, delete_runs, gc, purge_deleted_runs, restore_runs
from cairn.tracking.query import (
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
from cairn.tracking.seed import (
    current_seed,
    jax_key,
    rng,
    seed,
    seed_worker,
    seeded_libraries,
    torch_generator,
)

__all__ = [
    "ArtifactEntry",
    "DiffSection",
    "Difference",
    "GcResult",
    "LaunchResult",
    "MetricPoint",
    "Run",
    "RunDiff",
    "RunRecord",
    "active_run",
    "current_run",
    "current_seed",
    "delete_runs",
    "describe_time",
    "diff_runs",
    "download_artifacts",
    "end_run",
    "find_runs",
    "gc",
    "get_run",
    "jax_key",
    "launch",
    "log",
    "log_artifact",
    "log_dict",
    "log_figure",
    "log_params",
    "log_text",
    "parse_overrides",
    "parse_seeds",
    "purge_deleted_runs",
    "restore_runs",
    "rng",
    "runs_frame",
    "search_runs",
    "seed",
    "seed_worker",
    "seeded_libraries",
    "set_tags",
    "start_run",
    "torch_generator",
]
