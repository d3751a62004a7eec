"""``cairn validate`` writes its --report and --output files never through a symbolic link
(decision 0011)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import cairn
from tests.cli.test_data_cli import cli


def test_report_and_suite_files_are_never_written_through_a_link(
    capsys: pytest.CaptureFixture[str], project: Path
) -> None:
    """A link planted where the old fixed temporary name was (``.report.html.partial``) and a
    link at the named path itself are left pointing at untouched files: the report and the
    suite YAML are written as new files and renamed in, replacing the link at the path."""
    (project / "raw").mkdir()
    pd.DataFrame({"age": range(18, 218)}).to_csv(project / "raw" / "t.csv", index=False)
    cairn.data.add(project / "raw", "people")
    outside = project / "outside"
    outside.mkdir()
    for name in ("planted.txt", "named.txt", "suite-planted.txt"):
        (outside / name).write_text("mine")
    out = project / "out"
    out.mkdir()
    (out / ".report.html.partial").symlink_to(outside / "planted.txt")
    (out / "suite.yaml").symlink_to(outside / "named.txt")
    (out / ".suite.yaml.partial").symlink_to(outside / "suite-planted.txt")
    code, _, err = cli(
        capsys,
        "validate",
        "profile",
        "data:people",
        "--suite",
        "people",
        "--output",
        str(out / "suite.yaml"),
    )
    assert code == 0, err
    code, _, err = cli(
        capsys,
        "validate",
        "check",
        str(project / "raw" / "t.csv"),
        "--suite",
        "people",
        "--report",
        str(out / "report.html"),
    )
    assert code == 0, err
    assert {p.name: p.read_text() for p in outside.iterdir()} == {
        "planted.txt": "mine",
        "named.txt": "mine",
        "suite-planted.txt": "mine",
    }
    assert not (out / "suite.yaml").is_symlink() and "age" in (out / "suite.yaml").read_text()
    assert "<!doctype html>" in (out / "report.html").read_text()
    assert sorted(p.name for p in out.iterdir() if ".partial-" in p.name) == []
