"""Alembic environment: runs on the connection cairn hands in (never reads alembic.ini)."""

from __future__ import annotations

from alembic import context

from cairn.store.db.schema import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
context.run_migrations()
