"""Reading runs back: one run, searches (as records or a pandas DataFrame), artifacts."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cairn.core.allocation import paused_gc
from cairn.core.checks import (
    check_int,
    check_name,
    check_optional_text,
    check_path,
    check_text,
    check_texts,
    show,
)
from cairn.core.destination import is_relative_path, write_tree
from cairn.core.errors import ArtifactError, ArtifactNotFoundError, InvalidInputError
from cairn.store import get_store
from cairn.tracking import _queries
from cairn.tracking.record import ArtifactEntry, RunRecord

if TYPE_CHECKING:
    import pandas as pd


def get_run(run_id: str, *, history: bool = True) -> RunRecord:
    """Return a run by id (or unique id prefix) with params, tags, metrics and (unless
    ``history=False``, which is faster for runs of many points) every metric's history."""
    check_name(run_id, "run id", max_length=None)
    if not isinstance(history, bool):
        raise InvalidInputError(f"history is True or False, not {show(history)}")
    store = get_store()
    if store.remote is not None:
        from cairn.tracking._remote import get_record

        return get_record(store.remote, run_id)
    db = store.db
    with paused_gc(), db.read() as conn:
        db_id, _ = _queries.resolve_run(conn, run_id)
        return _queries.get(conn, db_id, history=history)


def find_runs(
    filter: str | None = None,
    order_by: str | Sequence[str] | None = None,
    experiment: str | Sequence[str] | None = None,
    limit: int | None = None,
    include_deleted: bool = False,
) -> list[RunRecord]:
    """Return matching runs as records, newest first unless ``order_by`` says otherwise."""
    from cairn.tracking._filter import compile_filter, compile_order_by

    check_optional_text(filter, "filter")
    if order_by is not None:
        check_texts(order_by, "order-by item")
    if experiment is not None:
        check_texts(experiment, "experiment name")
    if limit is not None:
        limit = check_int(limit, "limit (a number of runs)", minimum=1)
    store = get_store()
    if store.remote is not None:
        from cairn.tracking._remote import search_records

        return search_records(store.remote, filter, order_by, experiment, limit, include_deleted)
    where = compile_filter(filter)
    ordering = compile_order_by(order_by)
    names = [experiment] if isinstance(experiment, str) else experiment
    with paused_gc(), store.db.read() as conn:
        if names is not None:
            for name in names:  # a clear error for a misspelt experiment
                _queries.experiment_id(conn, name, 0, create=False)
        return _queries.search(conn, where, ordering, names, limit, include_deleted)


def search_runs(
    filter: str | None = None,
    order_by: str | Sequence[str] | None = None,
    experiment: str | Sequence[str] | None = None,
    limit: int | None = None,
    include_deleted: bool = False,
) -> pd.DataFrame:
    """Search runs; return a DataFrame with ``run_id``, ``params.*``, ``metrics.*``, ``tags.*``.

    ``filter`` is MLflow's filter language and more: ``metrics.auc > 0.9 AND
    (params.optim.lr < 0.01 OR tags.team = 'nlp') AND status IN ('finished')``.
    """
    records = find_runs(filter, order_by, experiment, limit, include_deleted)
    with paused_gc():
        return runs_frame(records)


def runs_frame(records: Sequence[RunRecord]) -> pd.DataFrame:
    """Lay out run records as a DataFrame with MLflow-like columns."""
    import pandas as pd

    columns: dict[str, list[Any]] = {
        "run_id": [r.id for r in records],
        "run_name": [r.name for r in records],
        "experiment": [r.experiment for r in records],
        "status": [r.status for r in records],
        "start_time": [r.start_ms for r in records],
        "end_time": [r.end_ms for r in records],
        "parent_run_id": [r.parent_id for r in records],
    }
    for prefix, attribute in (("params", "params"), ("metrics", "metrics"), ("tags", "tags")):
        keys = sorted({key for r in records for key in getattr(r, attribute)})
        for key in keys:
            columns[f"{prefix}.{key}"] = [getattr(r, attribute).get(key) for r in records]
    frame: pd.DataFrame = pd.DataFrame(columns)
    for column in ("start_time", "end_time"):
        frame[column] = pd.to_datetime(frame[column], unit="ms", utc=True)
    return frame


_KNOWN_IN_MESSAGE = 10  # the artifacts a "no such artifact" message names


def list_artifacts(run_id: str, path: str = "") -> list[ArtifactEntry]:
    """A run's artifacts that are ``path`` or lie under it (every one by default), by path;
    a ``path`` matching none is refused, naming what the run has."""
    return _artifacts_under(get_run(run_id, history=False), _artifact_prefix(path))


def _artifact_prefix(path: str) -> str:
    """``path`` as the prefix artifacts are chosen by; one that would leave the run's folder
    (``..``, ``.``, an absolute path) is refused."""
    check_text(path, "artifact path")
    prefix = path.strip("/")
    if path.startswith("/") or (prefix and not is_relative_path(prefix)):
        raise InvalidInputError(
            f"artifact path {show(path)} must be relative to the run, with no '.' or '..' "
            "parts, e.g. model/ or metrics.json"
        )
    return prefix


def _artifacts_under(record: RunRecord, prefix: str) -> list[ArtifactEntry]:
    chosen = [
        a
        for a in record.artifacts
        if not prefix or a.path == prefix or a.path.startswith(prefix + "/")
    ]
    if prefix and not chosen:
        known = ", ".join(a.path for a in record.artifacts[:_KNOWN_IN_MESSAGE]) or "none"
        more = len(record.artifacts) - _KNOWN_IN_MESSAGE
        raise ArtifactNotFoundError(
            f"run {record.id} has no artifact {show(prefix)} and none under it (it has: "
            f"{known}{f' and {more} more' if more > 0 else ''}); list them with "
            f"cairn runs artifacts {record.id}"
        )
    return sorted(chosen, key=lambda a: a.path)


def download_artifacts(run_id: str, path: str = "", dest: str | Path = ".") -> Path:
    """Copy a run's artifact ``path`` (a file or a folder; all of them by default) to ``dest``.

    Every file is verified against its digest first, in a staging folder inside ``dest``, and
    then renamed into place: a failed download writes no file. Existing files are replaced
    (a link there is replaced, not written through); a symbolic link in ``dest`` where the
    artifacts have a folder is refused before anything is written (decision 0011). Returns
    the local path.
    """
    root = check_path(dest, "destination").expanduser()
    store = get_store()
    record = get_run(run_id)
    prefix = _artifact_prefix(path)
    chosen = _artifacts_under(record, prefix)
    if not chosen:
        raise ArtifactNotFoundError(f"run {record.id} has no artifacts: nothing to download")
    unsafe = [a.path for a in chosen if not is_relative_path(a.path)]
    if unsafe:  # recorded before names were checked: refuse before writing anything
        raise ArtifactError(
            f"run {record.id} holds {len(unsafe)} artifact path(s) no file system can take, "
            f"e.g. {show(unsafe[0])}; nothing was written: download the others by path"
        )

    def fill(staging: Path) -> None:
        for artifact in chosen:
            store.artifacts.copy_to(artifact.digest, staging / artifact.path)

    what = f"the artifacts of run {record.id}"
    write_tree(root, [a.path for a in chosen], fill, force=True, what=what)
    return root / prefix if prefix else root
