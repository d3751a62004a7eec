"""Where a run's records go: the metadata store here, or a cairn server (client mode).

``Run`` writes through one writer, chosen once per store (``writer_for``): ``LocalWriter``
runs each write as one transaction of ``_queries``; ``_remote.RemoteWriter`` sends the same
writes to the server's API. A run is known to its writer by a handle: the database id here,
a number standing for the run's id on the server there.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from cairn.core.settings import get_settings
from cairn.store import Store
from cairn.store.deletions import record_referencing, watermark
from cairn.tracking import _exit, _queries
from cairn.tracking._sink import MetricSink
from cairn.tracking.record import ArtifactEntry, RunRecord


class RunWriter(Protocol):
    """The writes a run makes, wherever its records are kept."""

    store: Store
    sink: MetricSink

    def create(
        self,
        values: Mapping[str, Any],
        experiment: str,
        parent: int | None,
        params: Mapping[str, Any],
        tags: Mapping[str, str],
    ) -> int:
        """Record a new run (``values``: uid, name, status, start_ms, user, host, pid) with its
        params and tags; return its handle."""
        ...

    def lookup(self, uid: str) -> tuple[int, RunRecord]:
        """The handle and record of an existing run (id or unique prefix)."""
        ...

    def log_params(self, handle: int, values: Mapping[str, Any]) -> None:
        """Record params (flattened)."""
        ...

    def set_tags(self, handle: int, values: Mapping[str, str]) -> None:
        """Set tags."""
        ...

    def end(self, handle: int, status: str, end_ms: int, error: str | None) -> None:
        """Mark the run ended."""
        ...

    def fail(self, handle: int, end_ms: int, error: str) -> None:
        """Mark the run failed even if it ended otherwise."""
        ...

    def claim(self, handle: int, host: str, pid: int) -> None:
        """Record the process now running the run."""
        ...

    def watermark(self) -> int:
        """The deletions mark to take before storing objects a record will reference."""
        ...

    def record(
        self,
        handle: int,
        entries: list[ArtifactEntry],
        since: int,
        restore: Callable[[set[str]], Any],
        end_ms: int,
    ) -> None:
        """Record stored objects as the run's artifacts."""
        ...


class LocalWriter:
    """Writes to this project's (or team's) metadata store directly."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.sink = MetricSink(store.db, get_settings().flush_interval)

    def create(
        self,
        values: Mapping[str, Any],
        experiment: str,
        parent: int | None,
        params: Mapping[str, Any],
        tags: Mapping[str, str],
    ) -> int:
        """Record a new run in one transaction; return its database id."""

        def create(conn: Any) -> int:
            exp_id = _queries.experiment_id(conn, experiment, values["start_ms"])
            db_id = _queries.create_run(
                conn, {**values, "experiment_id": exp_id, "parent_id": parent}
            )
            if params:
                _queries.log_params(conn, db_id, params)
            if tags:
                _queries.set_tags(conn, db_id, tags)
            return db_id

        return self.store.db.transact(create)

    def lookup(self, uid: str) -> tuple[int, RunRecord]:
        """The database id and record of a run."""
        with self.store.db.read() as conn:
            db_id, uid = _queries.resolve_run(conn, uid)
            return db_id, _queries.get(conn, db_id)

    def log_params(self, handle: int, values: Mapping[str, Any]) -> None:
        """Record params in one transaction."""
        self.store.db.transact(lambda conn: _queries.log_params(conn, handle, values))

    def set_tags(self, handle: int, values: Mapping[str, str]) -> None:
        """Set tags in one transaction."""
        self.store.db.transact(lambda conn: _queries.set_tags(conn, handle, values))

    def end(self, handle: int, status: str, end_ms: int, error: str | None) -> None:
        """Mark the run ended."""
        self.store.db.transact(lambda conn: _queries.end_run(conn, handle, status, end_ms, error))

    def fail(self, handle: int, end_ms: int, error: str) -> None:
        """Mark the run failed."""
        self.store.db.transact(lambda conn: _queries.fail_run(conn, handle, end_ms, error))

    def claim(self, handle: int, host: str, pid: int) -> None:
        """Record the process running the run."""
        self.store.db.transact(lambda conn: _queries.claim_run(conn, handle, host, pid))

    def watermark(self) -> int:
        """The deletions mark (see ``store.deletions``)."""
        return watermark(self.store.db)

    def record(
        self,
        handle: int,
        entries: list[ArtifactEntry],
        since: int,
        restore: Callable[[set[str]], Any],
        end_ms: int,
    ) -> None:
        """Record artifacts, storing again what gc deleted meanwhile."""
        record_referencing(
            self.store.db,
            [e.digest for e in entries],
            since,
            lambda conn: _queries.record_artifacts(conn, handle, entries, end_ms),
            restore,
        )


def writer_for(store: Store) -> RunWriter:
    """The one writer of ``store`` in this process (its sink is flushed at exit)."""
    key = store.remote if store.remote is not None else store.db
    with _exit.lock:
        writer: RunWriter | None = _exit.writers.get(key)
        if writer is None:
            if store.remote is not None:
                from cairn.tracking._remote import RemoteWriter

                writer = RemoteWriter(store)
            else:
                writer = LocalWriter(store)
            _exit.writers[key] = writer
            _exit.sinks[key] = writer.sink
        return writer
