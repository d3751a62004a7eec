"""The wire models of the data catalog: what a cairn client sends to a cairn server.

Defined once, used by the server's router for data (the client builds the same shapes as plain
dicts, without pydantic). A version travels as its manifest: the files (path, digest, size),
facts of its tables by file digest, and the catalog fields and tags ``add`` sets; the server
checks each value again (``ingest``) and records the version in one transaction, so sending
the same manifest twice makes one version.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

MAX_FILES = 1_000_000


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FileItem(_Model):
    """One file of a version."""

    path: str = Field(min_length=1, max_length=4096)
    digest: str = Field(min_length=1, max_length=71)
    size: int = Field(ge=0)


class TableItem(_Model):
    """What a tabular file holds: its format, columns (name, type) and rows."""

    format: str = Field(max_length=16)
    columns: list[tuple[str, str]] = Field(max_length=100_000)
    rows: int = Field(ge=0)


class CatalogFields(_Model):
    """Catalog fields to set (absent: left as is; "": cleared) and tags."""

    description: str | None = None
    owner: str | None = None
    frequency: str | None = None
    source: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)


class VersionCreate(CatalogFields):
    """A version by its manifest (every object uploaded first), with what ``add`` records."""

    files: list[FileItem] = Field(min_length=1, max_length=MAX_FILES)
    tables: dict[str, TableItem] = Field(default_factory=dict)
    location: str | None = Field(default=None, max_length=4096)
    run: str | None = Field(default=None, max_length=26)


class RunInput(_Model):
    """A dataset version a run read (an input edge of the lineage)."""

    dataset: str = Field(min_length=1, max_length=128)
    number: int = Field(ge=1)
