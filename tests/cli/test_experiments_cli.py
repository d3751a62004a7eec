"""``cairn experiments ls|create|rename|rm``: tables, CSV and JSON, runs that follow a rename,
deletes that lose nothing by surprise, and clear refusals."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

import cairn
from cairn.store import Store
from tests.cli.test_data_cli import cli

pytestmark = pytest.mark.usefixtures("quiet_capture")


def _run_in(experiment: str) -> str:
    with cairn.run(name="r", experiment=experiment) as run:
        cairn.log({"m": 1.0})
    return run.id


def test_ls_create_rename_rm(capsys: pytest.CaptureFixture[str], store: Store) -> None:
    """create makes an empty experiment, ls lists it with run counts (table, CSV, JSON), rename
    carries the runs, and rm removes an empty one."""
    run_id = _run_in("trials")
    code, out, _ = cli(capsys, "experiments", "create", "empty")
    assert code == 0 and "created experiment 'empty'" in out
    code, out, _ = cli(capsys, "experiments", "ls")
    lines = out.splitlines()
    assert code == 0 and lines[0].split()[:3] == ["name", "runs", "deleted"]
    assert lines[1].split()[:3] == ["empty", "0", "0"] and lines[1].split()[3] == "-"
    assert lines[2].split()[:3] == ["trials", "1", "0"]
    code, out, _ = cli(capsys, "experiments", "ls", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["name"], r["runs"]) for r in rows] == [("empty", "0"), ("trials", "1")]
    code, out, _ = cli(capsys, "experiments", "ls", "--format", "json")
    data = {d["name"]: d for d in json.loads(out)}
    assert data["trials"]["runs"] == 1 and data["trials"]["last_run"] is not None
    assert data["empty"]["last_run"] is None and data["empty"]["created"]

    code, out, _ = cli(capsys, "experiments", "rename", "trials", "sweeps")
    assert code == 0 and "renamed experiment 'trials' to 'sweeps'" in out
    assert cairn.get_run(run_id).experiment == "sweeps"
    code, out, _ = cli(capsys, "experiments", "rm", "empty")
    assert code == 0 and "deleted experiment 'empty'" in out
    code, out, _ = cli(capsys, "experiments", "ls", "--format", "json")
    assert [d["name"] for d in json.loads(out)] == ["sweeps"]


def test_rm_of_an_experiment_with_runs_needs_force_and_says_what_it_did(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """rm refuses an experiment with runs (nothing deleted); --force soft-deletes its runs,
    names them and how to undo, and says why the experiment stays."""
    run_id = _run_in("busy")
    code, _, err = cli(capsys, "experiments", "rm", "busy")
    assert code == 1 and "holds 1 run(s)" in err and "--force" in err
    assert cairn.get_run(run_id).deleted is False
    code, out, _ = cli(capsys, "experiments", "rm", "busy", "--force")
    assert code == 0 and run_id in out and "cairn runs restore" in out
    assert "stays" in out and cairn.get_run(run_id).deleted is True
    code, out, _ = cli(capsys, "runs", "restore", run_id)
    assert code == 0 and cairn.get_run(run_id).experiment == "busy"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("experiments", "create", "taken"), "exists already"),
        (("experiments", "rename", "taken", "other"), "exists already"),
        (("experiments", "rename", "missing", "x"), "no experiment named 'missing'"),
        (("experiments", "rm", "missing"), "no experiment named 'missing'"),
        (("experiments", "create", "x" * 300), "the limit is 255"),
        (("experiments", "create", "   "), "must not be empty"),
    ],
)
def test_refusals_are_one_clear_line(
    capsys: pytest.CaptureFixture[str], args: tuple[str, ...], message: str
) -> None:
    """A taken, missing, too long or blank name exits 1 with a message, no traceback."""
    cairn.tracking.create_experiment("taken")
    cairn.tracking.create_experiment("other")
    code, _, err = cli(capsys, *args)
    assert code == 1 and message in err and "Traceback" not in err


def test_ls_outside_a_project_says_so_and_create_starts_one(
    capsys: pytest.CaptureFixture[str], project: Path
) -> None:
    """ls in a folder with no project refuses without creating one; create records, so it
    starts the project as cairn run does."""
    code, _, err = cli(capsys, "experiments", "ls")
    assert code == 1 and "no cairn project here" in err
    assert not (project / ".cairn").exists()
    code, out, _ = cli(capsys, "experiments", "create", "first")
    assert code == 0 and (project / ".cairn").exists()
    code, out, _ = cli(capsys, "experiments", "ls")
    assert "first" in out
