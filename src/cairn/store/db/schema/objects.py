"""Tables about the artifact store's objects themselves: what garbage collection deleted.

A row is written before gc deletes an object and completed after, so that a writer who found
the object stored can tell, in the transaction that records its reference, whether gc
deleted it meanwhile (``cairn.store.deletions``).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, String, Table

from cairn.store.db.schema._base import Id, metadata

object_deletions = Table(
    "object_deletions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),  # in the order gc marked them
    Column("digest", String(71), nullable=False),
    Column("marked_ms", BigInteger, nullable=False),  # gc's clock, when it decided
    Column("done_ms", BigInteger),  # null while the deletion may still happen
    Index(None, "digest", "id"),
    Index(None, "done_ms"),
)
