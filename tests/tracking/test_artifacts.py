"""Run artifacts: files, folders, text, dicts and figures, on local files and S3."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import cairn
from cairn.core.errors import ArtifactExistsError, InvalidInputError
from cairn.store import Store
from tests.records import own_artifacts


def test_files_and_folders(artifacts: Store, project: Path) -> None:
    """A file and a folder are stored and come back byte for byte."""
    (project / "model.bin").write_bytes(b"\x00\x01weights")
    folder = project / "report"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("a")
    (folder / "sub" / "b.txt").write_text("b")
    with cairn.run() as run:
        cairn.log_artifact(project / "model.bin")
        cairn.log_artifact(folder, name="reports/final")
        cairn.log_text("hello", "notes/hello.txt")
        cairn.log_dict({"k": [1, 2]}, "config.json")
        cairn.log_dict({"k": [1, 2]}, "config.yaml")
    record = cairn.get_run(run.id)
    assert own_artifacts(record) == [
        "config.json",
        "config.yaml",
        "model.bin",
        "notes/hello.txt",
        "reports/final/a.txt",
        "reports/final/sub/b.txt",
    ]
    out = cairn.download_artifacts(run.id, dest=project / "download")
    assert (out / "model.bin").read_bytes() == b"\x00\x01weights"
    assert (out / "reports/final/sub/b.txt").read_text() == "b"
    assert json.loads((out / "config.json").read_text()) == {"k": [1, 2]}
    assert (out / "config.yaml").read_text() == "k:\n- 1\n- 2\n"
    only = cairn.download_artifacts(run.id, "reports", project / "only")
    assert sorted(p.name for p in only.rglob("*.txt")) == ["a.txt", "b.txt"]


def test_artifact_paths_are_never_overwritten(project: Path) -> None:
    """Logging other content under an existing path is refused; the same content is fine."""
    with cairn.run():
        cairn.log_text("one", "x.txt")
        cairn.log_text("one", "x.txt")
        with pytest.raises(ArtifactExistsError, match="never overwritten"):
            cairn.log_text("two", "x.txt")


def test_bad_artifact_input(project: Path) -> None:
    """Missing files and escaping names are refused with a message."""
    with cairn.run():
        with pytest.raises(InvalidInputError, match="no such file"):
            cairn.log_artifact(project / "missing.txt")
        with pytest.raises(InvalidInputError, match="relative path"):
            cairn.log_text("x", "../outside.txt")


def test_figures(project: Path) -> None:
    """matplotlib figures are stored as images and plotly figures as HTML."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import plotly.graph_objects as go

    fig, ax = plt.subplots()
    ax.plot([1, 2, 3])
    with cairn.run() as run:
        cairn.log_figure(fig, "curve.png")
        cairn.log_figure(go.Figure(data=[go.Scatter(y=[1, 3, 2])]), "curve")
    plt.close(fig)
    out = cairn.download_artifacts(run.id, dest=project / "figs")
    assert (out / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "plotly" in (out / "curve.html").read_text()
