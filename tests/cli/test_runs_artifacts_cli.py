"""``cairn runs artifacts RUN [PATH] [--download DEST]``: a run's artifacts listed under a path
(file or folder), downloaded verified, and clear refusals of traversal and of paths that match
nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import cairn
from cairn.store import Store
from tests.cli.test_data_cli import cli

pytestmark = pytest.mark.usefixtures("quiet_capture")


@pytest.fixture
def run_id(project: Path) -> str:
    """A run with a file at the top and two files in a folder ``model``."""
    with cairn.run(name="with-files") as run:
        cairn.log_text("hello", "notes.txt")
        cairn.log_text("weights", "model/weights.bin")
        cairn.log_text("{}", "model/config.json")
    return run.id


def test_lists_all_a_folder_or_a_file(
    capsys: pytest.CaptureFixture[str], store: Store, project: Path
) -> None:
    """Without PATH every artifact is listed with its size and a short digest; a folder lists
    what is under it, a file itself; JSON gives full digests."""
    with cairn.run(name="with-files") as run:
        cairn.log_text("hello", "notes.txt")
        cairn.log_text("weights", "model/weights.bin")
        cairn.log_text("{}", "model/config.json")
    code, out, _ = cli(capsys, "runs", "artifacts", run.id[:10])
    lines = out.splitlines()
    assert code == 0 and lines[0].split() == ["path", "size", "digest"]
    paths = [line.split()[0] for line in lines[1:]]
    assert paths == ["model/config.json", "model/weights.bin", "notes.txt"]
    assert "5 B" in out and "…" in out
    code, out, _ = cli(capsys, "runs", "artifacts", run.id, "model/")
    assert [line.split()[0] for line in out.splitlines()[1:]] == [
        "model/config.json",
        "model/weights.bin",
    ]
    code, out, _ = cli(capsys, "runs", "artifacts", run.id, "notes.txt", "--format", "json")
    [entry] = json.loads(out)
    notes = next(a for a in cairn.get_run(run.id).artifacts if a.path == "notes.txt")
    assert entry == {"path": "notes.txt", "size": 5, "digest": notes.digest}


def test_download_a_folder_and_everything(
    capsys: pytest.CaptureFixture[str], run_id: str, project: Path
) -> None:
    """--download copies the chosen artifacts into DEST and prints how many and where."""
    code, out, _ = cli(capsys, "runs", "artifacts", run_id, "model", "--download", "out")
    assert code == 0 and "downloaded 2 artifact(s)" in out and str(Path("out") / "model") in out
    assert (project / "out" / "model" / "weights.bin").read_text() == "weights"
    assert not (project / "out" / "notes.txt").exists()
    code, out, _ = cli(capsys, "runs", "artifacts", run_id, "-d", "all")
    assert code == 0 and "downloaded 3 artifact(s)" in out
    assert (project / "all" / "notes.txt").read_text() == "hello"


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("../../etc/passwd", "must be relative to the run"),
        ("model/../notes.txt", "must be relative to the run"),
        ("/etc/passwd", "must be relative to the run"),
        ("./notes.txt", "must be relative to the run"),
        ("nothing", "has no artifact 'nothing'"),
        ("mod", "has no artifact 'mod'"),  # a prefix of a folder's name is not the folder
    ],
)
def test_refuses_traversal_and_paths_matching_nothing(
    capsys: pytest.CaptureFixture[str], run_id: str, project: Path, path: str, message: str
) -> None:
    """A path leaving the run or naming no artifact exits 1 with a clear message and writes
    nothing, with or without --download."""
    for extra in ([], ["--download", "out"]):
        code, _, err = cli(capsys, "runs", "artifacts", run_id, path, *extra)
        assert code == 1 and message in err and "Traceback" not in err
    assert not (project / "out").exists()


def test_a_run_without_artifacts_and_a_missing_run(
    capsys: pytest.CaptureFixture[str], project: Path
) -> None:
    """A run with no artifacts says so (and refuses a download); an unknown run is an error."""
    with cairn.run(name="bare") as run:
        pass
    code, out, _ = cli(capsys, "runs", "artifacts", run.id)
    assert code == 0 and "has no artifacts" in out
    code, _, err = cli(capsys, "runs", "artifacts", run.id, "--download", "out")
    assert code == 1 and "nothing to download" in err
    code, _, err = cli(capsys, "runs", "artifacts", "zzzzzzzzzz")
    assert code == 1 and "zzzzzzzzzz" in err
