"""Foundation: settings, logging, errors, context, ids, hashing, lazy imports.

``core`` imports nothing else from cairn and nothing heavy at import time.
"""

from __future__ import annotations

__all__: list[str] = []
