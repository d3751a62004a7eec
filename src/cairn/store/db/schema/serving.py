"""Tables of serving: the files of the prediction log.

A server appends every row it answers to a local spool (fsynced per batch), and turns each
spool into a Parquet file in the artifact store, listed here by model, version and day, so
the log survives the server and is read by the drift monitor without scanning the store.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, String, Table

from cairn.store.db.schema._base import Id, metadata

prediction_log_files = Table(
    "prediction_log_files",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("model", String(128), nullable=False),  # the name the server serves it under
    Column("version", Integer),  # the registered version that answered (None: unregistered)
    Column("day", String(10), nullable=False),  # YYYY-MM-DD (UTC) of the rows
    Column("digest", String(71), nullable=False),
    Column("rows", BigInteger, nullable=False),
    Column("first_ms", BigInteger, nullable=False),
    Column("last_ms", BigInteger, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Index(None, "model", "first_ms"),
    Index(None, "digest"),
)
