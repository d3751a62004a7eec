"""The data commands of the CLI: add, get, ls, show, diff, stale, edit, rm, restore, status."""

from __future__ import annotations

import csv
import io
import json
import os
import time
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Connection, update

import cairn
from cairn.cli.main import main
from cairn.core.ids import now_ms
from cairn.data import list_datasets, show_dataset
from cairn.store import get_store
from cairn.store.db.schema import dataset_versions


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run the CLI in-process; return (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


def _write(folder: Path, rows: int, extra: str | None = None) -> Path:
    """A folder holding a Parquet table of ``rows`` rows and a text file."""
    folder.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame({"id": list(range(rows))})
    if extra:
        frame[extra] = 1.5
    frame.to_parquet(folder / "table.parquet", index=False)
    (folder / "README.txt").write_text("customers export\n")
    past = time.time() - 60  # old enough for the stat cache to remember
    for path in folder.iterdir():
        os.utime(path, (past, past))
    return folder


@pytest.fixture
def customers(capsys: pytest.CaptureFixture[str], project: Path) -> Path:
    """A dataset ``customers`` with three versions; v3 has a column more than v2."""
    folder = project / "customers"
    for rows in (3, 4):
        _write(folder, rows)
        cli(capsys, "data", "add", str(folder), "--name", "customers", "--frequency", "daily")
    _write(folder, 5, extra="score")
    cli(capsys, "data", "add", str(folder), "--name", "customers", "--owner", "ana@team")
    return folder


def test_add_prints_the_version_or_unchanged(
    capsys: pytest.CaptureFixture[str], project: Path
) -> None:
    """data add prints the new version with its work, or that the content is unchanged."""
    folder = _write(project / "c", 3)
    code, out, _ = cli(
        capsys, "data", "add", str(folder), "--name", "c", "--tag", "team=growth", "--owner", "me"
    )
    assert code == 0
    assert out.startswith("added c@v1: 2 files, ")
    assert "KiB (2 hashed, 2 new objects)" in out
    code, out, _ = cli(capsys, "data", "add", str(folder), "--name", "c")
    assert code == 0 and out.strip() == "c is unchanged: same content as c@v1"
    assert "hashed" not in out


def test_ls_as_table_csv_and_json_with_the_stale_flag(
    capsys: pytest.CaptureFixture[str], customers: Path
) -> None:
    """data ls prints name, owner, frequency, latest version, size and an overdue flag."""
    code, out, _ = cli(capsys, "data", "ls")
    assert code == 0 and "customers" in out and "ana@team" in out and "v3" in out
    assert "KiB" in out and "overdue" not in out

    def older(conn: Connection) -> None:
        conn.execute(update(dataset_versions).values(created_ms=now_ms() - 3 * 86_400_000))

    get_store().db.transact(older)
    code, out, _ = cli(capsys, "data", "ls")
    assert code == 0 and "overdue" in out
    code, out, _ = cli(capsys, "data", "ls", "--format", "csv")
    (row,) = list(csv.DictReader(io.StringIO(out)))
    assert (row["name"], row["latest"], row["versions"], row["stale"]) == (
        "customers",
        "customers@v3",
        "3",
        "True",
    )
    code, out, _ = cli(capsys, "data", "ls", "--format", "json")
    (item,) = json.loads(out)
    assert item["frequency"] == "daily" and item["files"] == 2 and item["stale"] is True


def test_show_lists_versions_tables_runs_and_history(
    capsys: pytest.CaptureFixture[str], customers: Path
) -> None:
    """data show prints catalog fields, every version, tables, the runs and the edit history."""
    with cairn.run(name="train-model") as run:
        cairn.data.load("customers@v2")
    code, out, _ = cli(capsys, "data", "show", "customers")
    assert code == 0
    for text in ("ana@team", "daily", "v1", "v2", "v3", "table.parquet", "id: int64"):
        assert text in out
    assert "score: double" in out
    assert run.id in out and "train-model" in out and "read by" in out
    assert "history" in out and "owner" in out


def test_diff_prints_files_and_table_changes(
    capsys: pytest.CaptureFixture[str], customers: Path
) -> None:
    """data diff prints changed files, the row change and the column added."""
    code, out, _ = cli(capsys, "data", "diff", "customers@v2", "customers@v3")
    assert code == 0
    assert "~ table.parquet" in out
    assert "rows: 4 → 5 (+1)" in out
    assert "+ column score: double" in out
    assert "0 added, 0 removed, 1 changed" in out
    code, out, _ = cli(capsys, "data", "diff", "customers@v3", "customers")
    assert code == 0 and "hold the same files" in out


def test_stale_exit_codes(capsys: pytest.CaptureFixture[str], customers: Path) -> None:
    """data stale exits 0 when nothing is overdue and 1, listing them, when something is."""
    code, out, _ = cli(capsys, "data", "stale")
    assert code == 0 and "no dataset is overdue" in out

    def older(conn: Connection) -> None:
        conn.execute(update(dataset_versions).values(created_ms=now_ms() - 3 * 86_400_000))

    get_store().db.transact(older)
    code, out, _ = cli(capsys, "data", "stale")
    assert code == 1 and "customers: daily, last updated" in out and "customers@v3" in out


def test_edit_rm_and_restore(capsys: pytest.CaptureFixture[str], customers: Path) -> None:
    """data edit changes catalog fields; rm hides a version; restore brings it back."""
    code, out, _ = cli(capsys, "data", "edit", "customers", "--description", "[b]all[/b] customers")
    assert code == 0 and out.strip() == "edited customers: description=[b]all[/b] customers"
    assert list_datasets()[0].description == "[b]all[/b] customers"
    code, out, _ = cli(capsys, "data", "rm", "customers@v3")
    assert code == 0 and "deleted customers@v3" in out and "cairn data restore" in out
    assert cairn.data.version("customers").number == 2
    code, _, err = cli(capsys, "data", "rm", "customers")
    assert code == 1 and "needs one version" in err and "Traceback" not in err
    code, out, _ = cli(capsys, "data", "restore", "customers@v3")
    assert code == 0 and out.strip() == "restored customers@v3"
    assert cairn.data.version("customers").number == 3


def test_get_copies_a_version(
    capsys: pytest.CaptureFixture[str], customers: Path, project: Path
) -> None:
    """data get copies a version's files into a folder and says which version it was."""
    code, out, _ = cli(capsys, "data", "get", "customers@v1", str(project / "out"))
    assert code == 0 and "copied customers@v1 (2 files" in out
    assert pd.read_parquet(project / "out" / "table.parquet").shape == (3, 1)
    code, _, err = cli(capsys, "data", "get", "customers@v1", str(project / "out"))
    assert code == 1 and "--force" in err


def test_status_prints_unchanged_or_the_lists(
    capsys: pytest.CaptureFixture[str], customers: Path
) -> None:
    """data status prints 'unchanged' or what was added, removed and changed; exit 0 both ways."""
    code, out, _ = cli(capsys, "data", "status", "customers")
    assert code == 0 and out.startswith("unchanged")
    (customers / "README.txt").unlink()
    (customers / "new.csv").write_text("a,b\n1,2\n")
    code, out, _ = cli(capsys, "data", "status", "customers", str(customers))
    assert code == 0
    assert "added    new.csv" in out and "removed  README.txt" in out
    assert "1 added, 1 removed, 0 changed" in out
    assert len(show_dataset("customers").versions) == 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["data", "add", "missing", "--name", "x"], "no file or folder at"),
        (["data", "add", "src", "--name", "no/slash"], "cannot name a dataset"),
        (["data", "add", "src", "--name", "x", "--frequency", "sometimes"], "does not parse"),
        (["data", "add", "src", "--name", "x", "--tag", "team"], "--tag takes key=value"),
        (["data", "get", "customers@v9", "dest"], "has no version v9 (it has 3"),
        (["data", "diff", "customers@v1", "customers@v9"], "has no version v9"),
        (["data", "edit", "customers", "--frequency", "sometimes"], "does not parse"),
        (["data", "edit", "customers", "--tag", "nokey"], "--tag takes key=value"),
        (["data", "edit", "customers"], "nothing to edit"),
        (["data", "show", "nope"], "no dataset named 'nope'"),
        (["data", "status", "customers", "s3://bucket/data"], "local files only"),
    ],
)
def test_bad_input_exits_1_with_a_message_and_writes_nothing(
    capsys: pytest.CaptureFixture[str],
    customers: Path,
    project: Path,
    args: list[str],
    message: str,
) -> None:
    """Bad input prints one clear message, exits 1, and leaves the catalog as it was."""
    _write(project / "src", 2)
    before = show_dataset("customers")
    code, out, err = cli(capsys, *args)
    assert code == 1, out
    assert message in err and "Traceback" not in err
    assert [d.name for d in list_datasets()] == ["customers"]
    assert show_dataset("customers") == before
    assert not (project / "dest").exists()


def test_adding_the_project_folder_leaves_the_store_out(
    capsys: pytest.CaptureFixture[str], customers: Path, project: Path
) -> None:
    """data add . never takes cairn's own .cairn/ folder in, and adding that folder is refused."""
    assert (project / ".cairn" / "cairn.db").exists()
    code, _, err = cli(capsys, "data", "add", ".", "--name", "everything")
    assert code == 0, err
    files = cairn.data.files("everything")
    assert files and not any(".cairn" in f.path.split("/") for f in files)
    code, _, err = cli(capsys, "data", "add", ".cairn", "--name", "store")
    assert code == 1 and "cairn's own store" in err and "Traceback" not in err
    assert [d.name for d in list_datasets()] == ["customers", "everything"]


def test_add_with_a_suite_shows_its_warnings(
    capsys: pytest.CaptureFixture[str], project: Path
) -> None:
    """data add --suite prints the suite's verdict and warnings on stderr, even when it passes."""
    suite = project / "suite.yaml"
    suite.write_text(
        "name: orders\nextra_columns: warn\nexpectations:\n- kind: column_exists\n  column: id\n"
    )
    folder = project / "orders"
    folder.mkdir()
    pd.DataFrame({"id": [1, 2, 3], "surprise": [0.5, 0.5, 0.5]}).to_parquet(
        folder / "orders.parquet", index=False
    )
    code, out, err = cli(capsys, "data", "add", "orders", "--name", "orders", "--suite", str(suite))
    assert code == 0 and "added orders@v1" in out
    assert "suite" in err and "warning" in err and "surprise" in err
    result = cairn.data.add(folder, "orders", suite=str(suite))
    assert result.suite_report is not None and "surprise" in result.suite_report
