"""pipelines: the step cache, schedules and trigger events

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 21:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "step_results",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("pipeline", sa.String(length=255), nullable=False),
        sa.Column("node", sa.String(length=255), nullable=False),
        sa.Column("run_id", _ID, nullable=False),
        sa.Column("parts", sa.Text(), nullable=False),
        sa.Column("reads", sa.Text(), nullable=False),
        sa.Column("outputs", sa.Text(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["runs.id"],
            name=op.f("fk_step_results_run_id_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_step_results")),
    )
    op.create_index(op.f("ix_step_results_key"), "step_results", ["key"], unique=False)
    op.create_index(
        op.f("ix_step_results_pipeline_node_id"),
        "step_results",
        ["pipeline", "node", "id"],
        unique=False,
    )
    op.create_index(op.f("ix_step_results_run_id"), "step_results", ["run_id"], unique=False)
    op.create_table(
        "pipeline_schedules",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("target", sa.String(length=1000), nullable=False),
        sa.Column("root", sa.Text(), nullable=False),
        sa.Column("cron", sa.String(length=255), nullable=True),
        sa.Column("on_data", sa.String(length=255), nullable=True),
        sa.Column("on_event", sa.String(length=64), nullable=True),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column("executor", sa.String(length=255), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("next_due_ms", sa.BigInteger(), nullable=True),
        sa.Column("seen_version_id", sa.BigInteger(), nullable=True),
        sa.Column("seen_event_id", sa.BigInteger(), nullable=True),
        sa.Column("claim", sa.BigInteger(), nullable=False),
        sa.Column("last_run_uid", sa.String(length=26), nullable=True),
        sa.Column("last_started_ms", sa.BigInteger(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pipeline_schedules")),
        sa.UniqueConstraint("name", name=op.f("uq_pipeline_schedules_name")),
    )
    op.create_table(
        "pipeline_events",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pipeline_events")),
    )
    op.create_index(
        op.f("ix_pipeline_events_name_id"), "pipeline_events", ["name", "id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_pipeline_events_name_id"), table_name="pipeline_events")
    op.drop_table("pipeline_events")
    op.drop_table("pipeline_schedules")
    op.drop_index(op.f("ix_step_results_run_id"), table_name="step_results")
    op.drop_index(op.f("ix_step_results_pipeline_node_id"), table_name="step_results")
    op.drop_index(op.f("ix_step_results_key"), table_name="step_results")
    op.drop_table("step_results")
