"""The wire models of the model registry: what a cairn client sends to a cairn server.

Defined once, used by the server's router for models; the client (``_remote``) builds the same
shapes as plain dicts. A new version travels as its record (the run that logged it, where its
files are among the run's artifacts, flavor, descriptor digest, signature, requirements,
metadata, description, tags, and each file with its digest): the files themselves are
uploaded first, as artifacts of the run, and the server checks that it holds every one.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

MAX_FILES = 100_000


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class VersionFile(_Model):
    """One file of a version: its path in the model's folder, size and digest."""

    path: StrictStr = Field(min_length=1, max_length=1000)
    size: StrictInt = Field(ge=0)
    digest: StrictStr = Field(min_length=1, max_length=71)


class VersionCreate(_Model):
    """A new version of a model, logged by a run whose artifacts hold its files."""

    run_id: StrictStr = Field(min_length=1, max_length=26)
    artifact_path: StrictStr = Field(min_length=1, max_length=1000)
    flavor: StrictStr = Field(min_length=1, max_length=255)
    digest: StrictStr = Field(min_length=1, max_length=71)
    signature: dict[str, Any] | None = None
    requirements: dict[StrictStr, StrictStr] = Field(default_factory=dict)
    metadata: dict[str, Any] = Field(default_factory=dict)
    description: StrictStr | None = None
    tags: dict[StrictStr, StrictStr] = Field(default_factory=dict)
    files: list[VersionFile] = Field(min_length=1, max_length=MAX_FILES)
    user: StrictStr | None = Field(default=None, max_length=255)


class TagsBody(_Model):
    """Tags to set (replacing those of the same names) on a model or a version."""

    tags: dict[StrictStr, StrictStr]


class DescriptionBody(_Model):
    """The new description of a model or a version (None or blank: none)."""

    description: StrictStr | None = None


class ModelInput(_Model):
    """A run that loaded a model version (recorded as an input of the run)."""

    run_id: StrictStr = Field(min_length=1, max_length=26)
