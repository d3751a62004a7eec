"""Tables of data validation: versioned suites and the results of checks.

A suite version is the YAML text stored as an object (its digest) and numbered per suite name;
it may name the dataset version it was profiled from. A result records what was checked (a
dataset version, a run, or a file), the suite version, the outcome and the full report (an
object, JSON).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
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

validation_suites = Table(
    "validation_suites",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(128), nullable=False),
    Column("number", Integer, nullable=False),
    Column("digest", String(71), nullable=False),  # the YAML text, as an object
    Column("dataset_version_id", Id, ForeignKey("dataset_versions.id", ondelete="SET NULL")),
    Column("created_ms", BigInteger, nullable=False),
    Column("user", String(255)),
    UniqueConstraint("name", "number"),
)

validation_results = Table(
    "validation_results",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("suite_id", Id, ForeignKey("validation_suites.id"), nullable=False),
    Column("dataset_version_id", Id, ForeignKey("dataset_versions.id", ondelete="SET NULL")),
    Column("run_id", Id, ForeignKey("runs.id", ondelete="SET NULL")),
    Column("target", Text),  # what was checked, in words (a path, name@vN)
    Column("passed", Boolean, nullable=False),
    Column("errors", Integer, nullable=False),
    Column("warnings", Integer, nullable=False),
    Column("rows", BigInteger, nullable=False),
    Column("digest", String(71), nullable=False),  # the JSON report, as an object
    Column("created_ms", BigInteger, nullable=False),
    Index(None, "dataset_version_id"),
    Index(None, "suite_id", "created_ms"),
)
