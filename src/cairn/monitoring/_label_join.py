"""Labels joined to the prediction log: reading the labels, checking them, and streaming the
log's sealed files for the rows whose request id has a label (or taking a batch-scoring
output's predictions as they are).

The log is read file by file, only the columns the join needs, keeping only the matching rows:
memory grows with the labels, not with the log.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cairn.core.checks import show
from cairn.core.errors import InvalidInputError, NotFoundError
from cairn.monitoring.reference import PREDICTION
from cairn.store import get_store

EXAMPLES = 5  # unmatched ids shown
PROBA = "_proba_"
_BATCH_PREDICTION, _BATCH_PROBA = "prediction", "proba_"  # cairn predict's output columns
_HASHED_KEY = b"cairn.hashed"  # the log's schema metadata naming columns stored as hashes
# Columns of the frame to measure (a user's column may be called anything).
Y, P, TS, V = "__label", "__prediction", "__ts", "__version"


@dataclass
class Measured:
    """The rows to measure (columns ``Y``, ``P``, ``V``, maybe ``TS`` and ``PROBA<class>``)
    and what became of the others."""

    frame: Any
    skipped: dict[str, int]  # rows left out, by reason
    unmatched: int  # labels whose id matches no logged prediction
    examples: list[str]  # a few of those ids
    notes: list[str]
    joined: bool  # False: a batch-scoring output, taken as it is


def frame_to_measure(
    table: Any, id_column: str, label_column: str, name: str, version: int | None
) -> Measured:
    """The labelled predictions of ``table``: its own prediction column when it has one (a
    batch-scoring output), else the logged predictions its ids match."""
    if label_column not in table.column_names:
        raise InvalidInputError(
            f"the labels have no column {show(label_column)}; their columns: "
            f"{_listed(table.column_names)}; name the label column with --label-column"
        )
    predicted = _prediction_column(table.column_names)
    if predicted is not None and predicted != label_column:
        frame, skipped, notes = _scored(table, label_column, predicted, name, version)
        return Measured(frame, skipped, 0, [], notes, joined=False)
    if id_column not in table.column_names:
        raise InvalidInputError(
            f"the labels have no column {show(id_column)}; their columns: "
            f"{_listed(table.column_names)}; name the request id column with --id-column "
            "(or give a batch-scoring output, which holds a prediction column)"
        )
    if id_column == label_column:
        raise InvalidInputError("the id column and the label column must be two columns")
    frame, skipped, unmatched, examples, notes = _joined(
        table, id_column, label_column, name, version
    )
    return Measured(frame, skipped, unmatched, examples, notes, joined=True)


def read_labels(labels: Any) -> Any:
    """The labels as one Arrow table."""
    import pyarrow as pa

    from cairn.validation import table_batches

    if isinstance(labels, (str, Path)):
        if not str(labels).strip() or not Path(labels).exists():
            raise InvalidInputError(f"no labels file at {show(str(labels))}; check the path")
    elif not (
        isinstance(labels, (pa.Table, pa.RecordBatch))
        or type(labels).__name__ == "DataFrame"  # pandas or polars
    ):
        raise InvalidInputError(
            f"labels are a pandas or polars DataFrame, an Arrow table, or the path of a Parquet "
            f"or CSV file; not a {type(labels).__name__}"
        )
    try:
        return pa.Table.from_batches(list(table_batches(labels)))
    except InvalidInputError as exc:
        raise InvalidInputError(f"cannot read the labels: {exc}") from None
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise InvalidInputError(f"cannot read the labels: {type(exc).__name__}: {exc}") from None


def _prediction_column(columns: list[str]) -> str | None:
    for name in (PREDICTION, _BATCH_PREDICTION):
        if name in columns:
            return name
    return None


def _listed(columns: list[str]) -> str:
    shown = ", ".join(repr(c) for c in columns[:20])
    return (shown + f", ... ({len(columns)} in all)") if len(columns) > 20 else shown or "none"


# -- a batch-scoring output: the predictions are beside the labels --------------------------


def _scored(
    table: Any, label: str, predicted: str, name: str, version: int | None
) -> tuple[Any, dict[str, int], list[str]]:
    """The frame to measure from a table holding labels and predictions."""
    import pyarrow as pa

    notes: list[str] = []
    prefix = PROBA if predicted == PREDICTION else _BATCH_PROBA
    proba = [c for c in table.column_names if c.startswith(prefix) and len(c) > len(prefix)]
    columns: dict[str, Any] = {Y: table.column(label), P: table.column(predicted)}
    for column in proba:
        columns[PROBA + column[len(prefix) :]] = table.column(column)
    if "_ts" in table.column_names and _is_time(table.column("_ts").type):
        columns[TS] = _ms(table.column("_ts"))
    else:
        notes.append("no _ts column: the rows are one window, dated now")
    if "_version" in table.column_names and version is None:
        columns[V] = table.column("_version")
    else:
        if version is None:
            from cairn.registry import get_model_version

            version = get_model_version(name).version  # the latest
            notes.append(f"the predictions are taken as version {version}'s (the latest)")
        columns[V] = pa.array([version] * table.num_rows, pa.int64())
    frame = pa.table(columns).to_pandas()
    frame, skipped = _drop_missing(frame)
    if frame.empty:
        raise InvalidInputError(
            f"none of the {table.num_rows:,} rows has both a label ({show(label)}) and a "
            f"prediction ({show(predicted)}): nothing to measure"
        )
    return frame, skipped, notes


def _is_time(kind: Any) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_timestamp(kind) or pa.types.is_integer(kind))


def _ms(column: Any) -> Any:
    """Epoch milliseconds of a timestamp column (a naive one read as UTC) or of integers."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_timestamp(column.type):
        column = pc.cast(column, pa.timestamp("ms", tz=column.type.tz), safe=False)
    return pc.cast(column, pa.int64())


def _drop_missing(frame: Any) -> tuple[Any, dict[str, int]]:
    """Rows with a label and a prediction; how many were left out for lacking either."""
    no_label = frame[Y].isna()
    no_prediction = frame[P].isna() & ~no_label
    kept = frame[~(no_label | no_prediction)].reset_index(drop=True)
    return kept, {
        "without a label": int(no_label.sum()),
        "without a prediction": int(no_prediction.sum()),
    }


# -- labels joined to the prediction log -------------------------------------------------


def _joined(
    table: Any, id_column: str, label: str, name: str, version: int | None
) -> tuple[Any, dict[str, int], int, list[str], list[str]]:
    """The frame to measure: each label beside its logged prediction; the rows left out;
    the unmatched count and examples; notes."""
    import pandas as pd

    truth = _truth(table, id_column, label)
    skipped = truth.pop("skipped")
    wanted: pd.DataFrame = truth.pop("frame")
    if wanted.empty:
        raise InvalidInputError(
            f"none of the {table.num_rows:,} labels has both an id ({show(id_column)}) and a label "
            f"({show(label)}): nothing to join"
        )
    found, seen_ids, hashed = _log_rows(name, version, wanted["id"])
    notes: list[str] = []
    counts = found["_request_id"].value_counts() if not found.empty else pd.Series(dtype=int)
    ambiguous = set(counts[counts > 1].index)
    if ambiguous:
        # A request of several rows logs them under one id: a label cannot say which row it is.
        notes.append(
            f"{len(ambiguous):,} ids name a request of several rows; a label per request cannot "
            "say which row it belongs to, so those are left out"
        )
        found = found[~found["_request_id"].isin(ambiguous)]
    matched_ids = set(found["_request_id"]) | ambiguous
    # The fallback model's answers say nothing of this model's quality.
    fallback = (
        found["_fallback"].astype("boolean").fillna(False).astype(bool)
        if "_fallback" in found
        else None
    )
    if fallback is not None and bool(fallback.any()):
        skipped["answered by the fallback model"] = int(fallback.sum())
        found = found[~fallback]
    unmatched_mask = ~wanted["id"].isin(matched_ids)
    unmatched = int(unmatched_mask.sum())
    examples = [str(i) for i in wanted.loc[unmatched_mask, "id"].head(EXAMPLES)]
    skipped["of multi-row requests"] = int(wanted["id"].isin(ambiguous).sum())
    frame = found.merge(wanted, left_on="_request_id", right_on="id", how="inner")
    if frame.empty:
        raise InvalidInputError(
            _no_match(name, version, len(wanted), unmatched, examples, seen_ids, hashed, skipped)
        )
    frame = frame.rename(columns={"label": Y, PREDICTION: P, "_ts": TS, "_version": V})
    # A model served from a folder logs no version: 0.
    frame[V] = pd.to_numeric(frame[V], errors="coerce").fillna(0).astype("int64")
    frame, missing = _drop_missing(frame)
    skipped.update({k: v for k, v in missing.items() if k != "without a label"})
    return frame, skipped, unmatched, examples, notes


def _truth(table: Any, id_column: str, label: str) -> dict[str, Any]:
    """The labels as a frame of text ``id`` and ``label``, one row per id."""
    import pyarrow as pa
    import pyarrow.compute as pc

    ids = table.column(id_column)
    if pa.types.is_floating(ids.type):  # ids read from a CSV with gaps become floats
        whole = pc.equal(ids, pc.round(ids))
        if pc.all(pc.fill_null(whole, True)).as_py():
            ids = pc.cast(ids, pa.int64(), safe=False)
    try:
        ids = pc.cast(ids, pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise InvalidInputError(
            f"the id column {show(id_column)} holds {ids.type} values; request ids are text"
        ) from None
    frame = pa.table({"id": ids, "label": table.column(label)}).to_pandas()
    no_id = frame["id"].isna() | (frame["id"].astype("string").str.strip() == "")
    no_label = frame["label"].isna() & ~no_id
    frame = frame[~(no_id | no_label)]
    distinct = frame.drop_duplicates(["id", "label"])
    conflicting = distinct["id"][distinct["id"].duplicated()]
    if not conflicting.empty:
        first = conflicting.iloc[0]
        both = distinct.loc[distinct["id"] == first, "label"].head(3).tolist()
        raise InvalidInputError(
            f"{conflicting.nunique():,} request ids have different labels (e.g. {show(first)}: "
            f"{', '.join(repr(v) for v in both)}); keep one label per request id and run again"
        )
    skipped = {
        "without an id": int(no_id.sum()),
        "without a label": int(no_label.sum()),
        "repeated (same id and label)": len(frame) - len(distinct),
    }
    return {"frame": distinct.reset_index(drop=True), "skipped": skipped}


def _log_files(name: str, version: int | None) -> list[str]:
    from sqlalchemy import select

    from cairn.store.db.schema import prediction_log_files as files

    query = select(files.c.digest, files.c.version).where(files.c.model == name)
    with get_store().db.read() as conn:
        listed = list(conn.execute(query.order_by(files.c.first_ms, files.c.id)))
    if not listed:
        raise NotFoundError(
            f"model {show(name)} has no prediction log: serve it with `cairn serve` (which logs "
            "every prediction with its request id), then give the labels; rows a running "
            "server holds are sealed into the log within a few minutes"
        )
    if version is None:
        return [row.digest for row in listed]
    chosen = [row.digest for row in listed if row.version == version]
    if not chosen:
        logged = sorted({row.version or 0 for row in listed})
        raise NotFoundError(
            f"version {version} of {show(name)} has no logged predictions (versions logged: "
            f"{', '.join(map(str, logged))}); name the model without a version for all of them"
        )
    return chosen


def _log_rows(name: str, version: int | None, ids: Any) -> tuple[Any, list[str], bool]:
    """The logged rows whose request id is among ``ids``, read file by file (only the
    columns the join needs); a few of the log's ids (for a message); whether the log holds
    its ids as keyed hashes."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    from cairn.core.progress import track

    digests = _log_files(name, version)
    wanted = pa.array(ids.astype(str).tolist(), pa.string())
    parts: list[Any] = []
    seen: list[str] = []
    hashed = False
    for batch, is_hashed in _log_batches(track(digests, len(digests), "joining labels")):
        hashed = hashed or is_hashed
        request_ids = pc.cast(batch.column("_request_id"), pa.string())
        if len(seen) < 3:
            seen += [i for i in request_ids.slice(0, 3 - len(seen)).to_pylist() if i]
        hits = pc.fill_null(pc.is_in(request_ids, value_set=wanted), False)
        if version is not None and "_version" in batch.schema.names:
            hits = pc.and_(hits, pc.fill_null(pc.equal(batch.column("_version"), version), False))
        chosen = batch.filter(hits)
        if chosen.num_rows:
            table = pa.Table.from_batches([chosen])
            table = table.set_column(
                table.schema.get_field_index("_ts"), "_ts", _ms(table.column("_ts"))
            )
            at = table.schema.get_field_index("_request_id")
            parts.append(table.set_column(at, "_request_id", request_ids.filter(hits)))
    if not parts:
        return pd.DataFrame(columns=["_request_id", PREDICTION, "_ts", "_version"]), seen, hashed
    return pa.concat_tables(parts, promote_options="default").to_pandas(), seen, hashed


def _log_batches(digests: Any) -> Iterator[tuple[Any, bool]]:
    """Record batches of the sealed files, ``_request_id`` first, with the join's columns."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    store = get_store()
    for digest in digests:
        reader = pq.ParquetFile(pa.BufferReader(store.artifacts.read_bytes(digest)))
        schema = reader.schema_arrow
        hashed = "_request_id" in ((schema.metadata or {}).get(_HASHED_KEY) or b"").decode()
        names = schema.names
        if "_request_id" not in names or PREDICTION not in names or "_ts" not in names:
            continue
        columns = ["_request_id", PREDICTION, "_ts"]
        columns += [c for c in ("_version", "_fallback") if c in names]
        columns += [c for c in names if c.startswith(PROBA)]
        for batch in reader.iter_batches(columns=columns):
            yield batch, hashed


def _no_match(
    name: str,
    version: int | None,
    given: int,
    unmatched: int,
    examples: list[str],
    seen: list[str],
    hashed: bool,
    skipped: dict[str, int],
) -> str:
    """Why no label could be measured, with what to look at."""
    which = name if version is None else f"{name}/{version}"
    if unmatched < given:
        left = ", ".join(f"{n:,} {why}" for why, n in skipped.items() if n)
        return (
            f"none of the {given:,} labels can be measured: the predictions they match were left "
            f"out ({left})"
        )
    text = (
        f"0 of {given:,} labels matched a logged prediction of {which} by request id "
        f"(unmatched ids, e.g. {', '.join(repr(i) for i in examples)})"
    )
    if hashed:
        return text + (
            "; the server stores request ids as keyed hashes (--log-redact _request_id), so "
            "they cannot be joined: serve without redacting the request id"
        )
    if seen:
        text += f"; the log's request ids look like {', '.join(repr(i) for i in seen)}"
    return text + (
        "; check the id column (--id-column) holds the X-Request-ID each prediction answered "
        "with, and the model's name"
    )
