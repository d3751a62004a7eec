"""Experiment tracking: runs, params, metrics, artifacts, search.

Names are imported on first use (module ``__getattr__``): importing a submodule such as the
standard-library-only ``find_runs_lean`` (``cairn runs ls``) does not pull in SQLAlchemy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cairn.core.lazy import lazy_attributes

# `seed` names a submodule and a function: importing the submodule (run and launch do) sets
# this package's attribute to the module, and __getattr__ is then never asked. So the
# function is bound now (a few ms: seed.py imports only core.errors and _seeding).
from cairn.tracking.seed import seed

if TYPE_CHECKING:
    from cairn.core.ids import describe_time
    from cairn.tracking._lean import find_runs_lean
    from cairn.tracking.comparison import GroupedSeries, differing_keys, get_runs, grouped_series
    from cairn.tracking.diff import Difference, DiffSection, RunDiff, diff_runs
    from cairn.tracking.experiments import (
        Experiment,
        ExperimentDeletion,
        create_experiment,
        delete_experiment,
        list_experiments,
        rename_experiment,
    )
    from cairn.tracking.launch import LaunchResult, launch, parse_overrides, parse_seeds
    from cairn.tracking.ledger import (
        ChildEnd,
        ChildRun,
        ChildSpec,
        end_children,
        start_children,
    )
    from cairn.tracking.manage import GcResult, delete_runs, gc, purge_deleted_runs, restore_runs
    from cairn.tracking.page import RunsPage, iter_runs, runs_page
    from cairn.tracking.query import (
        download_artifacts,
        find_runs,
        get_run,
        list_artifacts,
        runs_frame,
        search_runs,
    )
    from cairn.tracking.record import ArtifactEntry, MetricPoint, RunRecord
    from cairn.tracking.run import (
        Run,
        active_run,
        current_run,
        end_run,
        join_run,
        leave_joined_run,
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
    from cairn.tracking.series import MetricSeries, metric_counts, metric_series

_LAZY: dict[str, str] = {
    "ArtifactEntry": "cairn.tracking.record",
    "ChildEnd": "cairn.tracking.ledger",
    "ChildRun": "cairn.tracking.ledger",
    "ChildSpec": "cairn.tracking.ledger",
    "DiffSection": "cairn.tracking.diff",
    "Difference": "cairn.tracking.diff",
    "Experiment": "cairn.tracking.experiments",
    "ExperimentDeletion": "cairn.tracking.experiments",
    "GcResult": "cairn.tracking.manage",
    "GroupedSeries": "cairn.tracking.comparison",
    "LaunchResult": "cairn.tracking.launch",
    "MetricPoint": "cairn.tracking.record",
    "MetricSeries": "cairn.tracking.series",
    "Run": "cairn.tracking.run",
    "RunDiff": "cairn.tracking.diff",
    "RunRecord": "cairn.tracking.record",
    "RunsPage": "cairn.tracking.page",
    "active_run": "cairn.tracking.run",
    "current_run": "cairn.tracking.run",
    "create_experiment": "cairn.tracking.experiments",
    "current_seed": "cairn.tracking.seed",
    "delete_experiment": "cairn.tracking.experiments",
    "delete_runs": "cairn.tracking.manage",
    "describe_time": "cairn.core.ids",
    "diff_runs": "cairn.tracking.diff",
    "differing_keys": "cairn.tracking.comparison",
    "download_artifacts": "cairn.tracking.query",
    "end_children": "cairn.tracking.ledger",
    "end_run": "cairn.tracking.run",
    "find_runs": "cairn.tracking.query",
    "find_runs_lean": "cairn.tracking._lean",
    "gc": "cairn.tracking.manage",
    "get_run": "cairn.tracking.query",
    "list_artifacts": "cairn.tracking.query",
    "get_runs": "cairn.tracking.comparison",
    "grouped_series": "cairn.tracking.comparison",
    "iter_runs": "cairn.tracking.page",
    "jax_key": "cairn.tracking.seed",
    "join_run": "cairn.tracking.run",
    "launch": "cairn.tracking.launch",
    "list_experiments": "cairn.tracking.experiments",
    "leave_joined_run": "cairn.tracking.run",
    "log": "cairn.tracking.run",
    "log_artifact": "cairn.tracking.run",
    "log_dict": "cairn.tracking.run",
    "log_figure": "cairn.tracking.run",
    "log_params": "cairn.tracking.run",
    "log_text": "cairn.tracking.run",
    "metric_counts": "cairn.tracking.series",
    "metric_series": "cairn.tracking.series",
    "parse_overrides": "cairn.tracking.launch",
    "parse_seeds": "cairn.tracking.launch",
    "purge_deleted_runs": "cairn.tracking.manage",
    "rename_experiment": "cairn.tracking.experiments",
    "restore_runs": "cairn.tracking.manage",
    "rng": "cairn.tracking.seed",
    "runs_frame": "cairn.tracking.query",
    "runs_page": "cairn.tracking.page",
    "search_runs": "cairn.tracking.query",
    "seed": "cairn.tracking.seed",
    "seed_worker": "cairn.tracking.seed",
    "seeded_libraries": "cairn.tracking.seed",
    "set_tags": "cairn.tracking.run",
    "start_children": "cairn.tracking.ledger",
    "start_run": "cairn.tracking.run",
    "torch_generator": "cairn.tracking.seed",
}

__all__ = [
    "ArtifactEntry",
    "ChildEnd",
    "ChildRun",
    "ChildSpec",
    "DiffSection",
    "Difference",
    "Experiment",
    "ExperimentDeletion",
    "GcResult",
    "GroupedSeries",
    "LaunchResult",
    "MetricPoint",
    "MetricSeries",
    "Run",
    "RunDiff",
    "RunRecord",
    "RunsPage",
    "active_run",
    "create_experiment",
    "current_run",
    "current_seed",
    "delete_experiment",
    "delete_runs",
    "describe_time",
    "diff_runs",
    "differing_keys",
    "download_artifacts",
    "end_children",
    "end_run",
    "find_runs",
    "find_runs_lean",
    "gc",
    "get_run",
    "get_runs",
    "grouped_series",
    "iter_runs",
    "jax_key",
    "join_run",
    "launch",
    "leave_joined_run",
    "list_artifacts",
    "list_experiments",
    "log",
    "log_artifact",
    "log_dict",
    "log_figure",
    "log_params",
    "log_text",
    "metric_counts",
    "metric_series",
    "parse_overrides",
    "parse_seeds",
    "purge_deleted_runs",
    "rename_experiment",
    "restore_runs",
    "rng",
    "runs_frame",
    "runs_page",
    "search_runs",
    "seed",
    "seed_worker",
    "seeded_libraries",
    "set_tags",
    "start_children",
    "start_run",
    "torch_generator",
]


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, __all__)
