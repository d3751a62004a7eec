"""search_runs and run management on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

import cairn
from cairn.core.errors import ExperimentNotFoundError, FilterError
from cairn.store import Store
from cairn.tracking import gc


def _populate() -> list[str]:
    ids = []
    for i, (lr, optim) in enumerate([(0.1, "adam"), (0.01, "sgd"), (0.001, "adam"), (0.5, "sgd")]):
        with cairn.run(
            name=f"r{i}",
            experiment="search" if i < 3 else "other",
            params={"lr": lr, "optim": {"name": optim}},
            tags={"idx": str(i)},
        ) as run:
            cairn.log({"auc": 0.5 + i / 10, "loss": 1.0 - i / 10})
        ids.append(run.id)
    return ids


def test_search_returns_an_mlflow_like_frame(store: Store) -> None:
    """The DataFrame has run_id, params.*, metrics.* and tags.* columns, newest first."""
    ids = _populate()
    frame = cairn.search_runs()
    assert list(frame["run_id"]) == list(reversed(ids))
    for column in (
        "run_name",
        "status",
        "start_time",
        "params.lr",
        "params.optim.name",
        "metrics.auc",
        "tags.idx",
    ):
        assert column in frame.columns
    assert frame["metrics.auc"].dtype.kind == "f"


def test_filters_orders_and_limits(store: Store) -> None:
    """Filters, order_by, experiment and limit select and sort runs."""
    ids = _populate()
    frame = cairn.search_runs("metrics.auc > 0.55 AND params.optim.name = 'adam'")
    assert list(frame["run_id"]) == [ids[2]]
    frame = cairn.search_runs("params.lr < 0.2", order_by=["metrics.auc ASC"])
    assert list(frame["run_id"]) == [ids[0], ids[1], ids[2]]
    frame = cairn.search_runs(experiment="search", order_by="params.lr DESC", limit=2)
    assert list(frame["run_id"]) == [ids[0], ids[1]]
    frame = cairn.search_runs("tags.idx IN ('1', '3') OR run_name = 'r0'", order_by=["name"])
    assert list(frame["run_name"]) == ["r0", "r1", "r3"]
    assert cairn.search_runs("metrics.auc > 5").empty


def test_search_errors(store: Store) -> None:
    """Bad filters raise FilterError and unknown experiments say so."""
    with pytest.raises(FilterError):
        cairn.search_runs("metrics.auc >")
    with pytest.raises(ExperimentNotFoundError):
        cairn.search_runs(experiment="nope")


def test_delete_restore_and_gc(store: Store) -> None:
    """Deleted runs disappear from searches, can be restored, and gc removes them for good."""
    ids = _populate()
    with cairn.run() as run:
        cairn.log_text("only here", "unique.txt")
        cairn.log_text("shared", "shared.txt")
    with cairn.run():
        cairn.log_text("shared", "shared.txt")
    cairn.delete_runs([ids[0], run.id])
    remaining = set(cairn.search_runs()["run_id"])
    assert ids[0] not in remaining and run.id not in remaining
    assert len(cairn.search_runs(include_deleted=True)) == 6
    from cairn.tracking import restore_runs

    restore_runs([ids[0]])
    assert ids[0] in set(cairn.search_runs()["run_id"])
    unique = cairn.get_run(run.id).artifacts
    orphan = next(a.digest for a in unique if a.path == "unique.txt")
    result = gc()  # the orphan was written moments ago: the grace period keeps it
    assert (result.runs, result.objects, result.kept) == (1, 0, 1)
    assert store.artifacts.exists(orphan)
    result = gc(grace_s=0)  # a later gc, once the grace period is over
    assert (result.runs, result.objects, result.kept) == (0, 1, 0)
    assert not store.artifacts.exists(orphan)
    assert store.artifacts.exists(next(a.digest for a in unique if a.path == "shared.txt"))
    with pytest.raises(cairn.RunNotFoundError):
        cairn.get_run(run.id)
    assert gc().runs == 0


def test_gc_works_in_batches(store: Store) -> None:
    """gc removes any number of deleted runs a small batch at a time."""
    ids = []
    for _ in range(7):
        with cairn.run() as run:
            cairn.log({"m": 1.0})
        ids.append(run.id)
    cairn.delete_runs(ids[:5])
    assert gc(batch_size=2).runs == 5
    assert sorted(cairn.search_runs(include_deleted=True)["run_id"]) == sorted(ids[5:])
