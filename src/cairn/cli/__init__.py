"""The ``cairn`` command line: one module per command group."""

from __future__ import annotations

__all__: list[str] = []
