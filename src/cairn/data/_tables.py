"""Facts about tabular files (columns, types, rows) read with pyarrow, without loading them."""

from __future__ import annotations

from pathlib import Path

from cairn.data.dataset import TableFacts

TABLE_SUFFIXES = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv"}


def table_format(path: str) -> str | None:
    """``parquet`` or ``csv`` for a tabular file name, else None."""
    return TABLE_SUFFIXES.get(Path(path).suffix.lower())


def read_facts(path: str, fmt: str) -> TableFacts | None:
    """Columns, types and row count of a local tabular file; None if it does not parse."""
    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            meta = pq.ParquetFile(path)
            schema = meta.schema_arrow
            rows = meta.metadata.num_rows
        else:
            import pyarrow.csv as pcsv

            reader = pcsv.open_csv(path)  # streamed: a large file is never held whole
            schema = reader.schema
            rows = sum(batch.num_rows for batch in reader)
    except Exception:  # not really a table (or a broken one): the file is kept all the same
        return None
    return TableFacts(fmt, [(f.name, str(f.type)) for f in schema], int(rows))
