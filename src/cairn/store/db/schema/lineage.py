"""The one lineage graph every capability writes: typed nodes, directed edges.

An edge says data flowed from ``src`` to ``dst``: a dataset version read by a run
(``dataset_version -> run``, relation ``input``), a dataset version written by a run
(``run -> dataset_version``, relation ``output``); later capabilities add model versions,
servers and pipelines as kinds of their own.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, String, Table, UniqueConstraint

from cairn.store.db.schema._base import Id, metadata

lineage_edges = Table(
    "lineage_edges",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("src_kind", String(32), nullable=False),
    Column("src_id", BigInteger, nullable=False),
    Column("dst_kind", String(32), nullable=False),
    Column("dst_id", BigInteger, nullable=False),
    Column("relation", String(32), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    UniqueConstraint("src_kind", "src_id", "dst_kind", "dst_id", "relation"),
    Index(None, "dst_kind", "dst_id"),
)
