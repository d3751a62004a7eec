"""Tables of experiments and runs.

Metric points are stored in chunks: one row per (run, key) per flush holding the steps,
timestamps and values of many points as packed little-endian arrays, which keeps a point
near 24 bytes on disk and a flush of any size to a few rows. ``latest_metrics`` keeps each
run's last value per key for filtering and sorting.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ColumnElement,
    Double,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    func,
    literal_column,
    text,
)

from cairn.store.db.schema._base import Id, metadata

experiments = Table(
    "experiments",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("description", Text),
    Column("created_ms", BigInteger, nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("uid", String(26), nullable=False, unique=True),
    Column("experiment_id", Id, ForeignKey("experiments.id"), nullable=False),
    Column("parent_id", Id, ForeignKey("runs.id", ondelete="SET NULL")),
    Column("name", String(255), nullable=False),
    Column("status", String(16), nullable=False),
    Column("start_ms", BigInteger, nullable=False),
    Column("end_ms", BigInteger),
    Column("user", String(255)),
    Column("error", Text),
    Column("deleted_ms", BigInteger),
    # Liveness of a running run: its process (host, pid) and its last heartbeat. A run still
    # "running" whose process is gone or whose heartbeat stopped reads as "crashed".
    Column("host", String(255)),
    Column("pid", Integer),
    Column("heartbeat_ms", BigInteger),
    Index(None, "experiment_id", "start_ms"),
    Index(None, "parent_id"),
    # Partial: only deleted runs are looked up by it (gc), and live ones never pay for it.
    Index("ix_runs_deleted", "deleted_ms", sqlite_where=text("deleted_ms IS NOT NULL")),
    Index("ix_runs_running", "host", sqlite_where=text("status = 'running'")),
)

#: The predicates of the partial indexes above. PostgreSQL's copy of each is attached by
#: ``add_postgresql_options`` when a PostgreSQL engine is made: naming ``postgresql_where``
#: here would import SQLAlchemy's PostgreSQL dialect (~50 ms, a tenth of a training script's
#: start) into every SQLite process.
PARTIAL_INDEXES = {
    "ix_runs_deleted": "deleted_ms IS NOT NULL",
    "ix_runs_running": "status = 'running'",
}


def add_postgresql_options() -> None:
    """Give the partial indexes their PostgreSQL predicates (idempotent)."""
    for index in runs.indexes:
        predicate = PARTIAL_INDEXES.get(str(index.name))
        if predicate is not None and index.dialect_options["postgresql"]["where"] is None:
            index.dialect_options["postgresql"]["where"] = text(predicate)


metric_keys = Table(
    "metric_keys",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(500), nullable=False, unique=True),
)

metric_chunks = Table(
    "metric_chunks",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("run_id", Id, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("key_id", Id, ForeignKey("metric_keys.id"), nullable=False),
    Column("count", Integer, nullable=False),
    Column("steps", LargeBinary, nullable=False),
    Column("timestamps", LargeBinary, nullable=False),
    Column("values", LargeBinary, nullable=False),
    Index(None, "run_id", "key_id"),
)

latest_metrics = Table(
    "latest_metrics",
    metadata,
    Column("run_id", Id, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("key_id", Id, ForeignKey("metric_keys.id"), primary_key=True),
    Column("step", BigInteger, nullable=False),
    Column("ts_ms", BigInteger, nullable=False),
    # NULL stands for NaN: SQLite stores NaN as NULL.
    Column("value", Double),
    Index(None, "key_id", "value"),
)

params = Table(
    "params",
    metadata,
    Column("run_id", Id, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(500), primary_key=True),
    # The display form: the string itself, or JSON for other values (see is_json).
    Column("value", Text, nullable=False),
    # The numeric view of numbers and numeric strings, for comparisons in filters.
    Column("num", Double),
    Column("is_json", Boolean, nullable=False),
    # Filters compare a key's numeric view (params.lr > 0.01) through this index.
    Index(None, "key", "num"),
)

run_tags = Table(
    "run_tags",
    metadata,
    Column("run_id", Id, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(500), primary_key=True),
    Column("value", Text, nullable=False),
)

#: Characters of a param or tag value that the (key, value) indexes hold. Values are unbounded
#: text and a PostgreSQL B-tree entry must stay under about 2,700 bytes, so the indexes hold
#: a prefix (500-character key + 100 characters, at most 2,400 bytes of UTF-8) and filters
#: test the prefix before the whole value (see ``value_prefix``).
VALUE_PREFIX = 100


def value_prefix(column: ColumnElement[str]) -> ColumnElement[str]:
    """The indexed prefix of a param or tag value: ``substr(value, 1, VALUE_PREFIX)``.

    The bounds are literals, not bound parameters, so that SQLite and PostgreSQL match the
    expression with the index's.
    """
    return func.substr(column, literal_column("1"), literal_column(str(VALUE_PREFIX)))


Index("ix_params_key_value", params.c.key, value_prefix(params.c.value))
Index("ix_run_tags_key_value", run_tags.c.key, value_prefix(run_tags.c.value))

run_artifacts = Table(
    "run_artifacts",
    metadata,
    Column("run_id", Id, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("path", String(1000), primary_key=True),
    Column("digest", String(71), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Index(None, "digest"),
)
