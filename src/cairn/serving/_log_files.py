"""The prediction log's sealed files: sealing a spool into the store, reading them back, and
rewriting them without some rows (a subject's erasure, retention).

A sealed file is one Parquet object in the artifact store, listed in ``prediction_log_files``
with its model, version, day, row count and time range. Files are never changed in place:
removing rows writes a new object, points the file's row at it, and deletes the old object
once nothing references it (erasure must not wait for the next ``cairn gc``).
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cairn.core.errors import InvalidInputError
from cairn.core.ids import now_ms
from cairn.core.settings import get_settings
from cairn.store import Store, get_store
from cairn.store.db.schema import prediction_log_files
from cairn.store.deletions import record_referencing, watermark
from cairn.store.references import remove_unreferenced

META = ("_ts", "_request_id", "_version", "_fallback")
ROW_GROUP_ROWS = 32_768  # rows per Parquet row group when a spool is sealed
#: Schema metadata naming the columns stored as keyed hashes (comma separated).
HASHED_KEY = b"cairn.hashed"


def spool_name(model: str, version: int | None, day: str, unique: str) -> str:
    """The file name of a spool: what sealing it needs to know, and a unique part."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in model)
    return f"{safe}~{version or 0}~{day}~{unique}.arrow"


def spool_model(name: str) -> str:
    """The (file-safe) model name a spool's file name starts with."""
    return name.split("~", 1)[0]


def _parse_name(name: str) -> tuple[str, int | None, str]:
    model, version, day, _ = name.removesuffix(".arrow").split("~")
    return model, (int(version) or None), day


def seal_spool(store: Store, path: Path) -> None:
    """Turn a spool into a Parquet object listed in the store; remove the spool.

    Streamed, a row group at a time (``ROW_GROUP_ROWS``): a whole spool in memory would
    grow the server by tens of MB each time one is sealed. Raises when the store cannot take
    it; the spool is then left where it is, for a retry (or the next server's start). In
    client mode the file goes to the team's server (``_log_remote``; spooled while it is down).
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    model, version, day = _parse_name(path.name)
    rows, first, last = 0, None, None
    try:
        source = pa.OSFile(str(path), "rb")
    except FileNotFoundError:
        return
    with source, tempfile.TemporaryDirectory(prefix="cairn-log-") as scratch:
        try:
            reader = pa.ipc.open_stream(source)
        except (pa.ArrowInvalid, OSError):
            source.close()
            path.unlink(missing_ok=True)  # not even a schema was written: nothing to keep
            return
        parquet = Path(scratch) / "log.parquet"
        with pq.ParquetWriter(parquet, reader.schema, compression="zstd") as writer:
            group: list[Any] = []
            held = 0
            with contextlib.suppress(pa.ArrowInvalid, OSError):  # a torn last batch
                for batch in reader:
                    if not batch.num_rows:
                        continue
                    stamps = pc.min_max(batch.column("_ts").cast(pa.int64())).as_py()
                    first = stamps["min"] if first is None else min(first, stamps["min"])
                    last = stamps["max"] if last is None else max(last, stamps["max"])
                    group.append(batch)
                    held += batch.num_rows
                    if held >= ROW_GROUP_ROWS:
                        writer.write_table(pa.Table.from_batches(group, reader.schema))
                        rows, group, held = rows + held, [], 0
            if group:
                writer.write_table(pa.Table.from_batches(group, reader.schema))
                rows += held
        if rows and store.remote is not None:  # client mode: the team server keeps it
            from cairn.serving._log_remote import send_file

            send_file(store, parquet, model, version, day)
        elif rows:
            since = watermark(store.db)  # before the object is looked for (gc may run)
            stored = store.artifacts.put_file(parquet)
            record_referencing(
                store.db,
                [stored.digest],
                since,
                lambda conn: conn.execute(
                    prediction_log_files.insert().values(
                        model=model,
                        version=version,
                        day=day,
                        digest=stored.digest,
                        rows=rows,
                        first_ms=first,
                        last_ms=last,
                        created_ms=now_ms(),
                    )
                ),
                lambda _gone: store.artifacts.put_file(parquet),
            )
    path.unlink(missing_ok=True)


def read_prediction_log(
    model: str, since: datetime | int | None = None, until: datetime | int | None = None
) -> Any:
    """The logged predictions of ``model`` (the name it was served under) between ``since``
    and ``until`` (datetimes, or epoch milliseconds), oldest first, as a pandas DataFrame.

    Rows still in a running server's spool (at most ``seal_after_s`` old) are not included.
    """
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq
    from sqlalchemy import select

    _check_model(model)
    low, high = _ms(since), _ms(until)
    store = get_store()
    query = select(prediction_log_files.c.digest).where(prediction_log_files.c.model == model)
    if low is not None:
        query = query.where(prediction_log_files.c.last_ms >= low)
    if high is not None:
        query = query.where(prediction_log_files.c.first_ms <= high)
    with store.db.read() as conn:
        digests = list(conn.execute(query.order_by(prediction_log_files.c.first_ms)).scalars())
    frames = []
    for digest in digests:
        table = pq.read_table(pa.BufferReader(store.artifacts.read_bytes(digest)))
        frame = table.to_pandas()
        keep = pd.Series(True, index=frame.index)
        if low is not None:
            keep &= frame["_ts"] >= pd.Timestamp(low, unit="ms", tz="UTC")
        if high is not None:
            keep &= frame["_ts"] <= pd.Timestamp(high, unit="ms", tz="UTC")
        frames.append(frame[keep])
    if not frames:
        return pd.DataFrame(columns=["_prediction", *META])
    out = pd.concat(frames, ignore_index=True)
    return out.sort_values("_ts", kind="stable").reset_index(drop=True)


def _check_model(model: Any) -> None:
    _text("the name a model is served under", model)
    if len(model) > 128:
        raise InvalidInputError(
            f"a served model's name has at most 128 characters; {len(model):,} given"
        )


def _text(what: str, value: Any) -> str:
    """``value`` if it is text a store can hold (non-empty, no NUL, valid Unicode)."""
    if not isinstance(value, str) or not value:
        raise InvalidInputError(f"{what} must be non-empty text, not {_shown(value)}")
    if "\x00" in value:
        raise InvalidInputError(f"{what} must not hold a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInputError(
            f"{what} is not valid Unicode (a lone surrogate); send it as UTF-8 text"
        ) from None
    return value


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _ms(value: datetime | int | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise InvalidInputError(
                f"{value!r} has no time zone; pass an aware datetime (e.g. tz=timezone.utc)"
            )
        return int(value.timestamp() * 1000)
    if isinstance(value, int) and not isinstance(value, bool):
        if not -(2**62) < value < 2**62:  # epoch milliseconds a store's BIGINT holds
            raise InvalidInputError(f"{value} is out of range for epoch milliseconds")
        return value
    raise InvalidInputError(f"since/until take a datetime or epoch milliseconds, not {value!r}")


@dataclass(frozen=True)
class PurgeResult:
    """What a purge (or retention) removed from a model's prediction log."""

    rows: int  # rows removed
    files_rewritten: int  # sealed files written anew without those rows
    files_removed: int  # sealed files all of whose rows went
    unsealed_spools: int = 0  # spools a running server still writes (not searched)


#: Which rows of a sealed file to remove: an Arrow boolean array over the table's rows.
Selector = Callable[[Any], Any]


def remove_rows(
    store: Store,
    model: str,
    select_rows: Selector,
    *,
    before_ms: int | None = None,
) -> PurgeResult:
    """Remove the rows ``select_rows`` picks from every sealed file of ``model``.

    With ``before_ms``, only files holding rows older than it are read (retention), and a
    file whose rows are all older is removed without being read."""
    from sqlalchemy import select

    table = prediction_log_files
    query = select(table.c.id, table.c.digest, table.c.last_ms).where(table.c.model == model)
    if before_ms is not None:
        query = query.where(table.c.first_ms < before_ms)
    with store.db.read() as conn:
        listed = list(conn.execute(query.order_by(table.c.id)))
    removed = rewritten = dropped = 0
    for file_id, digest, last_ms in listed:
        if before_ms is not None and last_ms < before_ms:
            rows = _drop_file(store, file_id, digest)
            removed += rows
            dropped += 1 if rows else 0
            continue
        rows, gone = _rewrite_file(store, file_id, digest, select_rows)
        removed += rows
        if gone:
            dropped += 1
        elif rows:
            rewritten += 1
    return PurgeResult(removed, rewritten, dropped)


def _drop_file(store: Store, file_id: int, digest: str) -> int:
    """Unlist a sealed file and delete its object; the rows it held (0 if another purge
    got there first)."""
    table = prediction_log_files

    def drop(conn: Any) -> int:
        from sqlalchemy import select

        rows = conn.execute(select(table.c.rows).where(table.c.id == file_id)).scalar()
        if rows is None:
            return 0
        done = conn.execute(table.delete().where(table.c.id == file_id, table.c.digest == digest))
        return int(rows) if done.rowcount else 0  # another purge rewrote it meanwhile

    rows = store.db.transact(drop)
    _forget(store, digest)
    return int(rows)


def _rewrite_file(
    store: Store, file_id: int, digest: str, select_rows: Selector
) -> tuple[int, bool]:
    """Write the file anew without the rows ``select_rows`` picks; (rows removed, whether the
    whole file went)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    data = pq.read_table(pa.BufferReader(store.artifacts.read_bytes(digest)))
    hits = pc.fill_null(select_rows(data), False)
    count = int(pc.sum(pc.cast(hits, pa.int64())).as_py() or 0)
    if not count:
        return 0, False
    if count == data.num_rows:
        return _drop_file(store, file_id, digest), True
    kept = data.filter(pc.invert(hits))
    stamps = pc.min_max(kept.column("_ts").cast(pa.int64())).as_py()
    body = _parquet_bytes(kept)  # kept: what is stored again if gc deletes it meanwhile
    since = watermark(store.db)  # before the object is looked for (gc may run)
    stored = store.artifacts.put_bytes(body)
    table = prediction_log_files

    def point(conn: Any) -> int:
        done = conn.execute(
            table.update()
            .where(table.c.id == file_id, table.c.digest == digest)
            .values(
                digest=stored.digest,
                rows=kept.num_rows,
                first_ms=stamps["min"],
                last_ms=stamps["max"],
            )
        )
        return int(done.rowcount)

    def restore(_gone: set[str]) -> None:
        store.artifacts.put_bytes(body)

    if not record_referencing(store.db, [stored.digest], since, point, restore):
        # Another purge rewrote it meanwhile: its result stands.
        return 0, False
    _forget(store, digest)
    return count, False


def _parquet_bytes(table: Any) -> bytes:
    """``table`` as the bytes of one Parquet file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd", row_group_size=ROW_GROUP_ROWS)
    return bytes(sink.getvalue().to_pybytes())


def _forget(store: Store, digest: str) -> None:
    """Delete an object nothing references any more (erasure does not wait for gc), through
    gc's own guarded deletion: a writer reusing it meanwhile stores it again."""
    remove_unreferenced(store, {digest: 0})


def rows_matching(request_ids: Sequence[str], where: Mapping[str, Sequence[str]]) -> Selector:
    """A selector of rows whose ``_request_id`` is one of ``request_ids`` or whose column (for
    each column of ``where``) equals one of its values, compared as text. A column the log
    stores as a keyed hash (``--log-redact COLUMN``) is compared with the hashes of the values."""

    def select_rows(table: Any) -> Any:
        import pyarrow as pa
        import pyarrow.compute as pc

        from cairn.serving._log_privacy import hashed_value

        hashed = set(((table.schema.metadata or {}).get(HASHED_KEY) or b"").decode().split(","))
        hits = pa.array([False] * table.num_rows, pa.bool_())
        wanted: dict[str, Sequence[str]] = dict(where)
        if request_ids:
            wanted = {**wanted, "_request_id": list(request_ids)}
        for column, values in wanted.items():
            if column not in table.column_names:
                continue
            looked_for = [hashed_value(v) for v in values] if column in hashed else list(values)
            text = pc.cast(table.column(column), pa.string())
            hits = pc.or_(hits, pc.is_in(text, value_set=pa.array(looked_for, pa.string())))
        return hits

    return select_rows


def rows_before(before_ms: int) -> Selector:
    """A selector of rows logged before ``before_ms`` (epoch milliseconds)."""

    def select_rows(table: Any) -> Any:
        import pyarrow as pa
        import pyarrow.compute as pc

        return pc.less(table.column("_ts").cast(pa.int64()), pa.scalar(before_ms, pa.int64()))

    return select_rows


def lock_spool(fd: int) -> None:
    """Take an exclusive lock on an open spool, without waiting (released when closed, or
    when the process dies)."""
    import fcntl

    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def purge_prediction_log(
    model: str,
    *,
    request_ids: Sequence[str] = (),
    where: Mapping[str, str | Sequence[str]] | None = None,
    before: datetime | int | None = None,
) -> PurgeResult:
    """Erase rows from ``model``'s prediction log: those with one of ``request_ids``, those
    whose column equals a value in ``where`` (``{"customer_id": "42"}``; compared as text, and
    through the keyed hash for a column the server redacted with ``hash``), and with
    ``before`` every row older than it. Files are rewritten without the rows and the old
    objects deleted at once. Spools a crashed server left are sealed first; rows in a
    running server's spool are not reached (``unsealed_spools`` counts those spools: purge
    again once they are sealed, at most ``seal_after_s`` later)."""

    _check_model(model)
    if isinstance(request_ids, str):
        request_ids = [request_ids]
    if not isinstance(request_ids, (list, tuple)):
        raise InvalidInputError(f"request_ids takes a list of ids, not {_shown(request_ids)}")
    ids = [_text("a request id", i) for i in request_ids]
    if where is not None and not isinstance(where, Mapping):
        raise InvalidInputError(
            f"where takes {{column: value}} (e.g. {{'customer_id': '42'}}), not {_shown(where)}"
        )
    wanted: dict[str, list[str]] = {}
    for column, values in (where or {}).items():
        listed = [values] if isinstance(values, (str, int, float)) else values
        if not isinstance(listed, (list, tuple)) or not listed:
            raise InvalidInputError(
                f"where[{_shown(column)}] takes a value or a list of values, not {_shown(values)}"
            )
        wanted[_text("a column name", column)] = [
            _text("a value", v if isinstance(v, str) else str(v)) for v in listed
        ]
    if not ids and not wanted and before is None:
        raise InvalidInputError(
            "say which rows to erase: request ids, where={column: value} "
            "(e.g. --where customer_id=42) or before=a time"
        )
    store = get_store()
    spool_dir = get_settings().home_dir / "spool" / "predictions"
    live = seal_left_spools(store, spool_dir, model)
    result = PurgeResult(0, 0, 0)
    if ids or wanted:
        result = remove_rows(store, model, rows_matching(ids, wanted))
    cutoff = _ms(before)
    if cutoff is not None:
        old = remove_rows(store, model, rows_before(cutoff), before_ms=cutoff)
        result = PurgeResult(
            result.rows + old.rows,
            result.files_rewritten + old.files_rewritten,
            result.files_removed + old.files_removed,
        )
    return PurgeResult(result.rows, result.files_rewritten, result.files_removed, live)


def seal_left_spools(store: Store, spool_dir: Path, model: str | None = None) -> int:
    """Seal the spools no running server holds (of ``model``, or all); the number of spools
    a running server still writes."""
    live = 0
    if not spool_dir.is_dir():
        return 0
    for path in sorted(spool_dir.glob("*.arrow")):
        if model is not None and spool_model(path.name) != spool_model(
            spool_name(model, 0, "", "")
        ):
            continue
        try:
            handle = open(path, "rb")  # noqa: SIM115 (closed below)
        except FileNotFoundError:
            continue
        with handle:
            try:
                lock_spool(handle.fileno())
            except BlockingIOError:
                live += 1
                continue
            seal_spool(store, path)
    return live
