"""The validate commands of the CLI: profile, check (exit 3 on errors), show; stored suites."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import cairn
from cairn import validation
from tests.cli.test_data_cli import cli


def _table(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "id": np.arange(seed * 10**6, seed * 10**6 + n),
            "age": rng.integers(18, 90, n),
            "city": rng.choice(["paris", "lyon"], n),
            "note": [f"visit {i} went fine" for i in rng.integers(0, 10**6, n)],
        }
    )


@pytest.fixture
def profiled(capsys: pytest.CaptureFixture[str], project: Path) -> Path:
    """Dataset ``cust`` v1 and suite ``cust`` v1 profiled from it."""
    (project / "raw").mkdir()
    _table(4000, 1).to_parquet(project / "raw" / "t.parquet", index=False)
    cairn.data.add(project / "raw", "cust")
    code, out, _ = cli(capsys, "validate", "profile", "data:cust", "--suite", "cust")
    assert code == 0 and "cust@v1" in out
    return project


def test_check_passes_a_clean_batch_and_fails_a_broken_one_with_exit_3(
    capsys: pytest.CaptureFixture[str], profiled: Path
) -> None:
    """A clean batch exits 0; a broken one exits 3 and names what failed; reports are written."""
    _table(800, 2).to_csv(profiled / "fresh.csv", index=False)
    code, out, _ = cli(capsys, "validate", "check", str(profiled / "fresh.csv"), "--suite", "cust")
    assert code == 0 and "passed" in out
    broken = _table(800, 3)
    broken.loc[broken.index[:80], "city"] = "rome"
    broken.loc[broken.index[4], "note"] = "call +33 6 12 34 56 78"
    broken.to_csv(profiled / "broken.csv", index=False)
    code, out, _ = cli(
        capsys,
        "validate",
        "check",
        str(profiled / "broken.csv"),
        "--suite",
        "cust@v1",
        "--report",
        str(profiled / "report.html"),
    )
    assert code == 3 and "city in its 2 known categories" in out and "no_personal_data" in out
    page = (profiled / "report.html").read_text()
    assert "<!doctype html>" in page and "rome" in page and "12 34 56" not in page
    code, out, _ = cli(
        capsys,
        "validate",
        "check",
        str(profiled / "broken.csv"),
        "--suite",
        "cust",
        "--format",
        "json",
    )
    assert code == 3 and '"passed": false' in out


def test_suites_are_versioned_and_linked_to_their_dataset_version(
    capsys: pytest.CaptureFixture[str], profiled: Path
) -> None:
    """Profiling again with other data makes v2; results are kept against the version checked."""
    suite, version = validation.load_suite("cust")
    assert version is not None and version.ref == "cust@v1" and version.source == "cust@v1"
    again, _ = validation.load_suite("cust@v1")
    assert again.to_dict() == suite.to_dict()
    assert validation.save_suite(suite).number == 1  # unchanged text: no new version
    changed = validation.Suite.from_dict({**suite.to_dict(), "extra_columns": "error"})
    assert validation.save_suite(changed).ref == "cust@v2"
    code, _, _ = cli(capsys, "validate", "check", "data:cust", "--suite", "cust@v1")
    assert code == 0
    (kept,) = validation.results_of("cust@v1")
    assert kept["suite"] == "cust@v1" and kept["passed"] and kept["report"]["rows"] == 4000
    code, out, _ = cli(capsys, "validate", "show", "cust@v2")
    assert code == 0 and "extra_columns: error" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("check", "{p}/nope.csv", "--suite", "cust"), "no file or folder"),
        (("check", "{p}/data.json", "--suite", "cust"), "neither Parquet"),
        (("check", "{p}/nocity.csv", "--suite", "cust"), "lacks column(s) city"),
        (("check", "{p}/fresh.csv", "--suite", "cust@v9"), "no version v9"),
        (("check", "{p}/fresh.csv", "--suite", "nosuch"), "no suite named 'nosuch'"),
        (("check", "{p}/fresh.csv", "--suite", "{p}/bad.yaml"), "at line"),
    ],
)
def test_bad_input_exits_1_with_a_message(
    capsys: pytest.CaptureFixture[str], profiled: Path, args: tuple[str, ...], message: str
) -> None:
    """Missing files, other formats, absent columns, unknown suites, broken YAML: exit 1."""
    _table(50, 4).to_csv(profiled / "fresh.csv", index=False)
    _table(50, 4).drop(columns=["city"]).to_csv(profiled / "nocity.csv", index=False)
    (profiled / "data.json").write_text("{}")
    (profiled / "bad.yaml").write_text("name: s\nexpectations:\n  - kind: unique\n   column: a\n")
    code, _, err = cli(capsys, "validate", *(a.format(p=profiled) for a in args))
    assert code == 1 and message in err and "Traceback" not in err


def test_data_add_with_a_suite_refuses_a_failing_version_unless_forced(
    capsys: pytest.CaptureFixture[str], profiled: Path
) -> None:
    """A version failing the suite is refused (nothing added); --force adds it and says so."""
    bad = profiled / "bad"
    bad.mkdir()
    table = _table(2000, 5)
    table.loc[table.index[:50], "age"] = None
    table.to_parquet(bad / "t.parquet", index=False)
    code, _, err = cli(capsys, "data", "add", str(bad), "--name", "cust", "--suite", "cust")
    assert code == 1 and "fails suite cust" in err and "null_rate(age)" in err
    assert cairn.data.version("cust").number == 1
    code, out, _ = cli(
        capsys, "data", "add", str(bad), "--name", "cust", "--suite", "cust", "--force"
    )
    assert code == 0 and "added cust@v2" in out
    events = cairn.data.show_dataset("cust").events
    assert events[-1].field == "forced-suite" and "cust" in str(events[-1].new)
    (kept,) = validation.results_of("cust@v2")
    assert not kept["passed"] and kept["errors"] >= 1
    good = profiled / "good"
    good.mkdir()
    _table(2000, 6).to_parquet(good / "t.parquet", index=False)
    result = cairn.data.add(good, "cust", suite="cust")
    assert result.created and validation.results_of(result.version.ref)[0]["passed"]


def test_profile_takes_columns_and_exclude(
    capsys: pytest.CaptureFixture[str], project: Path
) -> None:
    """--columns profiles only those columns, --exclude leaves some out, unknown ones fail."""
    _table(500, 1).to_parquet(project / "t.parquet", index=False)
    code, _, _ = cli(
        capsys, "validate", "profile", "t.parquet", "--suite", "few", "--columns", "age,city"
    )
    assert code == 0 and set(validation.load_suite("few")[0].columns()) == {"age", "city"}
    code, _, _ = cli(
        capsys, "validate", "profile", "t.parquet", "--suite", "most", "--exclude", "note"
    )
    assert code == 0 and set(validation.load_suite("most")[0].columns()) == {"id", "age", "city"}
    code, _, err = cli(
        capsys, "validate", "profile", "t.parquet", "--suite", "bad", "--exclude", "nope"
    )
    assert code == 1 and "no column 'nope'" in err


def test_profile_of_training_data_leaves_the_models_target_out(
    capsys: pytest.CaptureFixture[str], project: Path, quiet_capture: None
) -> None:
    """Profiling data:NAME that a model was trained on leaves out the column the model does not
    take (its target), so scoring batches without it pass."""
    from sklearn.linear_model import LogisticRegression

    frame = _table(600, 1)
    frame["churned"] = (frame["age"] > 50).astype(int)
    (project / "train").mkdir()
    frame.to_parquet(project / "train" / "t.parquet", index=False)
    cairn.data.add(project / "train", "train")
    features = frame[["age"]]
    with cairn.run():
        cairn.data.load("train")  # the run read the dataset: lineage links the model to it
        model = LogisticRegression().fit(features, frame["churned"])
        cairn.log_model(model, "churn", input_example=features.head(3))
    code, out, _ = cli(capsys, "validate", "profile", "data:train", "--suite", "scoring")
    assert code == 0 and "left out" in out and "churned" in out
    columns = set(validation.load_suite("scoring")[0].columns())
    assert "churned" not in columns and "age" in columns
    scoring = _table(300, 2)  # a scoring batch: no target
    scoring.to_csv(project / "batch.csv", index=False)
    code, out, _ = cli(capsys, "validate", "check", "batch.csv", "--suite", "scoring")
    assert code == 0, out
