"""Ctrl-C during commands that write: exit 130, one line on stderr, nothing partial left."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

import cairn
from cairn.data import list_datasets

SLOW_MODEL = '''
import time
from pathlib import Path

import cairn


class Slow(cairn.PythonModel):
    """Scoring more than the 3-row example: says it started, then takes longer than any test
    waits."""

    def predict(self, inputs):
        if len(inputs) > 3:
            Path("scoring-started").touch()
            time.sleep(60)
        return inputs["x"]
'''


def _env(project: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAIRN_")}
    env["PYTHONPATH"] = os.pathsep.join([str(project), env.get("PYTHONPATH", "")])
    return env


def _interrupt(proc: subprocess.Popen[str], ready: object) -> tuple[int, str]:
    """Wait until ``ready()`` holds, send SIGINT, and return (exit status, stderr)."""
    deadline = time.monotonic() + 60
    while not ready():  # type: ignore[operator]
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the command never got going"
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    return proc.returncode, err


def test_ctrl_c_during_predict_writes_nothing(
    project: Path, quiet_capture: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An interrupted cairn predict exits 130 with one line and leaves no output file."""
    (project / "slowmodel.py").write_text(SLOW_MODEL)
    monkeypatch.syspath_prepend(str(project))
    from slowmodel import Slow  # type: ignore[import-not-found]

    frame = pd.DataFrame({"x": [float(i) for i in range(10)]})
    with cairn.run():
        cairn.log_model(Slow(), "slow", input_example=frame.head(3))
    frame.to_parquet(project / "in.parquet", index=False)
    command = [sys.executable, "-m", "cairn", "predict", "models:/slow/1"]
    command += ["--input", "in.parquet", "--output", "out/scores.parquet"]
    with subprocess.Popen(
        command, cwd=project, env=_env(project), stderr=subprocess.PIPE, text=True
    ) as proc:
        code, err = _interrupt(proc, (project / "scoring-started").exists)
    assert code == 130, err
    assert err.strip().splitlines()[-1].startswith("interrupted: nothing was written to ")
    assert "Traceback" not in err
    assert not (project / "out").exists() or list((project / "out").iterdir()) == []
    [scoring] = [r for r in cairn.tracking.find_runs() if r.name.startswith("predict")]
    assert scoring.status == "killed"


def test_ctrl_c_during_data_add_adds_no_version(project: Path, quiet_capture: None) -> None:
    """An interrupted cairn data add exits 130 with one line and records no version."""
    cairn.data.add(_small(project), "other")  # the project exists, with its store
    big = project / "big" / "blob.bin"
    big.parent.mkdir()
    with open(big, "wb") as out:
        out.truncate(1 << 30)  # sparse: a gigabyte to hash, no disk used
    command = [sys.executable, "-m", "cairn", "data", "add", "big", "--name", "big"]

    def reading() -> bool:
        fds = Path(f"/proc/{proc.pid}/fd")
        try:
            return any(os.path.realpath(fd) == str(big) for fd in fds.iterdir())
        except OSError:
            return False

    with subprocess.Popen(
        command, cwd=project, env=_env(project), stderr=subprocess.PIPE, text=True
    ) as proc:
        code, err = _interrupt(proc, reading)
    assert code == 130
    assert err.strip().splitlines()[-1] == "interrupted: no version of big was added"
    assert "Traceback" not in err
    assert [d.name for d in list_datasets()] == ["other"]
    leftovers = [p for p in (project / ".cairn").rglob(".tmp-*")]
    assert leftovers == []


def _small(project: Path) -> Path:
    folder = project / "small"
    folder.mkdir()
    (folder / "a.txt").write_text("a\n")
    return folder
