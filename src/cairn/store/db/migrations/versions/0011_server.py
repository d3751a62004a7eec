"""server: API tokens, the audit log and applied batches

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 03:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "server_tokens",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("token_id", sa.String(length=32), nullable=False),
        sa.Column("user", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=True),
        sa.Column("expires_ms", sa.BigInteger(), nullable=True),
        sa.Column("revoked_ms", sa.BigInteger(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_server_tokens")),
        sa.UniqueConstraint("token_id", name=op.f("uq_server_tokens_token_id")),
    )
    op.create_table(
        "audit_events",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("ts_ms", sa.BigInteger(), nullable=False),
        sa.Column("user", sa.String(length=255), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    op.create_index(op.f("ix_audit_events_ts_ms"), "audit_events", ["ts_ms"], unique=False)
    op.create_table(
        "applied_batches",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("run_id", _ID, nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["runs.id"],
            name=op.f("fk_applied_batches_run_id_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_applied_batches")),
    )
    op.create_index(op.f("ix_applied_batches_run_id"), "applied_batches", ["run_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_applied_batches_run_id"), table_name="applied_batches")
    op.drop_table("applied_batches")
    op.drop_index(op.f("ix_audit_events_ts_ms"), table_name="audit_events")
    op.drop_table("audit_events")
    op.drop_table("server_tokens")
