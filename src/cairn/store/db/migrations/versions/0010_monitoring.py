"""monitoring: model references, monitoring windows and alerts

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 00:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "model_references",
        sa.Column("version_id", _ID, nullable=False),
        sa.Column("digest", sa.String(length=71), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["model_versions.id"],
            name=op.f("fk_model_references_version_id_model_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("version_id", name=op.f("pk_model_references")),
    )
    op.create_index(
        op.f("ix_model_references_digest"), "model_references", ["digest"], unique=False
    )
    op.create_table(
        "monitor_windows",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("model", sa.String(length=128), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("start_ms", sa.BigInteger(), nullable=False),
        sa.Column("end_ms", sa.BigInteger(), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("verdict", sa.String(length=32), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("result", sa.Text(), nullable=False),
        sa.Column("digest", sa.String(length=71), nullable=True),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitor_windows")),
        sa.UniqueConstraint(
            "model",
            "version",
            "kind",
            "start_ms",
            name=op.f("uq_monitor_windows_model_version_kind_start_ms"),
        ),
    )
    op.create_index(op.f("ix_monitor_windows_digest"), "monitor_windows", ["digest"], unique=False)
    op.create_index(
        op.f("ix_monitor_windows_model_kind_start_ms"),
        "monitor_windows",
        ["model", "kind", "start_ms"],
        unique=False,
    )
    op.create_table(
        "monitor_alerts",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("rule", sa.String(length=255), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("window_start_ms", sa.BigInteger(), nullable=False),
        sa.Column("window_end_ms", sa.BigInteger(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.Column("fired_ms", sa.BigInteger(), nullable=False),
        sa.Column("delivery", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitor_alerts")),
        sa.UniqueConstraint(
            "rule",
            "subject",
            "window_start_ms",
            name=op.f("uq_monitor_alerts_rule_subject_window_start_ms"),
        ),
    )
    op.create_index(
        op.f("ix_monitor_alerts_subject_fired_ms"),
        "monitor_alerts",
        ["subject", "fired_ms"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_monitor_alerts_subject_fired_ms"), table_name="monitor_alerts")
    op.drop_table("monitor_alerts")
    op.drop_index(op.f("ix_monitor_windows_model_kind_start_ms"), table_name="monitor_windows")
    op.drop_index(op.f("ix_monitor_windows_digest"), table_name="monitor_windows")
    op.drop_table("monitor_windows")
    op.drop_index(op.f("ix_model_references_digest"), table_name="model_references")
    op.drop_table("model_references")
