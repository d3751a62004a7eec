"""Tables of team mode (``cairn server``): API tokens, the audit log and applied batches.

A token is stored only as the SHA-256 of its secret, beside its public id (the part of the
token before the secret), its user, role, expiry and revocation time. The audit log is
append-only: alias moves, deletions, restores and token changes, each with its user. A batch
of metric points sent by a client carries a key of its own; the key is recorded in the same
transaction as the points, so a batch replayed from a client's spool is written once.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, ForeignKey, Index, String, Table, Text

from cairn.store.db.schema._base import Id, metadata

server_tokens = Table(
    "server_tokens",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("token_id", String(32), nullable=False, unique=True),  # public part of the token
    Column("user", String(255), nullable=False),
    Column("role", String(16), nullable=False),  # reader | writer | admin
    Column("secret_hash", String(64), nullable=False),  # SHA-256 hex of the secret part
    Column("created_ms", BigInteger, nullable=False),
    Column("created_by", String(255)),
    Column("expires_ms", BigInteger),
    Column("revoked_ms", BigInteger),
    Column("note", Text),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("ts_ms", BigInteger, nullable=False),
    Column("user", String(255), nullable=False),
    Column("action", String(64), nullable=False),  # e.g. alias.set, runs.delete, token.create
    Column("subject", Text, nullable=False),  # what it acted on: a model, runs, a token id
    Column("detail", Text),  # JSON
    Index(None, "ts_ms"),
)

applied_batches = Table(
    "applied_batches",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("run_id", Id, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Index(None, "run_id"),
)
