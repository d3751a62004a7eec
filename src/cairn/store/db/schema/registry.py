"""Tables of the model registry: models, their numbered versions, aliases and alias history.

A model version is a set of files (listed in ``model_version_files`` with their digests, so gc
keeps them and loading verifies them) logged by a run. Version numbers count up per model and
are never reused. An alias points at one version; every move (set, moved, deleted) is kept in
``model_alias_events``. Versions are never edited except their description, tags and the mark
that deletes them.
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

models = Table(
    "models",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("description", Text),
    Column("created_ms", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
)

model_versions = Table(
    "model_versions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("model_id", Id, ForeignKey("models.id"), nullable=False),
    Column("number", Integer, nullable=False),
    Column("run_id", Id, ForeignKey("runs.id", ondelete="SET NULL")),
    Column("artifact_path", String(1000), nullable=False),  # the folder in the run
    Column("flavor", String(64), nullable=False),
    Column("digest", String(71), nullable=False),  # of the descriptor file (cairn-model.json)
    Column("signature", Text),  # JSON
    Column("requirements", Text),  # JSON: {distribution: version}
    Column("metadata", Text),  # JSON given by the user
    Column("description", Text),
    Column("created_ms", BigInteger, nullable=False),
    Column("user", String(255)),
    Column("deleted_ms", BigInteger),
    Column("deleted_by", String(255)),
    UniqueConstraint("model_id", "number"),
    Index(None, "run_id"),
)

model_version_files = Table(
    "model_version_files",
    metadata,
    Column("version_id", Id, ForeignKey("model_versions.id", ondelete="CASCADE"), primary_key=True),
    Column("path", String(1000), primary_key=True),  # relative to the model's folder
    Column("digest", String(71), nullable=False),
    Column("size", BigInteger, nullable=False),
    Index(None, "digest"),
)

model_aliases = Table(
    "model_aliases",
    metadata,
    Column("model_id", Id, ForeignKey("models.id", ondelete="CASCADE"), primary_key=True),
    Column("alias", String(128), primary_key=True),
    Column("version_id", Id, ForeignKey("model_versions.id"), nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
    Index(None, "version_id"),
)

model_alias_events = Table(
    "model_alias_events",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("model_id", Id, ForeignKey("models.id", ondelete="CASCADE"), nullable=False),
    Column("alias", String(128), nullable=False),
    Column("from_number", Integer),  # None: the alias was new
    Column("to_number", Integer),  # None: the alias was deleted
    Column("ts_ms", BigInteger, nullable=False),
    Column("user", String(255)),
    Column("reason", Text),  # e.g. the promotion rule that allowed the move
    Index(None, "model_id", "ts_ms"),
)

model_tags = Table(
    "model_tags",
    metadata,
    Column("model_id", Id, ForeignKey("models.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("value", Text, nullable=False),
)

model_version_tags = Table(
    "model_version_tags",
    metadata,
    Column("version_id", Id, ForeignKey("model_versions.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("value", Text, nullable=False),
)
