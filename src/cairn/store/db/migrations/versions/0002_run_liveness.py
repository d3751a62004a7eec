"""run liveness: host, pid and heartbeat of running runs

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 17:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("host", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("pid", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("heartbeat_ms", sa.BigInteger(), nullable=True))
        batch_op.create_index(
            "ix_runs_running",
            ["host"],
            unique=False,
            sqlite_where=sa.text("status = 'running'"),
            postgresql_where=sa.text("status = 'running'"),
        )
    # Runs left running by an older cairn have no heartbeat: their start is the last sign of life.
    op.execute("UPDATE runs SET heartbeat_ms = start_ms WHERE status = 'running'")


def downgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_index("ix_runs_running")
        batch_op.drop_column("heartbeat_ms")
        batch_op.drop_column("pid")
        batch_op.drop_column("host")
