"""Batch scoring: a model over a table larger than memory, chunk by chunk, into Parquet.

    result = score("models:/churn@champion", "data:customers@v3", "data:churn-scores")

The input is a dataset version (``data:NAME[@vN]``) or a local Parquet or CSV file or folder
of them; it is read in chunks of at most ``chunk_rows`` rows (Parquet by row batches, CSV by
a streaming reader whose blocks are sized from the file's row width), each chunk is predicted
and appended to a Parquet file under a temporary name, renamed into place only when complete
(or added as the next version of a dataset). The whole job is one run, so the lineage reads:
model version → run, input dataset version → run, run → output dataset version.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cairn import data, registry, tracking
from cairn.core.checks import check_name
from cairn.core.errors import CairnError, InvalidInputError, NotFoundError, SignatureError
from cairn.core.settings import get_settings

DATA_PREFIX = "data:"
PREDICTION = "prediction"
PROBA_PREFIX = "proba_"
_FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv"}
_MIN_CSV_BLOCK = 1 << 20  # smaller blocks risk a row straddling two of them (an Arrow error)
_CSV_SAMPLE = 1 << 20  # bytes read to estimate a CSV row's width


@dataclass(frozen=True)
class ScoreResult:
    """What ``score`` did: rows and chunks scored, where they went, by which model, in which
    run, and how long it took."""

    rows: int
    chunks: int
    output: str  # the Parquet file written, or the dataset version (name@vN) added
    model_uri: str
    model_version: int | None  # None for a run's model never registered
    run_id: str
    seconds: float

    @property
    def rows_per_s(self) -> float:
        """Rows scored per second."""
        return self.rows / self.seconds if self.seconds > 0 else float(self.rows)


@dataclass(frozen=True)
class _Table:
    """One input file: its format, rows (Parquet) and size (progress over CSV counts bytes)."""

    path: Path
    label: str  # as shown in messages: the path, or ref/file for a dataset version
    fmt: str
    rows: int | None
    size: int


@dataclass(frozen=True)
class _Output:
    """Where the predictions go: a Parquet file, or the next version of a dataset."""

    path: Path | None
    dataset: str | None


def score(
    model_uri: str,
    input: str,  # the CLI's --input: the name callers use
    output: str,
    *,
    chunk_rows: int = 100_000,
    proba: bool = False,
) -> ScoreResult:
    """Score ``input`` with the model ``model_uri`` into ``output``, ``chunk_rows`` at a time.

    ``input``: ``data:NAME[@vN]``, or a Parquet or CSV file, or a folder of them (read in path
    order). ``output``: a ``.parquet`` file path (replaced if it exists), or ``data:NAME`` (its
    next version). The output holds the input's columns plus ``prediction`` and, with
    ``proba``, one ``proba_<class>`` column per class. A failure leaves nothing at the output.
    """
    if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, int) or chunk_rows < 1:
        raise InvalidInputError(
            f"chunk_rows must be a whole number of rows of at least 1, not {chunk_rows!r}"
        )
    check_name(output, "output", max_length=None)
    check_name(input, "input", max_length=None)
    target = _check_output(output)
    ref = _dataset_ref(input)
    # Checked before the run starts: a mistyped path or name leaves no failed run behind.
    local = None if ref is not None else _local_tables(Path(input).expanduser())
    if ref is not None:
        ref = _check_dataset_input(ref)
    if local and target.path is not None:
        _refuse_overwriting_input(local, target.path)
    started = time.perf_counter()
    # The project's params (cairn.yaml) describe training, not this scoring.
    with tracking.start_run(name=f"predict {model_uri}"[:255], project_params=False) as run:
        run.log_params(
            {
                "predict": {
                    "model": model_uri,
                    "input": input,
                    "output": output,
                    "chunk_rows": chunk_rows,
                    "proba": proba,
                }
            }
        )
        model = registry.load_model(model_uri)  # inside the run: model version → run
        if proba and not model.has_proba:
            raise InvalidInputError(
                f"{model.uri} ({model.flavor}) gives no class probabilities; score it without "
                "--proba (proba=False)"
            )
        tables = local if local is not None else _dataset_tables(str(ref))
        if target.path is not None:
            rows, chunks = _write_file(model, tables, target.path, chunk_rows, proba)
            written = str(target.path)
        else:
            name = str(target.dataset)
            rows, chunks, written = _write_dataset(model, tables, name, chunk_rows, proba)
        seconds = time.perf_counter() - started
        result = ScoreResult(
            rows=rows,
            chunks=chunks,
            output=written,
            model_uri=model.uri,
            model_version=model.version,
            run_id=run.id,
            seconds=seconds,
        )
        run.log(
            {"rows": rows, "chunks": chunks, "seconds": seconds, "rows_per_s": result.rows_per_s}
        )
    return result


def _dataset_ref(source: str) -> str | None:
    """The dataset reference of a ``data:`` input, or None for a local path."""
    if not source.startswith(DATA_PREFIX):
        return None
    ref = source[len(DATA_PREFIX) :]
    if not ref:
        raise InvalidInputError(
            "the input data: names no dataset; give data:NAME or data:NAME@vN (e.g. "
            "data:customers@v2)"
        )
    return ref


def _check_dataset_input(ref: str) -> str:
    """The exact version ``ref`` names (``name@vN``), checked to hold a table."""
    found = data.version(ref)  # not recorded as an input: that happens in the run
    tables = [f.path for f in data.files(found.ref) if _format(f.path)]
    if not tables:
        raise InvalidInputError(
            f"{found.ref} holds no Parquet or CSV file to score; score a dataset version "
            "holding tables"
        )
    return found.ref


def _check_output(output: str) -> _Output:
    """The output, checked: a ``.parquet`` path or ``data:NAME`` (a name without version)."""
    if output.startswith(DATA_PREFIX):
        name = output[len(DATA_PREFIX) :]
        if "@" in name:
            raise InvalidInputError(
                f"the output {output!r} names a version; scoring adds the next version, so "
                f"give the dataset's name only (data:{name.partition('@')[0]})"
            )
        # Refuses a name that cannot name a dataset; a new one gets its first version here.
        with contextlib.suppress(NotFoundError):
            data.version(name)
        return _Output(None, name)
    path = Path(output).expanduser()
    if path.suffix.lower() != ".parquet":
        raise InvalidInputError(
            f"the output {output!r} is neither a .parquet file path nor data:NAME; e.g. "
            "--output predictions.parquet, or --output data:predictions for a dataset version"
        )
    if path.is_dir():
        raise InvalidInputError(f"the output {path} is a folder; give a .parquet file path")
    return _Output(path.resolve(), None)


def _format(name: str) -> str | None:
    return _FORMATS.get(Path(name).suffix.lower())


def _local_tables(root: Path) -> list[_Table]:
    """The Parquet and CSV files at ``root`` (a file, or a folder read in path order)."""
    if not root.exists():
        raise InvalidInputError(
            f"the input {root} does not exist; give a Parquet or CSV file, a folder of them, "
            "or data:NAME[@vN] for a dataset version"
        )
    if root.is_file():
        if _format(root.name) is None:
            raise InvalidInputError(
                f"the input {root} is neither Parquet (.parquet, .pq) nor CSV (.csv); convert "
                "it to one of them"
            )
        return [_open(root, str(root))]
    # Hidden files are skipped: markers, and partial outputs of an earlier scoring.
    found = sorted(
        p
        for p in root.rglob("*")
        if p.is_file()
        and _format(p.name)
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )
    if not found:
        raise InvalidInputError(
            f"the folder {root} holds no Parquet (.parquet, .pq) or CSV (.csv) file to score"
        )
    return [_open(p, str(p)) for p in found]


def _dataset_tables(ref: str) -> list[_Table]:
    """The tables of the dataset version ``ref``, in path order (recorded as the run's input)."""
    folder = data.path(ref)
    names = sorted(f.path for f in data.files(ref) if _format(f.path))
    return [_open(folder / name, f"{ref}/{name}") for name in names]


def _open(path: Path, label: str) -> _Table:
    """Facts of one input file (a Parquet file's footer is read: a broken file fails here)."""
    fmt = _format(path.name) or "parquet"
    rows = None
    if fmt == "parquet":
        import pyarrow.parquet as pq

        try:
            rows = pq.ParquetFile(path).metadata.num_rows
        except Exception as exc:
            raise InvalidInputError(
                f"{label} is not a readable Parquet file ({exc}); check or rewrite the file"
            ) from None
    return _Table(path, label, fmt, rows, path.stat().st_size)


def _refuse_overwriting_input(tables: list[_Table], dest: Path) -> None:
    if any(t.path.resolve() == dest for t in tables):
        raise InvalidInputError(
            f"the output {dest} is one of the input files; write the predictions elsewhere"
        )


def _write_dataset(
    model: registry.LoadedModel, tables: list[_Table], name: str, chunk_rows: int, proba: bool
) -> tuple[int, int, str]:
    """Score into a staging folder, then add it as the next version of ``name``."""
    scratch = get_settings().home_dir / "tmp"  # beside the store: the add can link, not copy
    scratch.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="predict-", dir=scratch) as folder:
        rows, chunks = _write_file(
            model, tables, Path(folder) / "predictions.parquet", chunk_rows, proba
        )
        added = data.add(folder, name)  # inside the run: run → output version
    return rows, chunks, added.version.ref


def _write_file(
    model: registry.LoadedModel, tables: list[_Table], dest: Path, chunk_rows: int, proba: bool
) -> tuple[int, int]:
    """Score ``tables`` into the Parquet file ``dest``; return (rows, chunks)."""
    import pyarrow.parquet as pq

    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(f".{dest.name}.partial-{uuid.uuid4().hex[:8]}")
    writer: Any = None
    rows = chunks = 0
    try:
        by_rows = all(t.rows is not None for t in tables)
        total = sum(t.rows or 0 for t in tables) if by_rows else sum(t.size for t in tables)
        with _progress(f"scoring with {model.uri}", total, "rows" if by_rows else "bytes") as tick:
            for table in tables:
                done = 0
                for batch, advance in _chunks(table, chunk_rows, by_rows):
                    if batch is None:  # progress only
                        tick(advance)
                        continue
                    where = f"{table.label}, rows {done + 1}-{done + batch.num_rows}"
                    scored = _score_chunk(model, batch, proba, where)
                    if writer is None:
                        writer = pq.ParquetWriter(partial, scored.schema)
                    writer.write_table(_conform(scored, writer.schema, table.label))
                    done += batch.num_rows
                    rows += batch.num_rows
                    chunks += 1
                    tick(advance)
        if writer is None:
            raise InvalidInputError(
                f"{', '.join(t.label for t in tables[:3])} holds no rows; there is nothing to score"
            )
        writer.close()
        writer = None
        with open(partial, "rb") as stream:
            os.fsync(stream.fileno())  # the bytes are on disk before the name says complete
        os.replace(partial, dest)
    finally:
        if writer is not None:
            writer.close()
        partial.unlink(missing_ok=True)
    return rows, chunks


def _chunks(table: _Table, chunk_rows: int, by_rows: bool) -> Iterator[tuple[Any, int]]:
    """(record batch of at most ``chunk_rows`` rows, progress made) for one input file."""
    import pyarrow as pa

    try:
        if table.fmt == "parquet":
            import pyarrow.parquet as pq

            file = pq.ParquetFile(table.path)
            size, rows = table.size, max(table.rows or 0, 1)
            for batch in file.iter_batches(batch_size=chunk_rows):
                yield batch, batch.num_rows if by_rows else size * batch.num_rows // rows
            return
        yield from _csv_chunks(table, chunk_rows)
    except pa.ArrowException as exc:
        raise InvalidInputError(
            f"cannot read {table.label}: {exc}; check the file (a CSV file whose column types "
            "change after its first rows reads best converted to Parquet)"
        ) from None


def _csv_chunks(table: _Table, chunk_rows: int) -> Iterator[tuple[Any, int]]:
    """A CSV file through Arrow's streaming reader: blocks of about ``chunk_rows`` rows (at
    least 1 MiB, so that no row straddles two), sliced to ``chunk_rows``; progress in bytes."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    with open(table.path, "rb") as sample:
        head = sample.read(_CSV_SAMPLE)
    row_bytes = max(1, len(head) // max(1, head.count(b"\n")))
    block = max(_MIN_CSV_BLOCK, row_bytes * chunk_rows * 5 // 4)
    with pa.OSFile(str(table.path)) as stream:
        reader = pcsv.open_csv(stream, read_options=pcsv.ReadOptions(block_size=block))
        reported = 0
        for batch in reader:
            for start in range(0, batch.num_rows, chunk_rows):
                yield batch.slice(start, chunk_rows), 0
            # The reader may have read ahead; the position still only moves forward.
            position = min(stream.tell(), table.size)
            yield None, max(0, position - reported)
            reported = max(reported, position)
        yield None, table.size - reported


def _score_chunk(model: registry.LoadedModel, batch: Any, proba: bool, where: str) -> Any:
    """The chunk's columns plus its predictions (and probabilities), as an Arrow table."""
    import pyarrow as pa

    names = set(batch.schema.names)
    clash = [PREDICTION] if PREDICTION in names else []
    if proba:
        clash += sorted(n for n in names if n.startswith(PROBA_PREFIX))
    if clash:
        raise InvalidInputError(
            f"{where}: the input already has a column {clash[0]!r}, which the output adds; "
            "rename or drop it before scoring"
        )
    frame = batch.to_pandas()
    columns = _as_columns(_predict(model.predict, frame, where), batch.num_rows, where)
    if proba:
        probabilities = _predict(model.predict_proba, frame, where)
        columns += _proba_columns(model, probabilities, batch.num_rows, where)
    # The input's own schema metadata (pandas' index) would describe a table it no longer is.
    table = pa.Table.from_batches([batch]).replace_schema_metadata(None)
    for name, values in columns:
        table = table.append_column(name, pa.array(values))
    return table


def _predict(method: Any, frame: Any, where: str) -> Any:
    """``method(frame)``, its failures told with the rows they happened on."""
    try:
        return method(frame)
    except SignatureError as exc:
        raise SignatureError(
            f"{where}: {exc}; score a table with those columns", exc.problems
        ) from None
    except CairnError:
        raise
    except Exception as exc:  # the user's model: anything may go wrong in it
        raise CairnError(
            f"the model failed on {where}: {type(exc).__name__}: {exc}; check those rows, or "
            "the model with cairn.load_model(uri).predict(rows)"
        ) from None


def _as_columns(predicted: Any, rows: int, where: str) -> list[tuple[str, Any]]:
    """``prediction`` (or ``prediction_0``, ... for a model with several outputs)."""
    import numpy as np

    values = np.asarray(predicted)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim == 0 or values.ndim > 2 or len(values) != rows:
        raise CairnError(
            f"the model returned predictions of shape {list(values.shape)} for {where} "
            f"({rows} rows); batch scoring needs one prediction (or one row of them) per row"
        )
    if values.ndim == 1:
        return [(PREDICTION, values)]
    return [(f"{PREDICTION}_{i}", values[:, i]) for i in range(values.shape[1])]


def _proba_columns(
    model: registry.LoadedModel, probabilities: Any, rows: int, where: str
) -> list[tuple[str, Any]]:
    """One ``proba_<class>`` column per class, in the model's order of classes."""
    import numpy as np

    values = np.asarray(probabilities)
    if values.ndim != 2 or len(values) != rows:
        raise CairnError(
            f"the model returned probabilities of shape {list(values.shape)} for {where} "
            f"({rows} rows); expected one row of class probabilities per row"
        )
    classes = getattr(model.raw, "classes_", None)
    labels = (
        [str(c) for c in classes]
        if classes is not None and len(classes) == values.shape[1]
        else [str(i) for i in range(values.shape[1])]
    )
    return [(f"{PROBA_PREFIX}{label}", values[:, i]) for i, label in enumerate(labels)]


def _conform(table: Any, schema: Any, label: str) -> Any:
    """``table`` in the writer's schema: the first chunk's columns, in its order and types."""
    if table.schema.equals(schema):
        return table
    import pyarrow as pa

    if set(table.schema.names) != set(schema.names):
        missing = sorted(set(schema.names) - set(table.schema.names))
        extra = sorted(set(table.schema.names) - set(schema.names))
        raise InvalidInputError(
            f"{label} has other columns than the first table scored (missing: "
            f"{', '.join(missing) or '-'}; extra: {', '.join(extra) or '-'}); score tables of "
            "one schema together, or each on its own"
        )
    try:
        return table.select(schema.names).cast(schema)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise InvalidInputError(
            f"{label} has columns of other types than the first table scored ({exc}); score "
            "tables of one schema together, or each on its own"
        ) from None


@contextlib.contextmanager
def _progress(description: str, total: int, unit: str) -> Iterator[Any]:
    """A function advancing a progress bar on a terminal (and doing nothing elsewhere)."""
    if not sys.stderr.isatty():
        yield lambda advance: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    amount = (
        DownloadColumn()
        if unit == "bytes"
        else TextColumn("{task.completed:,.0f}/{task.total:,.0f} rows")
    )
    columns = (TextColumn("{task.description}"), BarColumn(), amount, TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task(description, total=total)
        yield lambda advance: progress.advance(task, advance)
