"""One version's pass over the prediction log: rows cut into windows, each window's summary
built incrementally, compared with the version's reference and stored.

Time windows: a file's rows are summarized per window (here, or on a Dask worker) and merged
into the open windows; files come in the order of their first row, so a window ending before
the next file's first row can get no more rows and is finished then (memory: the windows
still open). Row windows: consecutive rows, finished as soon as they are full.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from cairn.core.errors import NotFoundError
from cairn.monitoring import _queries
from cairn.monitoring._log_scan import LIMIT, LogFile, file_batches, file_window_sketches
from cairn.monitoring.windows import (
    KIND,
    SEAL_GRACE_MS,
    WindowResult,
    WindowSpec,
    format_ms,
)
from cairn.store import Store

_Open = tuple[Any, int, int]  # (TableSketch, first row's ms, last row's ms)


class VersionScan:
    """The windows of one version of a served model (see the module's docstring)."""

    def __init__(
        self,
        name: str,
        version: int,
        spec: WindowSpec,
        now: int,
        since_ms: int | None,
        until_ms: int | None,
    ) -> None:
        from cairn.monitoring.reference import PREDICTION, get_reference, input_columns

        self.name, self.version, self.spec, self.now = name, version, spec, now
        self.until = until_ms
        # Time windows are computed whole: ``since`` picks the window it falls in.
        self.low = since_ms if since_ms is None or spec.kind == "rows" else spec.start_of(since_ms)
        self.resumed = False
        try:
            found = get_reference(f"{name}/{version}")
        except NotFoundError as exc:
            raise NotFoundError(
                f"cannot monitor {name}/{version}: no training reference. {exc}"
            ) from None
        assert found is not None
        self.reference = found
        inputs = input_columns(f"{name}/{version}")
        self.signed = inputs is not None
        if inputs is not None:
            self.columns = [*inputs, *([PREDICTION] if PREDICTION in found.sketch.columns else [])]
        else:  # no column signature: what the training data and the log share
            self.columns = list(found.sketch.columns)
        self.open: dict[int, _Open] = {}
        self.current: _Open | None = None  # the row window being filled
        self.results: list[WindowResult] = []

    def resume(self, store: Store, notes: list[str]) -> None:
        """Start after the last window already stored complete (same window size, same
        reference), so a periodic run reads only the new part of the log."""
        with store.db.read() as conn:
            stored = _queries.windows(conn, self.name, kind=KIND, version=self.version, limit=500)
        done = [
            w.end_ms
            for w in stored
            if not w.result.get("partial", True)
            and w.result.get("window") == self.spec.text
            and w.result.get("reference_digest") == self.reference.digest
        ]
        if done:
            self.low, self.resumed = max(done), True
            notes.append(
                f"version {self.version}: windows before {format_ms(self.low)} UTC were "
                "computed already (give --since to compute them again)"
            )

    def wants(self, file: LogFile) -> bool:
        """Whether ``file`` may hold rows this scan reads."""
        if self.low is not None and file.last_ms < self.low:
            return False
        return self.until is None or file.first_ms < self.until

    def add_file(self, store: Store, file: LogFile) -> None:
        """Read one file's rows into the windows."""
        if self.spec.kind == "time":
            self.finish_before(store, file.first_ms)
            parts = file_window_sketches(
                store.artifacts, file.digest, self.spec.size, self.columns, self.low, self.until
            )
            self.add_parts(parts.items())
            return
        self._add_rows(store, file)

    def finish_before(self, store: Store, ms: int) -> None:
        """Finish the open time windows that end at or before ``ms``."""
        for start in sorted(self.open):
            if start + self.spec.size <= ms:
                sketch, first, last = self.open.pop(start)
                self._store(store, start, start + self.spec.size, sketch, first, last)

    def add_parts(self, parts: Iterable[tuple[int, _Open]]) -> None:
        """Merge per-window summaries of one file into the open windows."""
        for start, part in parts:
            held = self.open.get(start)
            self.open[start] = (
                part
                if held is None
                else (held[0].merge(part[0], LIMIT), min(part[1], held[1]), max(part[2], held[2]))
            )

    def _add_rows(self, store: Store, file: LogFile) -> None:
        from cairn.monitoring.sketch import sketch_batches

        size = self.spec.size
        for batch, times in file_batches(
            store.artifacts, file.digest, self.columns, since_ms=self.low, until_ms=self.until
        ):
            offset = 0
            while offset < batch.num_rows:
                held = 0 if self.current is None else self.current[0].rows
                take = min(size - held, batch.num_rows - offset)
                part = sketch_batches([batch.slice(offset, take)], self.columns, limit=LIMIT)
                ts = times[offset : offset + take]
                first, last = int(ts.min()), int(ts.max())
                if self.current is not None:
                    part = self.current[0].merge(part, LIMIT)
                    first, last = min(first, self.current[1]), max(last, self.current[2])
                self.current = (part, first, last)
                offset += take
                if part.rows >= size:
                    self._store(store, first, last + 1, part, first, last)
                    self.current = None

    def finish(self, store: Store) -> list[WindowResult]:
        """Store what is still open (the current window: partial) and return the results."""
        if self.spec.kind == "time":
            self.finish_before(store, 2**63 - 1)
        elif self.current is not None:
            sketch, first, last = self.current
            self._store(store, first, last + 1, sketch, first, last, partial=True)
            self.current = None
        return self.results

    def _store(
        self,
        store: Store,
        start: int,
        end: int,
        sketch: Any,
        first: int,
        last: int,
        *,
        partial: bool | None = None,
    ) -> None:
        from cairn.core.ids import now_ms
        from cairn.monitoring.drift import compare
        from cairn.store.deletions import record_referencing, watermark

        if partial is None:  # a time window still open, or cut by ``until``
            partial = end > self.now - SEAL_GRACE_MS or (
                self.until is not None and end > self.until
            )
        columns = self.columns
        if not self.signed:
            columns = [c for c in self.columns if c in sketch.columns] or self.columns
        report = compare(self.reference.sketch, sketch, columns)
        result = report.to_dict()
        result.update(
            partial=partial,
            window=self.spec.text,
            first_ms=first,
            last_ms=last,
            reference_digest=self.reference.digest,
            reference_datasets=list(self.reference.datasets),
        )
        body = sketch.to_bytes()
        since = watermark(store.db)  # before the object is written (gc may run meanwhile)
        digest = store.artifacts.put_bytes(body).digest

        def save(conn: Any) -> int:
            return _queries.save_window(
                conn,
                model=self.name,
                version=self.version,
                kind=KIND,
                start_ms=start,
                end_ms=end,
                rows=sketch.rows,
                verdict=report.verdict,
                score=report.share,
                result=result,
                digest=digest,
                now=now_ms(),
            )

        record_referencing(
            store.db, [digest], since, save, lambda _gone: store.artifacts.put_bytes(body)
        )
        self.results.append(
            WindowResult(
                self.version,
                start,
                end,
                sketch.rows,
                report.verdict,
                report.share,
                report.drifted_columns,
                partial,
            )
        )


# -- Dask ----------------------------------------------------------------------------------


def window_sketches_task(
    artifacts_url: str,
    digest: str,
    size_ms: int,
    columns: list[str],
    since_ms: int | None,
    until_ms: int | None,
) -> dict[int, tuple[bytes, int, int]]:
    """On a Dask worker: one log file's per-window summaries, as bytes.

    The file is read from the caller's artifact store (``artifacts_url``), with the worker's
    own settings' options (credentials) when they name the same store: a worker started in
    another folder, or on another machine, reads the same objects and opens no database."""
    from cairn.core.settings import get_settings
    from cairn.store import ArtifactStore

    settings = get_settings()
    options = settings.artifacts_options if settings.artifacts_url == artifacts_url else {}
    artifacts = ArtifactStore(artifacts_url, options)
    parts = file_window_sketches(artifacts, digest, size_ms, columns, since_ms, until_ms)
    return {
        start: (sketch.to_bytes(), first, last) for start, (sketch, first, last) in parts.items()
    }


def scan_on_dask(
    address: str,
    store: Store,
    files: list[LogFile],
    scans: dict[int, VersionScan],
    progress: Iterable[LogFile],
) -> None:
    """Summarize every file on Dask workers; merge and finish windows here, in file order.

    ``address`` ``"dask"`` starts a local cluster (threads of this process, so it reads the
    same store) for this run and stops it after."""
    import importlib

    from cairn.core.errors import InvalidInputError
    from cairn.monitoring.sketch import TableSketch

    try:
        distributed: Any = importlib.import_module("dask.distributed")
    except ImportError:
        from cairn.core.errors import MissingDependencyError

        raise MissingDependencyError(
            "--executor dask needs Dask: pip install 'cairn-mlops[dask]'"
        ) from None
    cluster: Any = None
    client: Any
    try:
        if address == "dask":
            import os

            cluster = distributed.LocalCluster(
                n_workers=1,
                threads_per_worker=max(1, os.cpu_count() or 1),
                processes=False,
                dashboard_address=None,
            )
            client = distributed.Client(cluster, set_as_default=False)
        else:
            client = distributed.Client(address, timeout=15, set_as_default=False)
    except OSError as exc:
        if cluster is not None:
            cluster.close()
        raise InvalidInputError(
            f"cannot reach the Dask scheduler at {address}: {exc}; start it (dask scheduler) "
            "or give --executor dask for a local cluster"
        ) from None
    try:
        futures = [
            client.submit(
                window_sketches_task,
                store.artifacts.url,
                f.digest,
                scans[f.version].spec.size,
                scans[f.version].columns,
                scans[f.version].low,
                scans[f.version].until,
                pure=False,
            )
            for f in files
        ]
        for file, future in zip(progress, futures, strict=True):
            scan = scans[file.version]
            scan.finish_before(store, file.first_ms)
            parts = future.result()
            future.release()
            scan.add_parts(
                (start, (TableSketch.from_bytes(body), first, last))
                for start, (body, first, last) in parts.items()
            )
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
