"""Runs a page at a time: a search's runs from an offset, how many match in all, and which
param, metric and tag keys the matching runs have (what a table of runs shows and pages
through). The counting and the keys are answered by the database, never by loading every run.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from cairn.core.allocation import paused_gc
from cairn.core.checks import check_int, check_optional_text, check_texts
from cairn.store import get_store
from cairn.tracking import _queries
from cairn.tracking.record import RunRecord

#: at most this many keys of each kind (params, metrics, tags) are listed
MAX_KEYS = 1000
#: the most runs one page holds
MAX_PAGE = 10_000


@dataclass(frozen=True)
class RunsPage:
    """One page of a search: its runs, how many match in all, and the keys they have."""

    records: list[RunRecord]
    total: int
    offset: int
    limit: int
    param_keys: list[str] = field(default_factory=list)
    metric_keys: list[str] = field(default_factory=list)
    tag_keys: list[str] = field(default_factory=list)


def runs_page(
    filter: str | None = None,
    order_by: str | Sequence[str] | None = None,
    experiment: str | Sequence[str] | None = None,
    offset: int = 0,
    limit: int = 100,
    include_deleted: bool = False,
) -> RunsPage:
    """The matching runs ``offset`` to ``offset + limit`` (newest first unless ``order_by``
    says otherwise; ``filter`` and ``order_by`` as ``find_runs`` takes them), the number of
    matching runs, and the sorted param, metric and tag keys of all matching runs (at most
    ``MAX_KEYS`` of each). Raises FilterError for a filter or order-by mistake."""
    from cairn.tracking._filter import compile_filter, compile_order_by

    check_optional_text(filter, "filter")
    if order_by is not None:
        check_texts(order_by, "order-by item")
    names = None if experiment is None else check_texts(experiment, "experiment name")
    offset = check_int(offset, "offset (a number of runs to skip)", minimum=0)
    limit = check_int(limit, "limit (a number of runs)", minimum=1, maximum=MAX_PAGE)
    store = get_store()
    if store.remote is not None:
        return _remote_page(filter, order_by, names, offset, limit, include_deleted)
    where = compile_filter(filter)
    ordering = compile_order_by(order_by)
    with paused_gc(), store.db.read() as conn:
        for name in names or ():  # a clear error for a misspelt experiment
            _queries.experiment_id(conn, name, 0, create=False)
        total, param_keys, metric_keys, tag_keys = _queries.count_and_keys(
            conn, where, names, include_deleted, MAX_KEYS
        )
        records = []
        if offset < total:
            records = _queries.search(
                conn, where, ordering, names, limit, include_deleted, offset=offset
            )
    return RunsPage(records, total, offset, limit, param_keys, metric_keys, tag_keys)


def iter_runs(
    filter: str | None = None,
    order_by: str | Sequence[str] | None = None,
    experiment: str | Sequence[str] | None = None,
    include_deleted: bool = False,
    batch: int = 1000,
) -> Iterator[RunRecord]:
    """Every matching run, in order, read ``batch`` runs at a time (for exports that stream:
    memory stays bounded however many runs match). The search is checked before this returns,
    so a mistake raises here, not halfway through an answer."""
    from cairn.tracking._filter import compile_filter, compile_order_by

    check_optional_text(filter, "filter")
    if order_by is not None:
        check_texts(order_by, "order-by item")
    names = None if experiment is None else check_texts(experiment, "experiment name")
    batch = check_int(batch, "batch (a number of runs)", minimum=1, maximum=MAX_PAGE)
    store = get_store()
    if store.remote is not None:
        from cairn.tracking.query import find_runs

        return iter(find_runs(filter, order_by, names, None, include_deleted))
    where = compile_filter(filter)
    ordering = compile_order_by(order_by)
    with store.db.read() as conn:
        for name in names or ():
            _queries.experiment_id(conn, name, 0, create=False)

    def batches() -> Iterator[RunRecord]:
        offset = 0
        while True:
            with paused_gc(), store.db.read() as conn:
                records = _queries.search(
                    conn, where, ordering, names, batch, include_deleted, offset=offset
                )
            yield from records
            if len(records) < batch:
                return
            offset += batch

    return batches()


def _remote_page(
    filter: str | None,
    order_by: str | Sequence[str] | None,
    names: list[str] | None,
    offset: int,
    limit: int,
    include_deleted: bool,
) -> RunsPage:
    """A page over a team server: its search answers every matching run; sliced here."""
    from cairn.tracking.query import find_runs

    records = find_runs(filter, order_by, names, None, include_deleted)

    def keys(attribute: str) -> list[str]:
        return sorted({key for r in records for key in getattr(r, attribute)})[:MAX_KEYS]

    return RunsPage(
        records[offset : offset + limit],
        len(records),
        offset,
        limit,
        keys("params"),
        keys("metrics"),
        keys("tags"),
    )
