"""``cairn build --output`` and symbolic links (decision 0011): an output named through a link
is the folder it names; a link to nothing, or a folder already holding a link, is refused with
a message and nothing is written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import cairn
from cairn.cli.build import build_command
from cairn.store import Store


def _exit_message(capsys: pytest.CaptureFixture[str], output: Path) -> str:
    """Run ``cairn build m/1 --output output``; assert it exits 1 cleanly; return stderr."""
    with pytest.raises(SystemExit) as exit_info:
        build_command("m/1", output, port=8000)
    out, err = capsys.readouterr()
    assert exit_info.value.code == 1 and "Traceback" not in out + err
    return " ".join(err.split())


def test_build_output_through_a_link(
    project: Path, store: Store, quiet_capture: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """The context is written into the empty folder a linked --output names (the link stays);
    a dangling link and a folder holding a link to elsewhere are refused, nothing written."""
    from sklearn.linear_model import LogisticRegression

    with cairn.run():
        cairn.log_model(LogisticRegression().fit(np.array([[0.0], [1.0]]), [0, 1]), "m")
    (project / "dangling").symlink_to(project / "missing")
    assert "does not exist; create that folder" in _exit_message(capsys, project / "dangling")
    outside = project / "outside"
    outside.mkdir()
    holding = project / "holding"
    holding.mkdir()
    (holding / "Dockerfile").symlink_to(outside / "Dockerfile")
    assert "not empty" in _exit_message(capsys, holding)
    assert not (project / "missing").exists() and list(outside.iterdir()) == []
    real = project / "real"
    real.mkdir()
    (project / "chosen").symlink_to(real, target_is_directory=True)
    build_command("m/1", project / "chosen", port=8000)
    assert (project / "chosen").is_symlink()
    assert {"Dockerfile", "serve.py", "model"} <= {p.name for p in real.iterdir()}
    assert [p.name for p in project.iterdir() if ".partial-" in p.name] == []
