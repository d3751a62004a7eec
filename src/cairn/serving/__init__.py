"""Serving: a FastAPI server for registered models (adaptive batching, a fallback, metrics, a
prediction log, hot swap), batch scoring jobs, and container build contexts."""

from __future__ import annotations

from cairn.serving.app import ModelSpec, ServerOptions, create_app, route_name, serve
from cairn.serving.batch import ScoreResult, score
from cairn.serving.batching import BatchOptions
from cairn.serving.build import BuildContext, build_context
from cairn.serving.deployments import lineage, with_deployments
from cairn.serving.prediction_log import PurgeResult, purge_prediction_log, read_prediction_log

__all__ = [
    "BatchOptions",
    "BuildContext",
    "ModelSpec",
    "PurgeResult",
    "ScoreResult",
    "ServerOptions",
    "build_context",
    "create_app",
    "lineage",
    "purge_prediction_log",
    "read_prediction_log",
    "route_name",
    "score",
    "serve",
    "with_deployments",
]
