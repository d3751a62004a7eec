"""The runs commands, gc and error rendering of the CLI."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import cairn
from cairn.cli.main import main


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run the CLI in-process; return (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


@pytest.fixture
def two_runs(project: Path) -> list[str]:
    ids = []
    for lr, auc in ((0.1, 0.8), (0.01, 0.9)):
        with cairn.run(name=f"lr-{lr}", params={"lr": lr, "optim": "adam"}) as run:
            cairn.log({"auc": auc})
        ids.append(run.id)
    return ids


def test_ls_table_csv_json(capsys: pytest.CaptureFixture[str], two_runs: list[str]) -> None:
    """runs ls prints a table, CSV or JSON with metrics and params."""
    code, out, _ = cli(capsys, "runs", "ls")
    assert code == 0 and "lr-0.1" in out and "lr-0.01" in out and "auc" in out
    code, out, _ = cli(capsys, "runs", "ls", "--format", "csv", "--sort", "metrics.auc DESC")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["run_id"] for r in rows] == [two_runs[1], two_runs[0]]
    assert rows[0]["metrics.auc"] == "0.9" and rows[0]["params.optim"] == "adam"
    code, out, _ = cli(capsys, "runs", "ls", "--format", "json", "--filter", "params.lr < 0.05")
    data = json.loads(out)
    assert [d["run_id"] for d in data] == [two_runs[1]]
    assert {k: v for k, v in data[0]["metrics"].items() if "/" not in k} == {"auc": 0.9}


def test_show_and_compare(capsys: pytest.CaptureFixture[str], two_runs: list[str]) -> None:
    """runs show prints one run; runs compare puts runs side by side."""
    code, out, _ = cli(capsys, "runs", "show", two_runs[0][:10])
    assert code == 0 and two_runs[0] in out and "lr" in out and "0.8" in out
    code, out, _ = cli(capsys, "runs", "compare", *two_runs)
    assert code == 0 and "params.lr" in out and "metrics.auc" in out and "differ" in out


def test_rm_restore_gc(capsys: pytest.CaptureFixture[str], two_runs: list[str]) -> None:
    """runs rm hides a run, restore brings it back, gc removes deleted runs."""
    code, out, _ = cli(capsys, "runs", "rm", two_runs[0])
    assert code == 0 and "deleted 1 run" in out
    _, out, _ = cli(capsys, "runs", "ls", "--format", "json")
    assert [d["run_id"] for d in json.loads(out)] == [two_runs[1]]
    cli(capsys, "runs", "restore", two_runs[0])
    cli(capsys, "runs", "rm", two_runs[0])
    code, out, _ = cli(capsys, "gc")
    assert code == 0 and "removed 1 deleted run" in out


def test_user_errors_exit_1_without_traceback(
    capsys: pytest.CaptureFixture[str], two_runs: list[str]
) -> None:
    """Unknown ids and bad filters print one message and exit 1."""
    code, _, err = cli(capsys, "runs", "show", "nosuchrun")
    assert code == 1 and "no run with id" in err and "Traceback" not in err
    code, _, err = cli(capsys, "runs", "ls", "--filter", "metrics.auc >>> 1")
    assert code == 1 and "filter" in err and "Traceback" not in err
    code, _, err = cli(capsys, "runs", "compare", "onlyone")
    assert code == 1 and "at least two" in err


def test_console_script_reports_an_unreachable_store(project: Path) -> None:
    """The installed `cairn` command reports a dead PostgreSQL URL in one line, exit 1."""
    env = dict(os.environ)  # the project fixture cleared every other CAIRN_* variable
    env["CAIRN_STORE"] = "postgresql://postgres@127.0.0.1:1/none"
    done = subprocess.run(
        [sys.executable, "-m", "cairn.cli.main", "runs", "ls"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1
    assert "cannot use the metadata store" in done.stderr
    assert "Traceback" not in done.stderr


def test_read_commands_create_no_project(capsys: pytest.CaptureFixture[str], project: Path) -> None:
    """Reading commands in a folder with no project say so, exit 1 and leave no .cairn/ behind."""
    commands = [
        ["runs", "ls"],
        ["runs", "show", "01abc"],
        ["runs", "rm", "01abc"],
        ["data", "ls"],
        ["data", "show", "x"],
        ["data", "stale"],
        ["models", "ls"],
        ["models", "show", "x"],
        ["validate", "show", "x"],
        ["gc"],
    ]
    for args in commands:
        code, out, err = cli(capsys, *args)
        assert code == 1 and "no cairn project here" in err and "Traceback" not in err, args
        assert out == ""
        assert not (project / ".cairn").exists(), args


def test_a_huge_limit_is_refused_without_a_traceback(
    capsys: pytest.CaptureFixture[str], two_runs: list[str]
) -> None:
    """runs ls --limit past the database's integers answers one line, not a traceback."""
    code, _, err = cli(capsys, "runs", "ls", "--limit", "99999999999999999999999")
    assert code == 1 and "limit" in err and "Traceback" not in err


def test_an_overlong_run_id_is_not_found_in_one_short_line(
    capsys: pytest.CaptureFixture[str], two_runs: list[str]
) -> None:
    """runs show with 100,000 characters says no such run, shortly, and blames nothing else."""
    code, _, err = cli(capsys, "runs", "show", "a" * 100_000)
    assert code == 1 and "no run with id" in err and "100,000 characters" in err
    assert len(err) < 400 and "permission" not in err


def test_compare_marks_differences_and_leaves_system_metrics_out(
    capsys: pytest.CaptureFixture[str], project: Path
) -> None:
    """runs compare marks differing rows with * (piped too); system/* rows need --system."""
    ids = []
    for auc in (0.8, 0.9):
        with cairn.run(params={"optim": "adam"}) as run:
            cairn.log({"auc": auc})
        ids.append(run.id)
    code, out, _ = cli(capsys, "runs", "compare", *ids)
    assert code == 0 and "highlighted" not in out
    rows = {line.split()[-3]: line.lstrip() for line in out.splitlines() if "." in line}
    assert rows["metrics.auc"].startswith("* metrics.auc")
    assert rows["params.optim"].startswith("params.optim")
    assert "system/cpu_percent" not in out and "--system" in out
    code, out, _ = cli(capsys, "runs", "compare", "--system", *ids)
    assert code == 0 and "metrics.system/cpu_percent" in out


def test_diff_offers_only_the_formats_it_prints(
    capsys: pytest.CaptureFixture[str], two_runs: list[str]
) -> None:
    """runs diff --help offers table and json, and --format json prints JSON."""
    code, out, _ = cli(capsys, "runs", "diff", "--help")
    assert code == 0 and "csv" not in out
    code, out, _ = cli(capsys, "runs", "diff", *two_runs, "--format", "json")
    assert code == 0 and json.loads(out)["run_a"]["run_id"] == two_runs[0]


def test_show_gives_both_times_in_utc(
    capsys: pytest.CaptureFixture[str], two_runs: list[str]
) -> None:
    """runs show names the time zone of the start and of the end."""
    code, out, _ = cli(capsys, "runs", "show", two_runs[0])
    assert code == 0
    times = [line for line in out.splitlines() if line.split()[:1] in (["started"], ["ended"])]
    assert len(times) == 2 and all(line.rstrip().endswith("UTC") for line in times)
