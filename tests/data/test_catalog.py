"""The catalog: list, show, diff, edit, remove, restore and status, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Connection, select, update

import cairn
from cairn.core.errors import InvalidInputError, NotFoundError
from cairn.core.ids import now_ms
from cairn.data import (
    diff_versions,
    edit_dataset,
    list_datasets,
    remove_version,
    restore_version,
    show_dataset,
    stale_datasets,
    status,
)
from cairn.data._frequency import is_stale
from cairn.store import Store
from cairn.store.db.schema import dataset_versions, datasets, runs

DAY_MS = 24 * 3600 * 1000


def write_table(path: Path, frame: pd.DataFrame) -> Path:
    """Write ``frame`` as Parquet at ``path`` (folders created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, index=False)
    return path


def write_text(path: Path, text: str) -> Path:
    """Write ``text`` at ``path`` (folders created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def age_versions(store: Store, name: str, days: float) -> None:
    """Pretend every version of ``name`` was added ``days`` ago."""

    def older(conn: Connection) -> None:
        ds_id = select(datasets.c.id).where(datasets.c.name == name).scalar_subquery()
        conn.execute(
            update(dataset_versions)
            .where(dataset_versions.c.dataset_id == ds_id)
            .values(created_ms=now_ms() - int(days * DAY_MS))
        )

    store.db.transact(older)


def run_db_id(store: Store, uid: str) -> int:
    """The database id of the run ``uid``."""
    with store.db.read() as conn:
        return int(conn.execute(select(runs.c.id).where(runs.c.uid == uid)).scalar_one())


def three_versions(project: Path) -> Path:
    """A dataset ``cust`` with versions v1, v2, v3 added from one folder."""
    folder = project / "cust"
    for n in range(1, 4):
        write_text(folder / "data.txt", "x" * n)
        cairn.data.add(folder, name="cust")
    return folder


def test_ls_lists_latest_version_and_flags_stale(store: Store, project: Path) -> None:
    """list_datasets gives each dataset's latest version and flags an overdue one as stale."""
    write_text(project / "a" / "f.txt", "a")
    cairn.data.add(project / "a", name="alpha", frequency="daily", owner="ana@team")
    write_text(project / "a" / "f.txt", "aa")
    cairn.data.add(project / "a", name="alpha")
    write_text(project / "b" / "f.txt", "b")
    cairn.data.add(project / "b", name="beta")
    found = {d.name: d for d in list_datasets()}
    assert list(found) == ["alpha", "beta"]
    alpha = found["alpha"]
    assert alpha.latest is not None and alpha.latest.ref == "alpha@v2"
    assert alpha.version_count == 2 and alpha.owner == "ana@team" and not alpha.stale
    assert is_stale(alpha.frequency, alpha.latest.created_ms, now_ms() + 3 * DAY_MS)
    assert stale_datasets() == []
    age_versions(store, "alpha", days=3)
    age_versions(store, "beta", days=300)  # no frequency: never overdue
    found = {d.name: d for d in list_datasets()}
    assert found["alpha"].stale and not found["beta"].stale
    assert [d.name for d in stale_datasets()] == ["alpha"]


def test_show_lists_versions_tables_and_the_runs_that_used_them(
    store: Store, project: Path
) -> None:
    """show_dataset gives every version, its tables, the runs that read or wrote it."""
    write_table(project / "c" / "t.parquet", pd.DataFrame({"id": [1, 2, 3], "x": [0.1, 0.2, 0.3]}))
    cairn.data.add(project / "c", name="cust", description="customers")
    with cairn.run(name="train") as reader:
        cairn.data.load("cust")
    write_table(project / "c" / "t.parquet", pd.DataFrame({"id": [1, 2]}))
    with cairn.run(name="prepare") as writer:
        cairn.data.add(project / "c", name="cust")
    detail = show_dataset("cust")
    assert detail.dataset.description == "customers"
    assert [v.ref for v in detail.versions] == ["cust@v1", "cust@v2"]
    assert detail.tables[1]["t.parquet"].rows == 3
    assert detail.tables[1]["t.parquet"].columns == [("id", "int64"), ("x", "double")]
    assert detail.tables[2]["t.parquet"].rows == 2
    assert [(u.run_id, u.run_name, u.relation) for u in detail.uses[1]] == [
        (reader.id, "train", "input")
    ]
    assert [(u.run_id, u.relation) for u in detail.uses[2]] == [(writer.id, "output")]
    assert [e.field for e in detail.events] == ["description"]
    assert show_dataset("cust@v1").dataset.name == "cust"  # a reference shows its dataset
    with pytest.raises(NotFoundError, match="no dataset named 'nope'"):
        show_dataset("nope")


def test_diff_of_files_and_tables(store: Store, project: Path) -> None:
    """diff_versions lists files added, removed and changed, and table rows and columns."""
    folder = project / "d"
    write_table(folder / "t.parquet", pd.DataFrame({"id": [1, 2, 3], "score": [1, 2, 3]}))
    write_text(folder / "notes.txt", "first")
    write_text(folder / "old.txt", "old")
    cairn.data.add(folder, name="d")
    frame = pd.DataFrame({"id": range(5), "score": [0.5] * 5, "label": ["a"] * 5})
    write_table(folder / "t.parquet", frame)
    write_text(folder / "notes.txt", "second, longer")
    (folder / "old.txt").unlink()
    write_text(folder / "new.txt", "new")
    cairn.data.add(folder, name="d")
    diff = diff_versions("d@v1", "d@v2")
    assert (diff.a.ref, diff.b.ref, diff.same) == ("d@v1", "d@v2", False)
    assert [f.path for f in diff.added] == ["new.txt"]
    assert [f.path for f in diff.removed] == ["old.txt"]
    assert [c.path for c in diff.changed] == ["notes.txt", "t.parquet"]
    assert (diff.changed[0].size_a, diff.changed[0].size_b) == (5, 14)
    (table,) = diff.tables
    assert (table.path_a, table.rows_a, table.rows_b) == ("t.parquet", 3, 5)
    assert [name for name, _ in table.columns_added] == ["label"]
    assert table.columns_removed == []
    assert table.types_changed == [("score", "int64", "double")]
    assert diff_versions("d@v2", "d").same


def test_diff_pairs_the_single_tables_of_two_datasets(store: Store, project: Path) -> None:
    """Two datasets holding one table each are compared table to table, across names."""
    write_table(project / "x" / "2024.parquet", pd.DataFrame({"a": [1, 2]}))
    write_table(project / "y" / "2025.parquet", pd.DataFrame({"a": [1, 2, 3], "b": [1, 1, 1]}))
    cairn.data.add(project / "x", name="sales-2024")
    cairn.data.add(project / "y", name="sales-2025")
    diff = diff_versions("sales-2024@v1", "sales-2025")
    assert [f.path for f in diff.added] == ["2025.parquet"]
    assert [f.path for f in diff.removed] == ["2024.parquet"]
    (table,) = diff.tables
    assert (table.path_a, table.path_b, table.rows_a, table.rows_b) == (
        "2024.parquet",
        "2025.parquet",
        2,
        3,
    )
    assert table.columns_added == [("b", "int64")] and table.schema_changed


def test_edit_records_events_and_never_touches_versions(store: Store, project: Path) -> None:
    """edit_dataset changes catalog fields with one event each and leaves versions alone."""
    three_versions(project)
    before = show_dataset("cust").versions
    edited = edit_dataset("cust", owner="ana@team", frequency=" Weekly ", source="crm export")
    assert (edited.owner, edited.frequency, edited.source) == ("ana@team", "weekly", "crm export")
    edit_dataset("cust", owner="bo@team")
    edit_dataset("cust", owner="bo@team")  # no change, no event
    edit_dataset("cust", source="")  # an empty value clears the field
    detail = show_dataset("cust")
    assert detail.versions == before
    assert detail.dataset.source is None
    assert [(e.field, e.old, e.new) for e in detail.events] == [
        ("owner", None, "ana@team"),
        ("frequency", None, "weekly"),
        ("source", None, "crm export"),
        ("owner", "ana@team", "bo@team"),
        ("source", "crm export", None),
    ]
    with pytest.raises(InvalidInputError, match="nothing to edit"):
        edit_dataset("cust")
    with pytest.raises(NotFoundError, match="no dataset named 'nope'"):
        edit_dataset("nope", owner="x")


def test_edit_sets_tags_with_events(store: Store, project: Path) -> None:
    """edit_dataset sets tags, recording each change as a tag:<key> event."""
    three_versions(project)
    edited = edit_dataset("cust", tags={"team": "growth", "pii": True})
    assert edited.tags == {"pii": "True", "team": "growth"}
    edit_dataset("cust", tags={"team": "risk"})
    events = [(e.field, e.old, e.new) for e in show_dataset("cust").events]
    assert ("tag:team", "growth", "risk") in events and ("tag:pii", None, "True") in events
    assert list_datasets()[0].tags == {"pii": "True", "team": "risk"}


def test_frequency_that_does_not_parse_is_refused(store: Store, project: Path) -> None:
    """A frequency that is neither a name nor a cron expression is refused by add and edit."""
    write_text(project / "f" / "a.txt", "a")
    with pytest.raises(InvalidInputError, match="frequency 'sometimes' does not parse"):
        cairn.data.add(project / "f", name="f", frequency="sometimes")
    assert list_datasets() == []
    cairn.data.add(project / "f", name="f", frequency="0 6 * * 1")
    with pytest.raises(InvalidInputError, match="does not parse"):
        edit_dataset("f", frequency="every tuesday")
    assert list_datasets()[0].frequency == "0 6 * * 1"
    assert [e.field for e in show_dataset("f").events] == ["frequency"]


def test_rm_and_restore_a_version(store: Store, project: Path) -> None:
    """remove_version refuses a bare name, hides name@vN from 'latest'; restore brings it back."""
    three_versions(project)
    for ref in ("cust", "cust@latest"):
        with pytest.raises(InvalidInputError, match="needs one version"):
            remove_version(ref)
    assert cairn.data.version("cust").number == 3
    removed = remove_version("cust@v3")
    assert removed.ref == "cust@v3" and removed.deleted
    assert cairn.data.version("cust").number == 2
    assert list_datasets()[0].version_count == 2
    with pytest.raises(InvalidInputError, match="deleted"):
        cairn.data.version("cust@v3")
    with pytest.raises(InvalidInputError, match="already deleted"):
        remove_version("cust@v3")
    with pytest.raises(NotFoundError, match="no version v9"):
        remove_version("cust@v9")
    assert [v.deleted for v in show_dataset("cust").versions] == [False, False, True]
    with pytest.raises(InvalidInputError, match="not deleted"):
        restore_version("cust@v2")
    assert not restore_version("cust@v3").deleted
    assert cairn.data.version("cust").number == 3
    assert [(e.field, e.new) for e in show_dataset("cust").events] == [
        ("rm", "v3"),
        ("restore", "v3"),
    ]


def test_rm_is_refused_while_a_model_version_depends_on_it(store: Store, project: Path) -> None:
    """A version read by a run that made a model version is kept unless force is given."""
    from sklearn.dummy import DummyClassifier

    three_versions(project)
    with cairn.run(name="train") as run:
        cairn.data.path("cust@v2")
        cairn.log_model(DummyClassifier().fit([[0], [1]], [0, 1]), "clf")
    with pytest.raises(InvalidInputError, match=f"model clf/1 \\(run {run.id}\\)"):
        remove_version("cust@v2")
    assert not cairn.data.version("cust@v2").deleted
    remove_version("cust@v1")  # nothing depends on v1
    assert remove_version("cust@v2", force=True).deleted
    events = show_dataset("cust").events
    assert [e.field for e in events] == ["rm", "force-rm"]
    assert events[1].new is not None and "model clf/1" in events[1].new


def test_a_deleted_model_version_no_longer_holds_its_data(store: Store, project: Path) -> None:
    """Once the model version made from a dataset version is deleted, the data may go."""
    from sklearn.dummy import DummyClassifier

    three_versions(project)
    with cairn.run(name="train"):
        cairn.data.path("cust@v2")
        cairn.log_model(DummyClassifier().fit([[0], [1]], [0, 1]), "clf")
    cairn.registry.delete_version("clf/1")
    assert remove_version("cust@v2").deleted


def _age_files(folder: Path) -> None:
    """Date every file under ``folder`` a minute back, so the stat cache may remember them."""
    past = time.time() - 60
    for path in folder.rglob("*"):
        if path.is_file():
            os.utime(path, (past, past))


def test_status_reports_changes_without_recording_anything(store: Store, project: Path) -> None:
    """status compares a folder with the latest version, reading only what the cache lacks."""
    folder = project / "s"
    for n in range(5):
        write_text(folder / "sub" / f"f{n}.txt", f"file {n}")
    _age_files(folder)
    cairn.data.add(folder, name="s")
    clean = status("s")
    assert clean.unchanged and clean.hashed == 0 and clean.version.ref == "s@v1"
    assert clean.path == str(folder.resolve())
    write_text(folder / "sub" / "f0.txt", "FILE 0")  # same size, other content
    write_text(folder / "sub" / "f1.txt", "longer than before")
    write_text(folder / "extra.txt", "new")
    (folder / "sub" / "f2.txt").unlink()
    result = status("s")
    assert not result.unchanged
    assert result.added == ["extra.txt"]
    assert result.removed == ["sub/f2.txt"]
    assert result.changed == ["sub/f0.txt", "sub/f1.txt"]
    assert result.hashed == 1  # f0 only: f1's size alone shows it changed
    assert status("s", folder / "sub").removed  # another path: compared as given
    assert len(show_dataset("s").versions) == 1 and cairn.data.version("s").number == 1


def test_status_is_refused_for_remote_and_missing_paths(store: Store, project: Path) -> None:
    """status names the problem for an s3:// location and for a path that does not exist."""
    write_text(project / "r" / "a.txt", "a")
    cairn.data.add(project / "r", name="r")
    with pytest.raises(InvalidInputError, match="local files only"):
        status("r", "s3://bucket/prefix")
    with pytest.raises(InvalidInputError, match="no file or folder"):
        status("r", project / "missing")
    with pytest.raises(NotFoundError):
        status("unknown")
