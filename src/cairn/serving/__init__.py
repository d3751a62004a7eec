"""Serving: a FastAPI server for registered models (adaptive batching, a fallback, metrics, a
prediction log, hot swap), batch scoring jobs, and container build contexts."""

from __future__ import annotations

__all__: list[str] = []
