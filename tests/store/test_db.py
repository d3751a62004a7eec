"""The metadata store on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
import warnings
from pathlib import Path

import pytest
from sqlalchemy import text

from cairn.core.errors import ConfigError, StoreUnavailableError
from cairn.store import Store
from cairn.store.db import Database
from cairn.store.db.migrate import MIGRATIONS, SCHEMA_HEAD, current_revision


def test_schema_is_created_at_head(store: Store) -> None:
    """First use creates the schema at the newest migration."""
    with store.db.read() as conn:
        assert current_revision(conn) == SCHEMA_HEAD


def test_schema_head_matches_newest_migration() -> None:
    """SCHEMA_HEAD (the fast-path check) names Alembic's head revision."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_current_head() == SCHEMA_HEAD


def test_reopening_does_not_migrate_again(store: Store, store_url: str) -> None:
    """A second Database on the same URL finds the schema current and leaves it alone."""
    again = Database(store_url)
    with again.read() as conn:
        assert current_revision(conn) == SCHEMA_HEAD
    again.dispose()


def test_sqlite_pragmas(project: Path) -> None:
    """SQLite is created in WAL mode with foreign keys on and synchronous=NORMAL."""
    db = Database(f"sqlite:///{project / 'x.db'}")
    with db.read() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() >= 10_000
    db.dispose()
    raw = sqlite3.connect(project / "x.db")
    assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    raw.close()


def test_store_sync_full_syncs_every_commit(project: Path) -> None:
    """store_sync=full (CAIRN_STORE_SYNC, cairn.yaml) runs SQLite with synchronous=FULL."""
    from cairn.core.settings import configure
    from cairn.store import get_store, reset_store

    configure(store_sync="full")
    reset_store()
    with get_store().db.read() as conn:
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 2


def test_store_sync_refuses_unknown_levels(project: Path) -> None:
    """A durability level other than normal or full is refused, naming both."""
    with pytest.raises(ConfigError, match="normal or full"):
        Database(f"sqlite:///{project / 'x.db'}", sync="extra")


def test_unreachable_postgres_says_what_to_do() -> None:
    """A PostgreSQL URL nobody answers gives one clear StoreUnavailableError."""
    with pytest.raises(StoreUnavailableError, match="check that the server is running"):
        Database("postgresql://postgres@127.0.0.1:1/nothing")


def test_bad_url_is_a_config_error() -> None:
    """A URL that is not a database URL is rejected with the settings to fix."""
    with pytest.raises(ConfigError, match="CAIRN_STORE"):
        Database("mysql://localhost/x")
    with pytest.raises(ConfigError, match="CAIRN_STORE"):
        Database("not a url")


def test_unwritable_home_is_a_clear_error(project: Path) -> None:
    """A store whose folder cannot be created names the folder and the setting to change."""
    blocker = project / "not-a-folder"
    blocker.write_text("a file where the home folder should be")
    with pytest.raises(StoreUnavailableError, match="CAIRN_HOME"):
        Database(f"sqlite:///{blocker / 'sub' / 'cairn.db'}")


def test_migrations_build_exactly_the_declared_schema(store: Store) -> None:
    """Alembic finds nothing to change between the migrated database and the table code."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from cairn.store.db.schema import metadata

    with store.db.read() as conn, warnings.catch_warnings():
        # SQLAlchemy cannot reflect SQLite's expression indexes (the value-prefix ones);
        # test_param_and_tag_value_indexes_exist checks those by name.
        warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-based")
        warnings.filterwarnings("ignore", "autogenerate skipping metadata-specified expression")
        context = MigrationContext.configure(conn)
        assert compare_metadata(context, metadata) == []


def test_param_and_tag_value_indexes_exist(store: Store) -> None:
    """Migration 0007 indexes params by (key, num) and params and tags by (key, value prefix)."""
    with store.db.read() as conn:
        query = (
            "SELECT name FROM sqlite_master WHERE type = 'index'"
            if conn.dialect.name == "sqlite"
            else "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"
        )
        names = set(conn.execute(text(query)).scalars())
    assert {"ix_params_key_num", "ix_params_key_value", "ix_run_tags_key_value"} <= names


def test_partial_indexes_are_declared_as_each_backend_built_them(store: Store) -> None:
    """The table code gives each backend's partial run indexes the predicate its database has."""
    from sqlalchemy.schema import CreateIndex

    from cairn.store.db.schema import runs

    declared = {
        str(index.name): str(CreateIndex(index).compile(dialect=store.db.engine.dialect))
        for index in runs.indexes
    }
    with store.db.read() as conn:
        query = (
            "SELECT sql FROM sqlite_master WHERE name = :name"
            if conn.dialect.name == "sqlite"
            else "SELECT indexdef FROM pg_indexes WHERE indexname = :name"
            " AND schemaname = current_schema()"  # other tests' schemas hold the same names
        )
        for name, predicate in (
            ("ix_runs_deleted", "deleted_ms IS NOT NULL"),
            ("ix_runs_running", "status = 'running'"),
        ):
            built = conn.execute(text(query), {"name": name}).scalar_one()
            assert predicate in built.replace("(", "").replace(")", "").replace("::text", "")
            assert declared[name].endswith(f"WHERE {predicate}")


def test_a_sqlite_process_never_imports_the_postgresql_dialect(project: Path) -> None:
    """A run on an existing SQLite store loads none of SQLAlchemy's PostgreSQL dialect modules."""
    import subprocess
    import sys

    from cairn.store import get_store

    get_store()  # creates the schema: Alembic, which creating it needs, loads every dialect
    code = (
        "import sys, cairn\nwith cairn.run():\n    cairn.log({'loss': 1.0}, step=0)\n"
        "print([m for m in sys.modules if m.startswith('sqlalchemy.dialects.postgresql')])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=project, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_upgrade_from_0001_keeps_runs_and_gives_running_ones_a_heartbeat(project: Path) -> None:
    """A store made by the first release upgrades in place; a running run's start is its beat."""
    from sqlalchemy import create_engine

    from cairn.store.db.migrate import upgrade

    path = project / "old.db"
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        upgrade(conn, "0001")
        conn.execute(text("INSERT INTO experiments (name, created_ms) VALUES ('e', 1)"))
        conn.execute(
            text(
                "INSERT INTO runs (uid, experiment_id, name, status, start_ms) VALUES "
                "('a', 1, 'a', 'running', 1000), ('b', 1, 'b', 'finished', 2000)"
            )
        )
    engine.dispose()
    db = Database(f"sqlite:///{path}")
    with db.read() as conn:
        assert current_revision(conn) == SCHEMA_HEAD
        rows = conn.execute(text("SELECT uid, heartbeat_ms FROM runs ORDER BY uid")).all()
    db.dispose()
    assert [tuple(r) for r in rows] == [("a", 1000), ("b", None)]
