"""cairn: self-hosted MLOps in one pip install."""

from __future__ import annotations

from cairn.core.logging import logger

__all__ = ["logger"]
