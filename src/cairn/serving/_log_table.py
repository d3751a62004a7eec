"""The prediction log's rows as Arrow: batches of one shape become one table, typed by the
signature, with redacted columns hashed or left out."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from cairn.serving._log_files import HASHED_KEY
from cairn.serving._log_privacy import Redaction

if TYPE_CHECKING:
    from cairn.serving.prediction_log import LoggedBatch


def shape(batch: LoggedBatch) -> tuple[Any, ...]:
    """What batches must share to become one Arrow batch: spool and columns."""
    day = datetime.fromtimestamp(batch.ts_ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d")
    columns = tuple(batch.dtypes.items()) if batch.dtypes else None
    probabilities = tuple(batch.probabilities) if batch.probabilities is not None else None
    return batch.model, batch.version, day, columns, probabilities


def to_table(batches: list[LoggedBatch], redaction: Redaction | None = None) -> Any:
    """Batches of one shape as one Arrow table, built column by column (no pandas: this runs
    beside the event loop, and every millisecond holding the interpreter delays requests).
    Redacted columns are left out or stored as keyed hashes (named in the schema's
    metadata, so a purge can find a subject's rows by the hash of their value)."""
    import pyarrow as pa

    first = batches[0]
    redaction = redaction or Redaction()
    rows = [row for b in batches for row in b.rows] if len(batches) > 1 else first.rows
    names = list(first.dtypes) if first.dtypes else _names(rows)
    columns: dict[str, Any] = {}
    hashed: list[str] = []
    for name in names:
        if name in redaction.dropped:
            continue
        values = [row.get(name) for row in rows]
        if name in redaction.hashed:
            columns[name] = pa.array(redaction.hash_column(values), pa.string())
            hashed.append(name)
            continue
        columns[name] = _column(values, (first.dtypes or {}).get(name))
    columns["_prediction"] = _column([p for b in batches for p in b.predictions], None)
    for label in first.probabilities or {}:
        values = [v for b in batches for v in (b.probabilities or {})[label]]
        columns[f"_proba_{label}"] = pa.array(values, pa.float64())
    columns["_ts"] = pa.array(
        [b.ts_ms for b in batches for _ in b.rows], pa.timestamp("ms", tz="UTC")
    )
    request_ids = [r for b in batches for r in b.request_ids]
    if "_request_id" in redaction.hashed:
        request_ids = redaction.hash_column(request_ids)  # type: ignore[assignment]
        hashed.append("_request_id")
    columns["_request_id"] = pa.array(request_ids, pa.string())
    columns["_version"] = pa.array([b.version for b in batches for _ in b.rows], pa.int64())
    columns["_fallback"] = pa.array([f for b in batches for f in b.fallback], pa.bool_())
    table = pa.table(columns)
    if hashed:
        table = table.replace_schema_metadata({HASHED_KEY: ",".join(hashed).encode()})
    return table


def _names(rows: list[dict[str, Any]]) -> list[str]:
    seen: dict[str, None] = {}
    for row in rows:
        seen.update(dict.fromkeys(row))
    return list(seen)


def _column(values: list[Any], dtype: str | None) -> Any:
    """An Arrow array of ``values``, typed by the signature's dtype where there is one (so
    every batch of a spool has the same schema), else as Arrow infers it."""
    import pyarrow as pa

    if dtype is not None:
        import numpy as np

        try:
            kind = np.dtype(dtype).kind
        except TypeError:
            kind = "O"
        if kind == "f":
            return pa.array(values, pa.float64())
        if kind in "iu":
            return pa.array([None if v is None else int(v) for v in values], pa.int64())
        if kind == "b":
            return pa.array(values, pa.bool_())
        if kind == "O":
            return pa.array([None if v is None else str(v) for v in values], pa.string())
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed values: kept as text
        return pa.array([None if v is None else str(v) for v in values], pa.string())
