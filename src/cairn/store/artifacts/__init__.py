"""Content-addressed artifact store over fsspec (local folders, S3, any fsspec scheme)."""

from __future__ import annotations

from cairn.store.artifacts.store import ArtifactStore, StoredObject

__all__ = ["ArtifactStore", "StoredObject"]
