"""Pipelines: Python steps that re-run only what changed, resume after a failure, fan out,
run on local processes or Dask, and start on a schedule.

    import cairn

    @cairn.step
    def train(rows: int, seed: int) -> float: ...

    @cairn.pipeline
    def training(rows: int = 1000):
        return [train(rows, seed=s) for s in (1, 2, 3)]

    cairn.pipelines.run_pipeline(training)   # or: cairn pipeline run module:training

Names are imported on first use (module ``__getattr__``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cairn.core.lazy import lazy_attributes

if TYPE_CHECKING:
    from cairn.pipelines._schedule_checks import (
        check_cron,
        check_executor,
        check_pipeline,
        check_target,
        next_cron_ms,
        param_texts,
        require_dataset,
    )
    from cairn.pipelines._target import load_pipeline
    from cairn.pipelines.executors import Executor, executor_for
    from cairn.pipelines.pipeline import Graph, Output, Pipeline, PipelineDefinitionError, pipeline
    from cairn.pipelines.process import PipelineExit, PipelineProcess, start_pipeline
    from cairn.pipelines.run import (
        PipelineFailedError,
        PipelineResult,
        StepOutcome,
        resume_pipeline,
        run_pipeline,
    )
    from cairn.pipelines.run_graph import PipelineRunGraph, StepRecord, pipeline_run_graph
    from cairn.pipelines.schedule import (
        Schedule,
        ScheduledStart,
        SchedulerCompanion,
        emit_event,
        get_schedule,
        list_schedules,
        remove_schedule,
        run_due,
        run_scheduler,
        schedule_pipeline,
    )
    from cairn.pipelines.show import PipelineRunSummary, describe_pipeline, find_pipeline_runs
    from cairn.pipelines.status import StepStatus, pipeline_status
    from cairn.pipelines.step import Step, StepOptions, step

_LAZY: dict[str, str] = {
    "Executor": "cairn.pipelines.executors",
    "Graph": "cairn.pipelines.pipeline",
    "Output": "cairn.pipelines.pipeline",
    "Pipeline": "cairn.pipelines.pipeline",
    "PipelineDefinitionError": "cairn.pipelines.pipeline",
    "PipelineExit": "cairn.pipelines.process",
    "PipelineFailedError": "cairn.pipelines.run",
    "PipelineProcess": "cairn.pipelines.process",
    "PipelineResult": "cairn.pipelines.run",
    "PipelineRunGraph": "cairn.pipelines.run_graph",
    "PipelineRunSummary": "cairn.pipelines.show",
    "Schedule": "cairn.pipelines.schedule",
    "ScheduledStart": "cairn.pipelines.schedule",
    "SchedulerCompanion": "cairn.pipelines.schedule",
    "Step": "cairn.pipelines.step",
    "StepOptions": "cairn.pipelines.step",
    "StepOutcome": "cairn.pipelines.run",
    "StepRecord": "cairn.pipelines.run_graph",
    "StepStatus": "cairn.pipelines.status",
    "check_cron": "cairn.pipelines._schedule_checks",
    "check_executor": "cairn.pipelines._schedule_checks",
    "check_pipeline": "cairn.pipelines._schedule_checks",
    "check_target": "cairn.pipelines._schedule_checks",
    "describe_pipeline": "cairn.pipelines.show",
    "emit_event": "cairn.pipelines.schedule",
    "executor_for": "cairn.pipelines.executors",
    "find_pipeline_runs": "cairn.pipelines.show",
    "get_schedule": "cairn.pipelines.schedule",
    "list_schedules": "cairn.pipelines.schedule",
    "load_pipeline": "cairn.pipelines._target",
    "next_cron_ms": "cairn.pipelines._schedule_checks",
    "param_texts": "cairn.pipelines._schedule_checks",
    "pipeline": "cairn.pipelines.pipeline",
    "pipeline_run_graph": "cairn.pipelines.run_graph",
    "pipeline_status": "cairn.pipelines.status",
    "remove_schedule": "cairn.pipelines.schedule",
    "require_dataset": "cairn.pipelines._schedule_checks",
    "resume_pipeline": "cairn.pipelines.run",
    "run_due": "cairn.pipelines.schedule",
    "run_pipeline": "cairn.pipelines.run",
    "run_scheduler": "cairn.pipelines.schedule",
    "schedule_pipeline": "cairn.pipelines.schedule",
    "start_pipeline": "cairn.pipelines.process",
    "step": "cairn.pipelines.step",
}

__all__ = [
    "Executor",
    "Graph",
    "Output",
    "Pipeline",
    "PipelineDefinitionError",
    "PipelineExit",
    "PipelineFailedError",
    "PipelineProcess",
    "PipelineResult",
    "PipelineRunGraph",
    "PipelineRunSummary",
    "Schedule",
    "ScheduledStart",
    "SchedulerCompanion",
    "Step",
    "StepOptions",
    "StepOutcome",
    "StepRecord",
    "StepStatus",
    "check_cron",
    "check_executor",
    "check_pipeline",
    "check_target",
    "describe_pipeline",
    "emit_event",
    "executor_for",
    "find_pipeline_runs",
    "get_schedule",
    "list_schedules",
    "load_pipeline",
    "next_cron_ms",
    "param_texts",
    "pipeline",
    "pipeline_run_graph",
    "pipeline_status",
    "remove_schedule",
    "require_dataset",
    "resume_pipeline",
    "run_due",
    "run_pipeline",
    "run_scheduler",
    "schedule_pipeline",
    "start_pipeline",
    "step",
]

__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, __all__)
