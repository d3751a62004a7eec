"""``validate``: check a table (pandas, polars, Arrow, or a Parquet/CSV file of any size)
against a suite, in one streaming pass, and say what failed, by how much, and where."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cairn.core.checks import check_int, check_path, show
from cairn.core.errors import InvalidInputError
from cairn.validation.suite import Suite

CHUNK_ROWS = 262_144
TABLE_SUFFIXES = (".parquet", ".pq", ".csv", ".tsv")


@dataclass(frozen=True)
class Failure:
    """One expectation that did not hold."""

    expectation: str  # what was expected, in words
    kind: str
    column: str | None
    severity: str
    observed: Any
    expected: Any
    rows: list[int] = field(default_factory=list)  # some offending row numbers (0-based)


@dataclass(frozen=True)
class ValidationResult:
    """What validating a table against a suite found."""

    suite: str
    rows: int
    checked: int  # expectations evaluated
    failures: list[Failure]
    seconds: float

    @property
    def passed(self) -> bool:
        """No expectation of severity ``error`` failed."""
        return not self.errors

    @property
    def errors(self) -> list[Failure]:
        """Failed expectations of severity ``error``."""
        return [f for f in self.failures if f.severity == "error"]

    @property
    def warnings(self) -> list[Failure]:
        """Failed expectations of severity ``warn``."""
        return [f for f in self.failures if f.severity == "warn"]

    def to_dict(self) -> dict[str, Any]:
        """The plain form (JSON-ready)."""
        return {
            "suite": self.suite,
            "passed": self.passed,
            "rows": self.rows,
            "checked": self.checked,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "seconds": round(self.seconds, 4),
            "failures": [
                {
                    "expectation": f.expectation,
                    "kind": f.kind,
                    "column": f.column,
                    "severity": f.severity,
                    "observed": f.observed,
                    "expected": f.expected,
                    "rows": f.rows,
                }
                for f in self.failures
            ],
        }

    def to_json(self) -> str:
        """The result as JSON text."""
        return json.dumps(self.to_dict(), indent=2, default=str)

    def summary(self) -> str:
        """One line: passed or failed, with counts."""
        state = "passed" if self.passed else "FAILED"
        return (
            f"{self.suite}: {state} — {self.rows:,} rows, {self.checked} expectations, "
            f"{len(self.errors)} error(s), {len(self.warnings)} warning(s)"
        )


def validate(
    data: Any, suite: Suite | str | Path, *, chunk_rows: int = CHUNK_ROWS
) -> ValidationResult:
    """Check ``data`` (a pandas or polars DataFrame, an Arrow table, or the path of a Parquet or
    CSV file, read in chunks) against ``suite`` (a ``Suite``, or the name or YAML file of one)."""
    check_int(chunk_rows, "chunk_rows", minimum=1)
    if not isinstance(suite, Suite):
        if not isinstance(suite, (str, Path)):
            raise InvalidInputError(
                f"suite must be a Suite, or the name or YAML file of a saved one, got "
                f"{type(suite).__name__} {show(suite)}"
            )
        from cairn.validation.catalog import load_suite  # it imports this module

        suite, _ = load_suite(suite)
    started = time.perf_counter()
    states = [e.start() for e in suite.expectations]
    rows = 0
    seen: dict[str, None] = {}
    for batch in _tracked(data, chunk_rows, suite.name):
        seen.update(dict.fromkeys(batch.schema.names))
        for expectation, state in zip(suite.expectations, states, strict=True):
            expectation.update(state, batch, rows)
        rows += batch.num_rows
    failures = []
    for expectation, state in zip(suite.expectations, states, strict=True):
        outcome = expectation.finish(state, rows)
        if not outcome.passed:
            failures.append(
                Failure(
                    expectation.describe(),
                    expectation.kind,
                    expectation.column,
                    expectation.severity,
                    outcome.observed,
                    outcome.expected,
                    outcome.rows,
                )
            )
    extra = [c for c in seen if c not in set(suite.columns())]
    if extra and suite.extra_columns != "allow":
        failures.append(
            Failure(
                "no columns beyond the suite's",
                "extra_columns",
                None,
                "error" if suite.extra_columns == "error" else "warn",
                extra,
                "none",
            )
        )
    return ValidationResult(
        suite.name, rows, len(suite.expectations), failures, time.perf_counter() - started
    )


def _tracked(data: Any, chunk_rows: int, name: str) -> Iterator[Any]:
    """``batches(data)``, with a progress bar over rows for Parquet files (whose row count
    is known before reading)."""
    from cairn.core.progress import track

    total = 0
    if isinstance(data, (str, Path)):
        path = Path(data)
        files = sorted(path.rglob("*.parquet")) if path.is_dir() else [path]
        if all(f.suffix.lower() in (".parquet", ".pq") and f.is_file() for f in files):
            import pyarrow.parquet as pq

            total = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    return track(
        batches(data, chunk_rows),
        total,
        f"validating against {name}",
        min_total=1_000_000,
        size=lambda batch: int(batch.num_rows),
    )


def batches(data: Any, chunk_rows: int = CHUNK_ROWS) -> Iterator[Any]:
    """Arrow record batches of ``data`` (a pandas or polars DataFrame, an Arrow table, or the
    path of a Parquet or CSV file or of a folder of them), ``chunk_rows`` at a time; at least
    one (empty) so the schema is always seen."""
    import pyarrow as pa

    check_int(chunk_rows, "chunk_rows", minimum=1)
    if isinstance(data, (str, Path)):
        path = check_path(data, "the path of the data")
        if path.is_dir():  # a folder of tables (a dataset version): one table, file by file
            files = sorted(
                p for p in path.rglob("*") if p.suffix.lower() in TABLE_SUFFIXES and p.is_file()
            )
            if not files:
                raise InvalidInputError(f"{path} holds no Parquet or CSV file to validate")
            for file in files:
                yield from _file_batches(file, chunk_rows)
            return
        yield from _file_batches(path, chunk_rows)
        return
    table = to_arrow(data)
    produced = False
    for batch in table.to_batches(max_chunksize=chunk_rows):
        produced = True
        yield batch
    if not produced:
        yield pa.RecordBatch.from_pylist([], schema=table.schema)


def to_arrow(data: Any) -> Any:
    """An Arrow table of a pandas or polars DataFrame or an Arrow table."""
    import pyarrow as pa

    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    if hasattr(data, "to_arrow") and callable(data.to_arrow):  # polars
        return data.to_arrow()
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        try:
            return pa.Table.from_pandas(data, preserve_index=False)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            # Mixed types in an object column: checked as text, as a CSV would be.
            mixed = data.astype({c: "string" for c in data.columns if data[c].dtype == object})
            return pa.Table.from_pandas(mixed, preserve_index=False)
    raise InvalidInputError(
        f"cannot validate a {type(data).__name__}: pass a pandas or polars DataFrame, an Arrow "
        "table, or the path of a Parquet or CSV file"
    )


def _file_batches(path: Path, chunk_rows: int) -> Iterator[Any]:
    import pyarrow as pa

    if not path.is_file():
        raise InvalidInputError(f"no file at {path}; check the path")
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        import pyarrow.parquet as pq

        try:
            reader = pq.ParquetFile(path)
        except pa.ArrowInvalid as exc:
            raise InvalidInputError(f"{path} is not a readable Parquet file: {exc}") from None
        produced = False
        for batch in reader.iter_batches(batch_size=chunk_rows):
            produced = True
            yield batch
        if not produced:
            yield pa.RecordBatch.from_pylist([], schema=reader.schema_arrow)
        return
    if suffix in (".csv", ".tsv"):
        import pyarrow.csv as pcsv

        options = pcsv.ParseOptions(delimiter="\t" if suffix == ".tsv" else ",")
        try:
            reader = pcsv.open_csv(
                path, parse_options=options, read_options=pcsv.ReadOptions(block_size=8 << 20)
            )
            for batch in reader:
                yield batch
        except pa.ArrowInvalid as exc:
            raise InvalidInputError(f"{path} could not be read as CSV: {exc}") from None
        return
    raise InvalidInputError(
        f"{path} is neither Parquet (.parquet) nor CSV (.csv, .tsv); convert it to one of them"
    )
