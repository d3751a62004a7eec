"""Experiments: listing with run counts, creating, renaming (runs follow) and deleting (soft for
their runs), on both stores, in client mode, and against hostile names."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytest

import cairn
from cairn import tracking
from cairn.core.errors import ExperimentNotFoundError, InvalidInputError
from cairn.core.settings import configure
from cairn.store import Store, get_store
from tests.server.conftest import ServerProcess, server_on  # noqa: F401  (the fixture)

pytestmark = pytest.mark.usefixtures("quiet_capture")


def _runs_in(experiment: str, count: int) -> list[str]:
    ids = []
    for i in range(count):
        with cairn.run(name=f"r{i}", experiment=experiment) as run:
            cairn.log({"m": float(i)})
        ids.append(run.id)
    return ids


def _by_name() -> dict[str, tracking.Experiment]:
    return {e.name: e for e in tracking.list_experiments()}


def test_list_create_rename_delete_on_both_stores(store: Store) -> None:
    """Experiments list with their live and deleted run counts; a rename carries the runs; a
    delete is refused while runs are live, and force soft-deletes them (restorable)."""
    made = tracking.create_experiment("empty")
    assert (made.name, made.runs, made.deleted_runs, made.last_run_ms) == ("empty", 0, 0, None)
    ids = _runs_in("trials", 2)
    listed = _by_name()
    assert set(listed) == {"empty", "trials"}
    assert listed["trials"].runs == 2 and listed["trials"].deleted_runs == 0
    assert listed["trials"].last_run_ms == cairn.get_run(ids[1]).start_ms
    assert listed["empty"].runs == 0 and listed["empty"].created_ms > 0

    renamed = tracking.rename_experiment("trials", "sweeps")
    assert renamed.name == "sweeps" and renamed.runs == 2
    assert {cairn.get_run(i).experiment for i in ids} == {"sweeps"}
    assert len(cairn.tracking.find_runs(experiment="sweeps")) == 2
    with pytest.raises(ExperimentNotFoundError):
        cairn.tracking.find_runs(experiment="trials")

    with pytest.raises(InvalidInputError, match="holds 2 run"):
        tracking.delete_experiment("sweeps")
    assert len(cairn.tracking.find_runs(experiment="sweeps")) == 2  # nothing lost

    done = tracking.delete_experiment("sweeps", force=True)
    assert sorted(done.deleted_runs) == sorted(ids) and not done.removed and done.kept_for == 2
    assert cairn.tracking.find_runs(experiment="sweeps") == []
    assert (_by_name()["sweeps"].runs, _by_name()["sweeps"].deleted_runs) == (0, 2)
    cairn.tracking.restore_runs(ids)  # the experiment stayed so that this works
    assert {cairn.get_run(i).experiment for i in ids} == {"sweeps"}

    gone = tracking.delete_experiment("empty")
    assert gone.removed and gone.deleted_runs == [] and "empty" not in _by_name()


def test_an_experiment_left_without_runs_after_gc_can_be_removed(store: Store) -> None:
    """Once gc has purged its deleted runs, deleting the experiment removes it."""
    _runs_in("old", 1)
    tracking.delete_experiment("old", force=True)
    cairn.tracking.gc()
    done = tracking.delete_experiment("old")
    assert done.removed and "old" not in _by_name()


def test_names_taken_or_missing_are_refused_with_what_to_do(store: Store) -> None:
    """Creating an existing name, renaming onto a taken one or from a missing one is refused
    and changes nothing."""
    tracking.create_experiment("a")
    tracking.create_experiment("b")
    with pytest.raises(InvalidInputError, match="exists already"):
        tracking.create_experiment("a")
    with pytest.raises(InvalidInputError, match="exists already"):
        tracking.rename_experiment("a", "b")
    with pytest.raises(ExperimentNotFoundError, match="no experiment named 'zz'"):
        tracking.rename_experiment("zz", "c")
    with pytest.raises(ExperimentNotFoundError):
        tracking.delete_experiment("zz")
    assert set(_by_name()) == {"a", "b"}
    assert tracking.rename_experiment("a", "a").name == "a"  # the same name: nothing to do


HOSTILE: list[tuple[str, Any]] = [
    ("nul", "a\x00b"),
    ("surrogate", "a\ud800b"),
    ("empty", ""),
    ("blank", "   "),
    ("huge", "x" * 1_000_000),
    ("too long", "x" * 256),
    ("None", None),
    ("int", 123),
    ("bytes", b"name"),
]


def test_hostile_names_are_refused_before_anything_is_written(store: Store) -> None:
    """Every function refuses a name no store can keep (NUL, lone surrogate, empty, 1 MB, a
    wrong type) with an InvalidInputError of a bounded message, and writes nothing."""
    tracking.create_experiment("kept")
    for label, value in HOSTILE:
        calls: list[Callable[[], Any]] = [
            partial(tracking.create_experiment, value),
            partial(tracking.rename_experiment, value, "x"),
            partial(tracking.rename_experiment, "kept", value),
            partial(tracking.delete_experiment, value),
        ]
        for number, call in enumerate(calls):
            with pytest.raises(InvalidInputError) as refused:
                call()
            assert 0 < len(str(refused.value)) < 500, (label, number)
    assert set(_by_name()) == {"kept"}


def test_force_must_be_a_bool(project: Any) -> None:
    """force takes True or False only (a truthy text is no consent to delete runs)."""
    _runs_in("keep", 1)
    with pytest.raises(InvalidInputError, match="force must be True or False"):
        tracking.delete_experiment("keep", force="yes")  # type: ignore[arg-type]
    assert _by_name()["keep"].runs == 1


def test_client_mode_lists_creates_renames_and_deletes_through_the_server(
    tmp_path: Path,
    server_on: Callable[..., ServerProcess],  # noqa: F811
) -> None:
    """Through a cairn server (an admin's token) every experiment function works as locally;
    refusals come back as the same errors (the server's store: SQLite, both are tested above)."""
    server = server_on(f"sqlite:///{tmp_path / 'server.db'}", auth=True)
    configure(server=server.url, token=server.admin_token)
    assert tracking.create_experiment("remote").name == "remote"
    with pytest.raises(InvalidInputError, match="exists already"):
        tracking.create_experiment("remote")
    ids = _runs_in("remote", 1)
    session = get_store().remote
    assert session is not None
    session.drain(10)  # the run's writes (an outbox) reach the server first
    assert _by_name()["remote"].runs == 1
    assert tracking.rename_experiment("remote", "moved").runs == 1
    with pytest.raises(InvalidInputError, match="holds 1 run"):
        tracking.delete_experiment("moved")
    done = tracking.delete_experiment("moved", force=True)
    assert done.deleted_runs == ids and not done.removed
