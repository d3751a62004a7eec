"""One transaction per operation, with retries on transient lock errors."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError, OperationalError

from cairn.core.errors import StoreError, StoreUnavailableError
from cairn.store.db.dialect import is_busy_error
from cairn.store.db.engine import WRITE_FLAG, make_engine, parse_url

T = TypeVar("T")
MAX_ATTEMPTS = 8
# The transaction a block of work joins (``Database.joining``): every read, write and transact
# of that database inside it uses this connection, so the block commits or fails as one.
_joined: ContextVar[tuple[Database, Connection] | None] = ContextVar(
    "cairn_joined_transaction", default=None
)


class Database:
    """The metadata store's engine and its transaction helpers."""

    def __init__(self, url: str, *, migrate: bool = True, sync: str = "normal") -> None:
        self.url = url
        self.engine: Engine = make_engine(url, sync=sync)
        self.backend = self.engine.dialect.name
        if migrate:
            from cairn.store.db.migrate import ensure_schema

            ensure_schema(self)

    @property
    def display_url(self) -> str:
        """The URL with any password hidden."""
        return parse_url(self.url).render_as_string(hide_password=True)

    def _joined_connection(self) -> Connection | None:
        joined = _joined.get()
        return joined[1] if joined is not None and joined[0] is self else None

    @contextmanager
    def joining(self, conn: Connection) -> Iterator[None]:
        """Make every read, write and transaction of this database in the block use ``conn``
        (an open write transaction): what the block does commits with it, or not at all."""
        token = _joined.set((self, conn))
        try:
            yield
        finally:
            _joined.reset(token)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction."""
        joined = self._joined_connection()
        if joined is not None:
            yield joined
            return
        with self._mapped_errors(), self.engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction, committed when the block ends without an exception."""
        joined = self._joined_connection()
        if joined is not None:
            yield joined
            return
        with self._mapped_errors(), self.engine.connect() as conn:
            conn.info[WRITE_FLAG] = True
            with conn.begin():
                yield conn

    def transact(self, operation: Callable[[Connection], T]) -> T:
        """Run ``operation`` in one write transaction, retrying on lock contention."""
        joined = self._joined_connection()
        if joined is not None:
            return operation(joined)  # part of the joined transaction: it retries as a whole
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                with self.write() as conn:
                    return operation(conn)
            except StoreError as exc:
                if attempt == MAX_ATTEMPTS or not is_busy_error(exc.__cause__ or exc):
                    raise
                time.sleep(min(2.0, 0.05 * 2**attempt) * random.uniform(0.5, 1.0))
        raise AssertionError("unreachable")

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    def forget(self) -> None:
        """Let go of the pooled connections without closing them (a forked child's copy of
        its parent's connections: closing them would end the parent's sessions)."""
        self.engine.dispose(close=False)

    @contextmanager
    def _mapped_errors(self) -> Iterator[None]:
        try:
            yield
        except OperationalError as exc:
            if is_busy_error(exc):
                raise StoreError(
                    f"the metadata store {self.display_url} stayed locked by another process; "
                    "try again"
                ) from exc
            advice = (
                "check that the database file and its folder are writable, or set CAIRN_HOME "
                "(or CAIRN_STORE) to a writable location"
                if self.backend == "sqlite"
                else "check that the server is running and CAIRN_STORE is right"
            )
            raise StoreUnavailableError(
                f"cannot use the metadata store {self.display_url}: {_first_line(exc)}; {advice}"
            ) from exc
        except DBAPIError as exc:
            if is_busy_error(exc):
                raise StoreError(
                    f"a transaction on {self.display_url} conflicted with another; try again"
                ) from exc
            raise


def _first_line(exc: DBAPIError) -> str:
    return str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
