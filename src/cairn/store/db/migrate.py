"""Create or upgrade the schema with Alembic, once, whichever process gets there first.

The fast path is one query comparing ``alembic_version`` with ``SCHEMA_HEAD``; Alembic itself
is imported only when the schema must be created or upgraded (a test keeps ``SCHEMA_HEAD``
equal to the newest migration).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from cairn.core.errors import MigrationError, StoreError
from cairn.store.db.dialect import lock_schema

if TYPE_CHECKING:
    from cairn.store.db.session import Database

SCHEMA_HEAD = "0012"
MIGRATIONS = Path(__file__).parent / "migrations"


def current_revision(conn: Connection) -> str | None:
    """Return the schema revision recorded in the database, or None for an empty one."""
    try:
        with conn.begin_nested():
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except DBAPIError:
        return None


def ensure_schema(db: Database) -> None:
    """Bring the database to ``SCHEMA_HEAD``, creating it if needed."""
    with db.read() as conn:
        if current_revision(conn) == SCHEMA_HEAD:
            return
    try:
        with db.write() as conn:
            lock_schema(conn)
            if current_revision(conn) != SCHEMA_HEAD:
                upgrade(conn)
    except StoreError:
        raise
    except Exception as exc:
        raise MigrationError(
            f"could not create or upgrade the cairn schema in {db.display_url}: {exc}; "
            "check that the database user may create tables"
        ) from exc


def upgrade(conn: Connection, revision: str = "head") -> None:
    """Run Alembic's upgrade to ``revision`` on ``conn`` (inside the caller's transaction)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = conn
    command.upgrade(config, revision)
