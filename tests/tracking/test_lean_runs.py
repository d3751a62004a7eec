"""`cairn runs ls` read on the standard library answers exactly what the full path answers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

import cairn
from cairn.cli._app import run_app
from cairn.cli.main import main
from cairn.core.ids import now_ms
from cairn.store import Store, get_store
from cairn.store.db.schema import runs
from cairn.tracking import _lean, _liveness, find_runs, find_runs_lean


def _set(store: Store, run_id: str, **values: object) -> None:
    def change(conn: Any) -> None:
        conn.execute(update(runs).where(runs.c.uid == run_id).values(**values)).close()

    store.db.transact(change)


@pytest.fixture
def varied_runs(store: Store, quiet_capture: None) -> list[str]:
    """Runs in two experiments: params of every kind, tags, a child, a deleted one, and runs
    marked running whose process is gone, whose heartbeat is stale, or which still beat."""
    return _make_runs(store)


@pytest.fixture
def local_runs(project: Path, quiet_capture: None) -> list[str]:
    """The same runs in the project's default SQLite store (the only one the lean path reads)."""
    return _make_runs(get_store())


def _make_runs(store: Store) -> list[str]:
    ids = []
    for i in range(6):
        experiment = "exp-a" if i % 2 else "exp-b"
        with cairn.run(
            experiment=experiment,
            params={"lr": 0.1 / (i + 1), "layers": [i, i + 1], "name": f"m{i}", "flag": i > 2},
        ) as run:
            cairn.log({"loss": 1.0 / (i + 1), "system/cpu": 3.0})
            cairn.set_tags({"team": "x"})
            if i == 1:
                with cairn.run(params={"inner": 1}):
                    cairn.log({"acc": 0.5})
        ids.append(run.id)
    cairn.tracking.delete_runs([ids[0]])
    if store.db.url.startswith("sqlite"):  # the status rule matters where the lean path reads
        gone = subprocess.run(
            [sys.executable, "-c", "import os; print(os.getpid())"],
            text=True,
            capture_output=True,
            check=True,
        )
        host = _liveness.this_host()
        _set(
            store,
            ids[2],
            status="running",
            end_ms=None,
            host=host,
            pid=int(gone.stdout),
            heartbeat_ms=now_ms(),
        )
        _set(
            store,
            ids[3],
            status="running",
            end_ms=None,
            host="elsewhere",
            pid=1,
            heartbeat_ms=now_ms() - 10 * _liveness.STALE_MS,
        )
        _set(
            store,
            ids[4],
            status="running",
            end_ms=None,
            host="elsewhere",
            pid=1,
            heartbeat_ms=now_ms(),
        )
    return ids


def test_the_lean_read_equals_find_runs(store: Store, varied_runs: list[str]) -> None:
    """On SQLite the lean read returns find_runs's records for every option; elsewhere None."""
    cases = [
        {},
        {"limit": 3},
        {"experiment": "exp-a"},
        {"include_deleted": True},
        {"experiment": "exp-b", "limit": 1, "include_deleted": True},
    ]
    for options in cases:
        lean = find_runs_lean(**options)  # type: ignore[arg-type]
        if store.db.url.startswith("postgresql"):
            assert lean is None
            continue
        full = find_runs(
            None,
            None,
            options.get("experiment"),
            options.get("limit"),  # type: ignore[arg-type]
            include_deleted=bool(options.get("include_deleted")),
        )
        assert lean == full, options
    if store.db.url.startswith("sqlite"):
        statuses = {r.id: r.status for r in find_runs()}
        assert statuses[varied_runs[2]] == statuses[varied_runs[3]] == "crashed"
        assert statuses[varied_runs[4]] == "running"
    assert find_runs_lean(experiment="no-such-experiment") is None  # the full path explains


def test_the_status_rule_is_the_same_constant() -> None:
    """The lean read calls a heartbeat stale after the same time as _liveness."""
    assert _lean.STALE_MS == _liveness.STALE_MS


@pytest.mark.parametrize(
    "args",
    [[], ["--limit", "2"], ["-e", "exp-a"], ["--deleted"], ["--format", "table", "-n", "4"]],
)
def test_runs_ls_prints_what_the_full_command_prints(
    capsys: pytest.CaptureFixture[str], local_runs: list[str], args: list[str]
) -> None:
    """`cairn runs ls` on the lean path prints byte for byte what the Typer command prints."""
    with pytest.raises(SystemExit) as lean_exit:
        main(["runs", "ls", *args])
    lean = capsys.readouterr()
    with pytest.raises(SystemExit) as full_exit:
        run_app(["runs", "ls", *args])
    full = capsys.readouterr()
    assert (lean_exit.value.code or 0, lean.out, lean.err) == (
        full_exit.value.code or 0,
        full.out,
        full.err,
    )
    assert local_runs[-1] in lean.out
