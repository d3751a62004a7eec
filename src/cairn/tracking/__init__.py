"""Experiment tracking: runs, params, metrics, artifacts, search."""

from __future__ import annotations

__all__: list[str] = []
