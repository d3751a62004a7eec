"""(key, value) indexes on params and run tags

Filters such as ``params.optim = 'adam'`` or ``tags.team = 'a'`` found their rows by key and
then scanned every run's value; these indexes find them directly. Values are unbounded text,
so the value indexes hold a 100-character prefix (a PostgreSQL B-tree entry must stay under
about 2,700 bytes); params also get (key, num) for numeric comparisons.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 18:50:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_PREFIX = 100  # cairn.store.db.schema.tracking.VALUE_PREFIX when this migration was written


def _prefix() -> sa.ColumnElement[str]:
    return sa.func.substr(
        sa.column("value"), sa.literal_column("1"), sa.literal_column(str(_PREFIX))
    )


def upgrade() -> None:
    with op.batch_alter_table("params", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_params_key_num"), ["key", "num"], unique=False)
    op.create_index("ix_params_key_value", "params", [sa.column("key"), _prefix()])
    op.create_index("ix_run_tags_key_value", "run_tags", [sa.column("key"), _prefix()])


def downgrade() -> None:
    op.drop_index("ix_run_tags_key_value", table_name="run_tags")
    op.drop_index("ix_params_key_value", table_name="params")
    with op.batch_alter_table("params", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_params_key_num"))
