"""Value types of the model registry: what ``cairn.registry`` functions return."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

DESCRIPTOR = "cairn-model.json"  # the file in a model's folder that says how to load it
FORMAT = 1  # the descriptor's format: a newer one is refused with "upgrade cairn"


@dataclass(frozen=True)
class ModelFile:
    """One file of a model version: its path in the model's folder, size and digest."""

    path: str
    size: int
    digest: str


@dataclass(frozen=True)
class ModelVersion:
    """A registered, immutable version of a model."""

    name: str
    version: int
    flavor: str
    run_id: str | None  # the run that logged it
    artifact_path: str  # its folder among the run's artifacts
    created_ms: int
    user: str | None
    description: str | None = None
    signature: dict[str, Any] | None = None
    requirements: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    aliases: list[str] = field(default_factory=list)
    deleted: bool = False

    @property
    def uri(self) -> str:
        """``models:/name/N``: how to load exactly this version."""
        return f"models:/{self.name}/{self.version}"


@dataclass(frozen=True)
class RegisteredModel:
    """A model name with its versions' summary, aliases and tags."""

    name: str
    description: str | None
    created_ms: int
    updated_ms: int
    latest_version: int | None
    version_count: int
    aliases: dict[str, int] = field(default_factory=dict)  # alias -> version number
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AliasMove:
    """One change of an alias: set (``from_version`` None), moved, or deleted (``to`` None)."""

    alias: str
    from_version: int | None
    to_version: int | None
    ts_ms: int
    user: str | None
    reason: str | None = None


def version_from_row(row: Any, tags: dict[str, str], aliases: list[str]) -> ModelVersion:
    """A version from a row of its columns, read by key (``id``, ``name``, ``number``,
    ``flavor``, ``uid`` (the run's), ``artifact_path``, ``created_ms``, ``user``,
    ``description``, ``signature``, ``requirements``, ``metadata``, ``deleted_ms``)."""
    return ModelVersion(
        name=row["name"],
        version=int(row["number"]),
        flavor=row["flavor"],
        run_id=row["uid"],
        artifact_path=row["artifact_path"],
        created_ms=int(row["created_ms"]),
        user=row["user"],
        description=row["description"],
        signature=json.loads(row["signature"]) if row["signature"] else None,
        requirements=json.loads(row["requirements"]) if row["requirements"] else {},
        metadata=json.loads(row["metadata"]) if row["metadata"] else {},
        tags=tags,
        aliases=aliases,
        deleted=row["deleted_ms"] is not None,
    )
