"""The CLI's ``cairn monitor run``, ``show`` and ``reference`` on a real prediction log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import cairn
from cairn.store import Store
from tests.cli.test_data_cli import cli
from tests.monitoring.test_windows import (
    DAY0,
    HOUR_MS,
    IncomeRule,
    customers,
    hours,
    register,
    write_log,
)


@pytest.fixture
def served(store: Store, quiet_capture: None, project: Path) -> Path:
    """``churn`` v1 with three logged hours: calm, age shifted by 1 sd, and a thin one."""
    register(project)
    write_log(hours(0.0, 1.0, None))
    return project


def test_run_prints_a_line_per_window_and_show_the_trend(
    capsys: pytest.CaptureFixture[str], served: Path
) -> None:
    """run prints each window (the shifted hour names age); show prints age's effect marked."""
    code, out, err = cli(capsys, "monitor", "run", "churn", "--window", "1h")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["start", "(UTC)", "rows"]
    assert "2026-11-02 00:00" in lines[1] and "600" in lines[1] and " no " in lines[1]
    assert "2026-11-02 01:00" in lines[2] and lines[2].rstrip().endswith("age")
    assert "not enough data" in lines[3]
    assert "3 window(s) of 1h stored for churn/1" in err
    code, out, err = cli(capsys, "monitor", "show", "churn")
    assert code == 0, err
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()[1:]}
    assert set(rows) >= {"age", "income", "city", "_prediction", "(rows)", "(dataset)"}
    assert rows["age"][1].endswith("*") and not rows["age"][0].endswith("*")
    assert rows["age"][2] == "." and not any(cell.endswith("*") for cell in rows["income"])
    assert out.splitlines()[-3].startswith("_prediction")
    code, out, _ = cli(capsys, "monitor", "show", "churn", "--json", "--limit", "2")
    listed = json.loads(out)
    assert [w["start_ms"] for w in listed] == [DAY0 + HOUR_MS, DAY0 + 2 * HOUR_MS]
    assert listed[0]["result"]["drifted_columns"] == ["age"]


def test_row_windows_and_a_rerun_from_the_cli(
    capsys: pytest.CaptureFixture[str], served: Path
) -> None:
    """--window takes a row count; a rerun says which windows were computed already."""
    code, out, _ = cli(
        capsys, "monitor", "run", "churn/1", "--window", "1000", "--since", "2026-11-02"
    )
    assert code == 0
    assert "(open)" in out.splitlines()[-1] and "240" in out.splitlines()[-1]
    code, _, _ = cli(capsys, "monitor", "run", "churn", "--window", "1h")
    code, out, err = cli(capsys, "monitor", "run", "churn", "--window", "1h")
    assert code == 0 and out == "" and "computed already" in err


def test_run_on_a_local_dask_cluster(capsys: pytest.CaptureFixture[str], served: Path) -> None:
    """--executor dask summarizes the files on a local Dask cluster and prints the same."""
    code, here, _ = cli(capsys, "monitor", "run", "churn", "--window", "1h")
    assert code == 0
    code, there, err = cli(
        capsys, "monitor", "run", "churn", "--window", "1h", "--since", "2026-11-02",
        "--executor", "dask",
    )  # fmt: skip
    assert code == 0, err
    assert there == here


def test_reference_is_shown_and_computed_from_given_data(
    capsys: pytest.CaptureFixture[str], served: Path
) -> None:
    """reference shows where a stored reference came from, and makes one from --data."""
    code, out, _ = cli(capsys, "monitor", "reference", "churn/1")
    assert code == 0 and "4,000 rows of customers@v1" in out
    with cairn.run():
        cairn.log_model(IncomeRule(), "bare", input_example=customers(5, 1))
    write_log(hours(0.0), model="bare")
    code, _, err = cli(capsys, "monitor", "run", "bare")
    assert code == 1 and "cairn monitor reference bare/1 --data PATH" in err
    (served / "extra").mkdir()
    customers(500, 7).to_parquet(served / "extra" / "t.parquet", index=False)
    code, out, _ = cli(capsys, "monitor", "reference", "bare/1", "--data", str(served / "extra"))
    assert code == 0 and "500 rows of data given by hand" in out
    code, out, err = cli(capsys, "monitor", "run", "bare", "--since", "2026-11-01")
    assert code == 0, err
    code, out, _ = cli(capsys, "monitor", "reference", "bare/1", "--data", "data:customers@v1")
    assert code == 0 and "4,000 rows of customers@v1" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "churn", "--window", "soon"], "cannot read the window"),
        (["run", "churn", "--window", "0"], "at least 1 row"),
        (["run", "churn", "--since", "yesterday"], "cannot read since"),
        (["run", "churn", "--since", "9" * 400], "is not a time"),
        (["run", "churn", "--until", "2020-01-01", "--since", "2021-01-01"], "before until"),
        (["run", "churn", "--executor", "ftp://x"], "executor is 'dask'"),
        (["run", "churn\x00"], "NUL"),
        (["run", ""], "name a model"),
        (["run", "nobody"], "no model named"),
        (["show", "nobody"], "no model named"),
        (["reference", "churn/99"], "version 99 of model"),
        (["reference", "churn/1", "--data", "/no/such/folder"], "no file or folder"),
        (["reference", "churn/1", "--data", "data:nothing@v1"], "nothing"),
    ],
)
def test_bad_arguments_exit_1_with_a_message(
    capsys: pytest.CaptureFixture[str], served: Path, args: list[str], message: str
) -> None:
    """Bad models, windows, times, executors and data exit 1 with one message, no traceback."""
    code, _, err = cli(capsys, "monitor", *args)
    assert code == 1 and message in err and "Traceback" not in err


def test_show_with_no_windows_says_how_to_make_them(
    capsys: pytest.CaptureFixture[str], served: Path
) -> None:
    """show before any run says which command computes windows."""
    code, out, err = cli(capsys, "monitor", "show", "churn")
    assert code == 0 and out == "" and "cairn monitor run churn" in err
