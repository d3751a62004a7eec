"""object_deletions: what gc deleted, so a concurrent writer can tell (decision 0012)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 19:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "object_deletions",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("digest", sa.String(length=71), nullable=False),
        sa.Column("marked_ms", sa.BigInteger(), nullable=False),
        sa.Column("done_ms", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_object_deletions")),
    )
    op.create_index(
        op.f("ix_object_deletions_digest_id"), "object_deletions", ["digest", "id"], unique=False
    )
    op.create_index(
        op.f("ix_object_deletions_done_ms"), "object_deletions", ["done_ms"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_object_deletions_done_ms"), table_name="object_deletions")
    op.drop_index(op.f("ix_object_deletions_digest_id"), table_name="object_deletions")
    op.drop_table("object_deletions")
