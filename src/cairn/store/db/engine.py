"""Engines for the metadata store: SQLite (WAL, busy timeout, foreign keys) or PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from cairn.core.errors import ConfigError, StoreUnavailableError
from cairn.core.lazy import import_optional

BUSY_TIMEOUT_MS = 60_000
WRITE_FLAG = "cairn_write"
SQLITE_SYNC = {"normal": "NORMAL", "full": "FULL"}


def parse_url(url: str) -> URL:
    """Parse a store URL, choosing psycopg 3 for PostgreSQL when no driver is named."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(
            f"{url!r} is not a database URL; set CAIRN_STORE to sqlite:///path/to/cairn.db "
            "or postgresql://user@host:5432/dbname"
        ) from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise ConfigError(
            f"unsupported metadata store {parsed.get_backend_name()!r}; CAIRN_STORE must be a "
            "sqlite:/// or postgresql:// URL"
        )
    return parsed


def make_engine(url: str, *, sync: str = "normal") -> Engine:
    """Create the engine for ``url`` with cairn's connection settings.

    ``sync`` is SQLite's durability (``PRAGMA synchronous``): ``normal`` in WAL mode never
    corrupts the database but a power cut may lose the last commits; ``full`` syncs the WAL
    at every commit. PostgreSQL's durability is the server's own setting.
    """
    parsed = parse_url(url)
    if parsed.get_backend_name() == "sqlite":
        if sync not in SQLITE_SYNC:
            raise ConfigError(
                f"store_sync must be one of {', '.join(SQLITE_SYNC)}, not {sync!r}; set "
                "CAIRN_STORE_SYNC (or store_sync in cairn.yaml) to normal or full"
            )
        return _sqlite_engine(parsed, SQLITE_SYNC[sync])
    import_optional("psycopg", "postgres", "A PostgreSQL metadata store")
    from cairn.store.db.schema.tracking import add_postgresql_options

    add_postgresql_options()  # the metadata describes this backend's partial indexes too
    return create_engine(
        parsed,
        pool_pre_ping=True,
        pool_size=5,
        max_overflow=10,
        connect_args={"connect_timeout": 5, "application_name": "cairn"},
    )


def _sqlite_engine(url: URL, synchronous: str) -> Engine:
    database = url.database or ""
    is_new = False
    if database and database != ":memory:":
        path = Path(database)
        is_new = not path.exists()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreUnavailableError(
                f"cannot create the metadata store folder {path.parent}: {exc.strerror or exc}; "
                "run cairn from a writable project folder, or set CAIRN_HOME (or CAIRN_STORE) "
                "to a writable location"
            ) from None
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 60})
    state = {"set_wal": is_new}

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control from the driver so BEGIN IMMEDIATE works (see "begin").
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if state["set_wal"]:
            # Persistent in the file: set once, when cairn creates the database.
            cursor.execute("PRAGMA journal_mode = WAL")
            state["set_wal"] = False
        cursor.execute(f"PRAGMA synchronous = {synchronous}")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Writers take the lock up front: a deferred transaction that upgrades to a write in
        # WAL mode fails at once with SQLITE_BUSY instead of waiting for the busy timeout.
        immediate = conn.info.pop(WRITE_FLAG, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine
