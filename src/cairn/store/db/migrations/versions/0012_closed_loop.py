"""closed loop: retraining policies and retrainings

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "retrain_policies",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("model", sa.String(length=128), nullable=False),
        sa.Column("spec", sa.Text(), nullable=False),
        sa.Column("root", sa.Text(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("next_due_ms", sa.BigInteger(), nullable=True),
        sa.Column("seen_alert_id", sa.BigInteger(), nullable=False),
        sa.Column("seen_version_id", sa.BigInteger(), nullable=False),
        sa.Column("claim", sa.BigInteger(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_by", sa.String(length=255), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_retrain_policies")),
        sa.UniqueConstraint("model", name=op.f("uq_retrain_policies_model")),
    )
    op.create_table(
        "retrainings",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("model", sa.String(length=128), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("trigger_kind", sa.String(length=16), nullable=False),
        sa.Column("trigger", sa.Text(), nullable=False),
        sa.Column("alert_id", sa.BigInteger(), nullable=True),
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.Column("policy", sa.Text(), nullable=False),
        sa.Column("dataset_version", sa.String(length=512), nullable=True),
        sa.Column("validation", sa.Text(), nullable=True),
        sa.Column("pipeline_run", sa.String(length=26), nullable=True),
        sa.Column("challenger", sa.BigInteger(), nullable=True),
        sa.Column("champion", sa.BigInteger(), nullable=True),
        sa.Column("scores", sa.Text(), nullable=True),
        sa.Column("checks", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("result_alert_id", sa.BigInteger(), nullable=True),
        sa.Column("owner", sa.String(length=255), nullable=True),
        sa.Column("heartbeat_ms", sa.BigInteger(), nullable=True),
        sa.Column("claim", sa.BigInteger(), nullable=False),
        sa.Column("attempts", sa.BigInteger(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("started_ms", sa.BigInteger(), nullable=True),
        sa.Column("ended_ms", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_retrainings")),
    )
    op.create_index(op.f("ix_retrainings_model_id"), "retrainings", ["model", "id"], unique=False)
    op.create_index(op.f("ix_retrainings_state"), "retrainings", ["state"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_retrainings_state"), table_name="retrainings")
    op.drop_index(op.f("ix_retrainings_model_id"), table_name="retrainings")
    op.drop_table("retrainings")
    op.drop_table("retrain_policies")
