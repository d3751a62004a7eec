"""Tables of the data catalog: datasets, their immutable versions and the files in them.

A version points at a manifest; a manifest (identified by its digest) lists files by relative
path, size and content digest, and is shared by every version with the same content. Catalog
fields (description, owner, frequency, source) live on the dataset and every edit is kept in
``dataset_events``; versions are never updated except to mark them deleted.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from cairn.store.db.schema._base import Id, metadata

datasets = Table(
    "datasets",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("description", Text),
    Column("owner", String(255)),
    Column("frequency", String(100)),  # daily | weekly | monthly | a cron expression
    Column("source", Text),  # where the data comes from, in the owner's words
    Column("created_ms", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),  # catalog fields last edited
)

dataset_tags = Table(
    "dataset_tags",
    metadata,
    Column("dataset_id", Id, ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("value", Text, nullable=False),
)

dataset_events = Table(
    "dataset_events",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("dataset_id", Id, ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False),
    Column("ts_ms", BigInteger, nullable=False),
    Column("user", String(255)),
    Column("field", String(64), nullable=False),
    Column("old", Text),
    Column("new", Text),
    Index(None, "dataset_id", "ts_ms"),
)

manifests = Table(
    "manifests",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("digest", String(71), nullable=False, unique=True),  # of the manifest's own bytes
    Column("file_count", Integer, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
)

manifest_files = Table(
    "manifest_files",
    metadata,
    Column("manifest_id", Id, ForeignKey("manifests.id", ondelete="CASCADE"), primary_key=True),
    Column("path", String(1000), primary_key=True),
    Column("digest", String(71), nullable=False),
    Column("size", BigInteger, nullable=False),
    Index(None, "digest"),
)

dataset_versions = Table(
    "dataset_versions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("dataset_id", Id, ForeignKey("datasets.id"), nullable=False),
    Column("number", Integer, nullable=False),
    Column("manifest_id", Id, ForeignKey("manifests.id"), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("user", String(255)),
    Column("run_id", Id, ForeignKey("runs.id", ondelete="SET NULL")),
    Column("location", Text),  # where it was added from (a path or URL)
    Column("deleted_ms", BigInteger),
    Column("deleted_by", String(255)),
    UniqueConstraint("dataset_id", "number"),
)

# Facts about tabular files, by content: computed once per distinct file.
table_facts = Table(
    "table_facts",
    metadata,
    Column("digest", String(71), primary_key=True),
    Column("format", String(16), nullable=False),  # parquet | csv
    Column("columns", Text, nullable=False),  # JSON: [[name, dtype], ...]
    Column("rows", BigInteger, nullable=False),
)
