"""SQL of the tracking capability (SQLAlchemy Core; one function per operation)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import (
    Connection,
    and_,
    bindparam,
    delete,
    func,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy.sql.elements import BindParameter, ColumnElement

from cairn.core.checks import show
from cairn.core.errors import (
    ArtifactExistsError,
    ExperimentNotFoundError,
    InvalidInputError,
    ParamConflictError,
    RunNotFoundError,
)
from cairn.store.db.dialect import insert_ignore, upsert
from cairn.store.db.schema import (
    applied_batches,
    experiments,
    latest_metrics,
    lineage_edges,
    metric_chunks,
    metric_keys,
    params,
    run_artifacts,
    run_tags,
    runs,
)
from cairn.tracking import _liveness
from cairn.tracking._codec import decode_param, encode_param, unpack
from cairn.tracking.record import ArtifactEntry, MetricPoint, RunRecord

IN_CHUNK = 500
#: SQLite (3.32+) and PostgreSQL take over 30,000 bound parameters per statement.
MAX_BOUND_IDS = 20_000
MIN_PREFIX = 4


def _chunks(items: Sequence[Any], size: int = IN_CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# -- experiments ----------------------------------------------------------------------------


def experiment_id(conn: Connection, name: str, now: int, *, create: bool = True) -> int:
    """Return the id of experiment ``name``, creating it when ``create``."""
    found = conn.execute(select(experiments.c.id).where(experiments.c.name == name)).scalar()
    if found is not None:
        return int(found)
    if not create:
        raise ExperimentNotFoundError(
            f"no experiment named {show(name)}; list them with 'cairn runs ls' or create one by "
            "starting a run in it"
        )
    insert_ignore(conn, experiments, [{"name": name, "created_ms": now}])
    return int(
        conn.execute(select(experiments.c.id).where(experiments.c.name == name)).scalar_one()
    )


# -- runs -----------------------------------------------------------------------------------


def storable_error(error: str | None) -> str | None:
    """An error text as the stores can keep it: a NUL or a lone surrogate, which an exception's
    message may hold, written as an escape (PostgreSQL would refuse the whole row)."""
    if error is None:
        return None
    return error.replace("\x00", "\\x00").encode("utf-8", "backslashreplace").decode("utf-8")


def create_run(conn: Connection, values: Mapping[str, Any]) -> int:
    """Insert a run row, its first heartbeat on the database's clock; return its integer id."""
    row = {**values, "heartbeat_ms": _liveness.database_now_ms()}
    if row.get("error") is not None:
        row["error"] = storable_error(row["error"])
    return int(conn.execute(runs.insert().values(**row).returning(runs.c.id)).scalar_one())


def end_run(conn: Connection, run_id: int, status: str, end_ms: int, error: str | None) -> None:
    """Mark a running run as ended."""
    conn.execute(
        update(runs)
        .where(runs.c.id == run_id, runs.c.status == "running")
        .values(status=status, end_ms=end_ms, error=storable_error(error))
    )


def beat(conn: Connection, run_ids: Sequence[int]) -> None:
    """Record a heartbeat of running runs (on the database's clock, as readers judge it)."""
    for part in _chunks(run_ids):
        conn.execute(
            update(runs)
            .where(runs.c.id.in_(part), runs.c.status == "running")
            .values(heartbeat_ms=_liveness.database_now_ms())
        )


def claim_run(conn: Connection, run_id: int, host: str, pid: int) -> None:
    """Make this process (``host``, ``pid``) the one whose liveness the run reflects."""
    conn.execute(
        update(runs)
        .where(runs.c.id == run_id, runs.c.status == "running")
        .values(host=host, pid=pid, heartbeat_ms=_liveness.database_now_ms())
    )


def fail_run(conn: Connection, run_id: int, end_ms: int, error: str) -> None:
    """Mark a run failed even if its program had ended it (its process then failed)."""
    conn.execute(
        update(runs)
        .where(runs.c.id == run_id, runs.c.status.in_(["running", "finished"]))
        .values(status="failed", end_ms=func.coalesce(runs.c.end_ms, end_ms), error=error)
    )


RUN_ID_LENGTH = 26  # a ULID, as runs.uid holds it


def resolve_run(conn: Connection, ref: str) -> tuple[int, str]:
    """Return (id, uid) of the run whose id is ``ref`` or starts with it (at least 4 chars)."""
    ref = ref.strip().lower()
    if len(ref) > RUN_ID_LENGTH:  # cannot name a run: say so without echoing all of it
        raise RunNotFoundError(
            f"no run with id {ref[:RUN_ID_LENGTH]!r}... ({len(ref):,} characters, but run ids "
            f"have {RUN_ID_LENGTH}); list runs with 'cairn runs ls' (ids may be shortened to a "
            "unique prefix)"
        )
    row = conn.execute(select(runs.c.id, runs.c.uid).where(runs.c.uid == ref)).first()
    if row is not None:
        return int(row.id), str(row.uid)
    if len(ref) >= MIN_PREFIX and ref.isalnum():
        rows = conn.execute(
            select(runs.c.id, runs.c.uid)
            .where(runs.c.uid.startswith(ref, autoescape=True))
            .limit(3)
        ).all()
        if len(rows) == 1:
            return int(rows[0].id), str(rows[0].uid)
        if len(rows) > 1:
            raise InvalidInputError(
                f"run id prefix {ref!r} matches several runs ({', '.join(r.uid for r in rows)}"
                "...); give more characters"
            )
    raise RunNotFoundError(
        f"no run with id {ref!r}; list runs with 'cairn runs ls' (ids may be shortened to a "
        "unique prefix)"
    )


def soft_delete(conn: Connection, run_ids: Sequence[int], now: int) -> None:
    """Mark runs deleted (``cairn gc`` removes them for good)."""
    conn.execute(
        update(runs)
        .where(runs.c.id.in_(run_ids), runs.c.deleted_ms.is_(None))
        .values(deleted_ms=now)
    )


def restore(conn: Connection, run_ids: Sequence[int]) -> None:
    """Undo a soft delete."""
    conn.execute(update(runs).where(runs.c.id.in_(run_ids)).values(deleted_ms=None))


# -- params and tags ------------------------------------------------------------------------


def log_params(conn: Connection, run_id: int, values: Mapping[str, Any]) -> None:
    """Record params; a key already logged must keep its value."""
    encoded = {key: encode_param(value, key) for key, value in values.items()}
    existing: dict[str, tuple[str, bool]] = {}
    for part in _chunks(list(encoded)):
        rows = conn.execute(
            select(params.c.key, params.c.value, params.c.is_json).where(
                params.c.run_id == run_id, params.c.key.in_(part)
            )
        )
        existing.update({r.key: (r.value, bool(r.is_json)) for r in rows})
    fresh = []
    for key, (text, num, is_json) in encoded.items():
        if key in existing:
            if existing[key] != (text, is_json):
                old = decode_param(*existing[key])
                raise ParamConflictError(
                    f"param {key!r} was already logged as {old!r} in this run and params do not "
                    f"change; log the new value {values[key]!r} under another name, or start "
                    "a new run"
                )
            continue
        fresh.append({"run_id": run_id, "key": key, "value": text, "num": num, "is_json": is_json})
    if fresh:
        conn.execute(params.insert(), fresh)


def set_tags(conn: Connection, run_id: int, values: Mapping[str, str]) -> None:
    """Set (or replace) tags."""
    rows = [{"run_id": run_id, "key": k, "value": v} for k, v in values.items()]
    upsert(conn, run_tags, rows, keys=["run_id", "key"], update=["value"])


def delete_tag(conn: Connection, run_id: int, key: str) -> None:
    """Remove one tag."""
    conn.execute(delete(run_tags).where(run_tags.c.run_id == run_id, run_tags.c.key == key))


# -- metrics --------------------------------------------------------------------------------


def metric_key_ids(conn: Connection, names: Iterable[str]) -> dict[str, int]:
    """Return the ids of metric key ``names``, creating missing ones."""
    wanted = sorted(set(names))
    found: dict[str, int] = {}
    for part in _chunks(wanted):
        rows = conn.execute(
            select(metric_keys.c.name, metric_keys.c.id).where(metric_keys.c.name.in_(part))
        )
        found.update({r.name: int(r.id) for r in rows})
    missing = [name for name in wanted if name not in found]
    if missing:
        insert_ignore(conn, metric_keys, [{"name": name} for name in missing])
        for part in _chunks(missing):
            rows = conn.execute(
                select(metric_keys.c.name, metric_keys.c.id).where(metric_keys.c.name.in_(part))
            )
            found.update({r.name: int(r.id) for r in rows})
    return found


def write_metric_chunks(
    conn: Connection, chunks: Sequence[dict[str, Any]], latest: Sequence[dict[str, Any]]
) -> None:
    """Insert packed chunks and move each (run, key)'s latest value forward."""
    conn.execute(metric_chunks.insert(), list(chunks))
    # "excluded" is the incoming row in both SQLite's and PostgreSQL's ON CONFLICT clause.
    excluded_step: ColumnElement[int] = literal_column("excluded.step")
    excluded_ts: ColumnElement[int] = literal_column("excluded.ts_ms")
    upsert(
        conn,
        latest_metrics,
        latest,
        keys=["run_id", "key_id"],
        update=["step", "ts_ms", "value"],
        where=or_(
            excluded_step > latest_metrics.c.step,
            and_(excluded_step == latest_metrics.c.step, excluded_ts >= latest_metrics.c.ts_ms),
        ),
    )


def _chunks_query(run_id: int, keys: Sequence[str] | None) -> Any:
    """The run's packed metric chunks (of ``keys`` only, if given), in logged order."""
    query = (
        select(
            metric_keys.c.name,
            metric_chunks.c.steps,
            metric_chunks.c.timestamps,
            metric_chunks.c["values"],
        )
        .join(metric_keys, metric_keys.c.id == metric_chunks.c.key_id)
        .where(metric_chunks.c.run_id == run_id)
        .order_by(metric_chunks.c.key_id, metric_chunks.c.id)
    )
    return query if keys is None else query.where(metric_keys.c.name.in_(list(keys)))


def metric_history(
    conn: Connection, run_id: int, keys: Sequence[str] | None = None
) -> dict[str, list[MetricPoint]]:
    """Return every logged point of the run's metrics (optionally only ``keys``), in order."""
    history: dict[str, list[MetricPoint]] = defaultdict(list)
    for row in conn.execute(_chunks_query(run_id, keys)):
        points = zip(
            unpack("q", row.steps), unpack("q", row.timestamps), unpack("d", row[3]), strict=True
        )
        history[row.name].extend(MetricPoint(*point) for point in points)
    return dict(history)


def metric_arrays(
    conn: Connection, run_id: int, keys: Sequence[str]
) -> dict[str, tuple[Any, Any, Any]]:
    """Every point of the run's metrics ``keys`` as NumPy arrays (steps, timestamps, values),
    in logged order: read straight from the packed chunks, for series of millions of points."""
    import numpy as np

    parts: dict[str, list[tuple[bytes, bytes, bytes]]] = defaultdict(list)
    for name, steps, stamps, values in conn.execute(_chunks_query(run_id, keys)):
        parts[name].append((steps, stamps, values))
    out: dict[str, tuple[Any, Any, Any]] = {}
    for name, chunks in parts.items():
        out[name] = tuple(
            np.frombuffer(b"".join(chunk[i] for chunk in chunks), dtype=dtype)
            for i, dtype in enumerate(("<i8", "<i8", "<f8"))
        )
    return out


def start_ms(conn: Connection, run_id: int) -> int:
    """When the run started (epoch ms)."""
    return int(conn.execute(select(runs.c.start_ms).where(runs.c.id == run_id)).scalar_one())


# -- artifacts ------------------------------------------------------------------------------


def record_artifacts(
    conn: Connection, run_id: int, entries: Sequence[ArtifactEntry], now: int
) -> None:
    """Record files logged in a run; a path may not change content once logged."""
    paths = [e.path for e in entries]
    existing: dict[str, str] = {}
    for part in _chunks(paths):
        rows = conn.execute(
            select(run_artifacts.c.path, run_artifacts.c.digest).where(
                run_artifacts.c.run_id == run_id, run_artifacts.c.path.in_(part)
            )
        )
        existing.update({r.path: r.digest for r in rows})
    fresh = []
    for entry in entries:
        if entry.path in existing:
            if existing[entry.path] != entry.digest:
                raise ArtifactExistsError(
                    f"artifact {entry.path!r} was already logged in this run with other content; "
                    "artifacts are never overwritten: log it under another name"
                )
            continue
        fresh.append(
            {
                "run_id": run_id,
                "path": entry.path,
                "digest": entry.digest,
                "size": entry.size,
                "created_ms": now,
            }
        )
    if fresh:
        conn.execute(run_artifacts.insert(), fresh)


def artifacts_of(conn: Connection, run_id: int) -> list[ArtifactEntry]:
    """Return the run's artifacts, sorted by path."""
    rows = conn.execute(
        select(run_artifacts.c.path, run_artifacts.c.digest, run_artifacts.c.size)
        .where(run_artifacts.c.run_id == run_id)
        .order_by(run_artifacts.c.path)
    )
    return [ArtifactEntry(r.path, r.digest, int(r.size)) for r in rows]


# -- reading runs ---------------------------------------------------------------------------

_parent = runs.alias("parent")


def _run_columns() -> list[Any]:
    return [
        runs.c.id,
        runs.c.uid,
        runs.c.name,
        experiments.c.name.label("experiment"),
        _liveness.run_status().label("status"),
        runs.c.start_ms,
        runs.c.end_ms,
        _parent.c.uid.label("parent_uid"),
        runs.c.user,
        runs.c.error,
        runs.c.deleted_ms,
    ]


def _run_select() -> Any:
    return (
        select(*_run_columns())
        .join(experiments, experiments.c.id == runs.c.experiment_id)
        .outerjoin(_parent, _parent.c.id == runs.c.parent_id)
    )


def search(
    conn: Connection,
    where: ColumnElement[bool] | None,
    order_by: Sequence[ColumnElement[Any]],
    experiment_names: Sequence[str] | None,
    limit: int | None,
    include_deleted: bool,
    offset: int = 0,
) -> list[RunRecord]:
    """Return matching runs with params, tags and latest metrics, in order (skipping the
    first ``offset``)."""
    query = matching_runs(_run_select(), where, experiment_names, include_deleted)
    query = query.order_by(*order_by, runs.c.start_ms.desc(), runs.c.id.desc())
    if limit is not None:
        query = query.limit(limit)
    if offset:
        query = query.offset(offset)
    liveness = _liveness.parameters(conn)
    rows = conn.execute(query, liveness).all()
    if len(rows) <= MAX_BOUND_IDS:
        ids: BindParameter[list[int]] = bindparam("run_ids", [r[0] for r in rows], expanding=True)
        return _records(conn, rows, lambda column: column.in_(ids))
    # Very many runs: join params, metrics and tags to the same search (unordered unless a
    # limit picks the runs) rather than sending the ids back as parameters.
    matching = query.with_only_columns(runs.c.id)
    if limit is None and not offset:
        matching = matching.order_by(None)
    subquery = matching.subquery()
    return _records(conn, rows, lambda column: column.in_(select(subquery.c.id)), liveness)


def matching_runs(
    query: Any,
    where: ColumnElement[bool] | None,
    experiment_names: Sequence[str] | None,
    include_deleted: bool,
) -> Any:
    """``query`` (over ``_run_select``'s joins) narrowed to the runs a search matches."""
    if where is not None:
        query = query.where(where)
    if experiment_names is not None:
        query = query.where(experiments.c.name.in_(list(experiment_names)))
    if not include_deleted:
        query = query.where(runs.c.deleted_ms.is_(None))
    return query


def count_and_keys(
    conn: Connection,
    where: ColumnElement[bool] | None,
    experiment_names: Sequence[str] | None,
    include_deleted: bool,
    max_keys: int,
) -> tuple[int, list[str], list[str], list[str]]:
    """How many runs a search matches, and the sorted param, metric and tag keys they have
    (at most ``max_keys`` of each, the first in sort order)."""
    liveness = _liveness.parameters(conn)
    matching = matching_runs(_run_select(), where, experiment_names, include_deleted)
    ids = matching.with_only_columns(runs.c.id).subquery()
    total = conn.execute(select(func.count()).select_from(ids), liveness).scalar_one()
    chosen = select(ids.c.id)
    keys = []
    for distinct in (
        select(params.c.key).where(params.c.run_id.in_(chosen)),
        select(metric_keys.c.name).where(
            metric_keys.c.id.in_(
                select(latest_metrics.c.key_id).where(latest_metrics.c.run_id.in_(chosen))
            )
        ),
        select(run_tags.c.key).where(run_tags.c.run_id.in_(chosen)),
    ):
        column = distinct.selected_columns[0]
        query = distinct.distinct().order_by(column).limit(max_keys)
        keys.append([str(key) for key in conn.execute(query, liveness).scalars()])
    return int(total), keys[0], keys[1], keys[2]


def get(conn: Connection, run_id: int, *, history: bool = True) -> RunRecord:
    """Return one run with everything recorded about it (metric history only if asked)."""
    rows = conn.execute(_run_select().where(runs.c.id == run_id), _liveness.parameters(conn)).all()
    record = _records(conn, rows, lambda column: column == run_id)[0]
    return replace(
        record,
        metric_history=metric_history(conn, run_id) if history else {},
        artifacts=artifacts_of(conn, run_id),
    )


def metric_counts(conn: Connection, run_id: int) -> dict[str, int]:
    """How many points each metric of the run has (from the chunks' counts: no point read)."""
    query = (
        select(metric_keys.c.name, func.sum(metric_chunks.c.count))
        .join(metric_keys, metric_keys.c.id == metric_chunks.c.key_id)
        .where(metric_chunks.c.run_id == run_id)
        .group_by(metric_keys.c.name)
    )
    return {name: int(total) for name, total in conn.execute(query)}


def _records(
    conn: Connection,
    rows: Sequence[Any],
    belongs: Callable[[Any], ColumnElement[bool]],
    parameters: Mapping[str, Any] | None = None,
) -> list[RunRecord]:
    """Complete run rows with params, latest metrics and tags (``parameters``: see search)."""
    extra = dict(parameters or {})
    run_params: dict[int, dict[str, Any]] = defaultdict(dict)
    run_metrics: dict[int, dict[str, float]] = defaultdict(dict)
    tags: dict[int, dict[str, str]] = defaultdict(dict)
    query = select(params.c.run_id, params.c.key, params.c.value, params.c.is_json)
    param_rows = conn.execute(query.where(belongs(params.c.run_id)), extra).all()
    for run_id, key, value, is_json in param_rows:
        run_params[run_id][key] = decode_param(value, is_json)
    metrics_query = (
        select(latest_metrics.c.run_id, metric_keys.c.name, latest_metrics.c.value)
        .join(metric_keys, metric_keys.c.id == latest_metrics.c.key_id)
        .where(belongs(latest_metrics.c.run_id))
    )
    nan = float("nan")
    for run_id, name, value in conn.execute(metrics_query, extra).all():
        run_metrics[run_id][name] = nan if value is None else value
    tags_query = select(run_tags.c.run_id, run_tags.c.key, run_tags.c.value)
    for run_id, key, value in conn.execute(tags_query.where(belongs(run_tags.c.run_id)), extra):
        tags[run_id][key] = value
    records = []
    # Rows unpack as plain tuples: named attribute access costs far more per row.
    for db_id, uid, name, experiment, status, start, end, parent, user, error, deleted in rows:
        records.append(
            RunRecord(
                id=uid,
                name=name,
                experiment=experiment,
                status=status,
                start_ms=start,
                end_ms=end,
                parent_id=parent,
                user=user,
                error=error,
                deleted=deleted is not None,
                params=dict(sorted(run_params[db_id].items())),
                tags=dict(sorted(tags[db_id].items())),
                metrics=dict(sorted(run_metrics[db_id].items())),
            )
        )
    return records


def experiment_names(conn: Connection) -> list[str]:
    """Return all experiment names."""
    return list(conn.execute(select(experiments.c.name).order_by(experiments.c.name)).scalars())


# -- garbage collection ---------------------------------------------------------------------


def deleted_run_batch(conn: Connection, after: int, size: int) -> list[int]:
    """Return up to ``size`` ids of soft-deleted runs with id > ``after`` (keyset paging)."""
    return [
        int(i)
        for i in conn.execute(
            select(runs.c.id)
            .where(runs.c.deleted_ms.is_not(None), runs.c.id > after)
            .order_by(runs.c.id)
            .limit(size)
        ).scalars()
    ]


def purge_runs(conn: Connection, run_ids: Sequence[int]) -> None:
    """Hard-delete runs and everything they own (the objects are swept apart)."""
    for table in (metric_chunks, latest_metrics, params, run_tags, run_artifacts, applied_batches):
        conn.execute(delete(table).where(table.c.run_id.in_(run_ids)))
    conn.execute(update(runs).where(runs.c.parent_id.in_(run_ids)).values(parent_id=None))
    # Their lineage edges go too: ids may be reused, and a new run must not inherit them.
    edges = lineage_edges
    conn.execute(
        delete(edges).where(
            or_(
                and_(edges.c.src_kind == "run", edges.c.src_id.in_(run_ids)),
                and_(edges.c.dst_kind == "run", edges.c.dst_id.in_(run_ids)),
            )
        )
    )
    conn.execute(delete(runs).where(runs.c.id.in_(run_ids)))
