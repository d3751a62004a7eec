"""Experiments: list, create, rename and delete them.

Runs refer to their experiment by its id, so a rename changes one row and every run follows.
The schema keeps no deleted flag for experiments: deleting one whose runs are live is refused
unless ``force``, which soft-deletes those runs (restorable like any deleted run, until
``cairn gc``). The experiment's own row goes only when no run refers to it any more; while
deleted runs still do, it stays (their ``restore`` needs it) and says so.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Connection, case, delete, func, select, update
from sqlalchemy.exc import IntegrityError

from cairn.core.checks import check_bool, check_name, show
from cairn.core.errors import InvalidInputError
from cairn.core.ids import now_ms
from cairn.store import get_store
from cairn.store.db.schema import experiments, runs
from cairn.tracking import _queries

#: The width of ``experiments.name`` (as of run names, tracking.run.MAX_NAME_LENGTH).
MAX_NAME_LENGTH = 255


@dataclass(frozen=True)
class Experiment:
    """An experiment with the counts of its runs."""

    id: int
    name: str
    created_ms: int
    runs: int  # live runs (not deleted)
    deleted_runs: int  # soft-deleted runs, restorable until gc
    last_run_ms: int | None  # start of its newest live run
    description: str | None = None


@dataclass(frozen=True)
class ExperimentDeletion:
    """What ``delete_experiment`` did."""

    name: str
    deleted_runs: list[str]  # ids of the runs it soft-deleted now (force)
    removed: bool  # the experiment itself is gone
    kept_for: int  # deleted runs that still refer to it (why it stays when not removed)


def _check(name: Any, what: str = "experiment name") -> str:
    return check_name(name, what, max_length=MAX_NAME_LENGTH)


def list_experiments() -> list[Experiment]:
    """Return every experiment by name, with its run counts and newest run's start."""
    store = get_store()
    if store.remote is not None:
        answer = store.remote.call("GET", "/experiments")
        return [Experiment(**item) for item in answer["experiments"]]
    return _list(None)


def _list(name: str | None) -> list[Experiment]:
    # An experiment without runs joins one row of NULLs: it counts in neither sum.
    live = runs.c.id.is_not(None) & runs.c.deleted_ms.is_(None)
    gone = runs.c.deleted_ms.is_not(None)
    query = (
        select(
            experiments.c.id,
            experiments.c.name,
            experiments.c.created_ms,
            func.coalesce(func.sum(case((live, 1), else_=0)), 0),
            func.coalesce(func.sum(case((gone, 1), else_=0)), 0),
            func.max(case((live, runs.c.start_ms), else_=None)),
            experiments.c.description,
        )
        .select_from(experiments.outerjoin(runs, runs.c.experiment_id == experiments.c.id))
        .group_by(experiments.c.id, experiments.c.name, experiments.c.created_ms)
        .order_by(experiments.c.name)
    )
    if name is not None:
        query = query.where(experiments.c.name == name)
    with get_store().db.read() as conn:
        rows = conn.execute(query).all()
    return [
        Experiment(
            id=int(row[0]),
            name=row[1],
            created_ms=int(row[2]),
            runs=int(row[3]),
            deleted_runs=int(row[4]),
            last_run_ms=None if row[5] is None else int(row[5]),
            description=row[6],
        )
        for row in rows
    ]


def create_experiment(name: str) -> Experiment:
    """Create an empty experiment ``name`` (runs are started in it with ``experiment=``)."""
    name = _check(name)
    store = get_store()
    if store.remote is not None:
        return Experiment(**store.remote.call("POST", "/experiments", {"name": name}))

    def apply(conn: Connection) -> int:
        _refuse_taken(conn, name)
        return _queries.experiment_id(conn, name, now_ms())

    try:
        store.db.transact(apply)
    except IntegrityError:  # created by another process between the check and the insert
        raise _taken(name) from None
    return _one(name)


def rename_experiment(old: str, new: str) -> Experiment:
    """Rename experiment ``old`` to ``new``; its runs (deleted ones too) go with it."""
    old = _check(old)
    new = _check(new, "new experiment name")
    store = get_store()
    if store.remote is not None:
        body = {"old": old, "new": new}
        return Experiment(**store.remote.call("POST", "/experiments/rename", body))

    def apply(conn: Connection) -> None:
        found = _queries.experiment_id(conn, old, 0, create=False)
        if new == old:
            return
        _refuse_taken(conn, new)
        # Runs hold the experiment's id, not its name: this one row is the whole rename.
        conn.execute(update(experiments).where(experiments.c.id == found).values(name=new))

    try:
        store.db.transact(apply)
    except IntegrityError:
        raise _taken(new) from None
    return _one(new)


def delete_experiment(name: str, *, force: bool = False) -> ExperimentDeletion:
    """Delete experiment ``name``: refused while it has live runs unless ``force``, which
    soft-deletes them (``restore_runs`` brings them back until ``gc``).

    The experiment itself is removed when no run refers to it; while deleted runs still do,
    it stays (empty, listed with its deleted runs) so that restoring them keeps working.
    """
    name = _check(name)
    force = check_bool(force, "force")
    store = get_store()
    if store.remote is not None:
        body = {"name": name, "force": force}
        return ExperimentDeletion(**store.remote.call("POST", "/experiments/delete", body))

    def apply(conn: Connection) -> ExperimentDeletion:
        found = _queries.experiment_id(conn, name, 0, create=False)
        in_it = runs.c.experiment_id == found
        live = conn.execute(
            select(runs.c.id, runs.c.uid).where(in_it, runs.c.deleted_ms.is_(None))
        ).all()
        if live and not force:
            raise InvalidInputError(
                f"experiment {show(name)} holds {len(live)} run(s); nothing was deleted. To "
                "delete them with it, pass force=True (cairn experiments rm NAME --force): "
                "they are soft-deleted, restorable with 'cairn runs restore' until 'cairn gc'"
            )
        if live:
            _queries.soft_delete(conn, [int(db_id) for db_id, _ in live], now_ms())
        remaining = conn.execute(select(func.count()).where(in_it)).scalar_one()
        if not remaining:
            conn.execute(delete(experiments).where(experiments.c.id == found))
        return ExperimentDeletion(name, [str(uid) for _, uid in live], not remaining, remaining)

    result: ExperimentDeletion = store.db.transact(apply)
    return result


def experiment_dict(experiment: Experiment | ExperimentDeletion) -> dict[str, Any]:
    """An experiment (or a deletion) as plain JSON-ready data (the wire's form)."""
    return asdict(experiment)


def _one(name: str) -> Experiment:
    return _list(name)[0]


def _refuse_taken(conn: Connection, name: str) -> None:
    if conn.execute(select(experiments.c.id).where(experiments.c.name == name)).first():
        raise _taken(name)


def _taken(name: str) -> InvalidInputError:
    return InvalidInputError(
        f"an experiment named {show(name)} exists already; choose another name (cairn "
        "experiments ls lists them)"
    )
