"""cairn quickstart --loop shows the closed loop with real processes: drift, alert, retraining,
promotion and the server's swap, with no request failing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import cairn
from cairn import loop, monitoring, registry
from cairn.cli._quickstart_loop import ALERT, MODEL


@pytest.fixture(scope="module")
def tour(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The loop tour run once in a fresh folder: the project and what it printed."""
    where = tmp_path_factory.mktemp("quickstart-loop")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAIRN_")}
    done = subprocess.run(
        [sys.executable, "-m", "cairn", "quickstart", "--loop", "demo"],
        cwd=where,
        env={**env, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    return where / "demo", done.stdout


def test_the_loop_tour_alerts_retrains_promotes_and_swaps(tour: tuple[Path, str]) -> None:
    """The tour prints the alert, the promotion and no failed request; the store agrees."""
    demo, output = tour
    assert f"alert #1 {ALERT}" in output
    assert f"{MODEL}@champion -> version 2" in output
    assert ", 0 failed" in output
    assert "the client got its first answer from wine/2" in output
    assert "$ cairn models history wine" in output and "next" in output
    cairn.configure(root=str(demo))
    assert registry.get_model(MODEL).aliases["champion"] == 2
    promoted = [r for r in loop.list_retrainings(MODEL) if r.state == "promoted"]
    assert len(promoted) == 1
    [done] = promoted
    assert done.challenger == 2 and done.champion == 1 and done.dataset_version == "wine@v2"
    assert done.trigger_kind == "alert"
    assert done.alert_id in {a.id for a in monitoring.list_alerts(MODEL)}
    assert (demo / "scheduler.log").is_file()


def test_the_loop_tour_refuses_a_folder_with_something_in_it(tmp_path: Path) -> None:
    """A non-empty folder is refused with a message saying to pick a fresh one."""
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAIRN_")}
    done = subprocess.run(
        [sys.executable, "-m", "cairn", "quickstart", "--loop", "busy"],
        cwd=tmp_path,
        env={**env, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert "is not empty" in done.stdout + done.stderr
    assert sorted(p.name for p in (tmp_path / "busy").iterdir()) == ["notes.txt"]
