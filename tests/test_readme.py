"""The README's code blocks run as written, after the fixture they need.

The python blocks run in order in one namespace, in a fresh project that holds what the text
assumes exists (a `customers` dataset with a `churned` target, a `train` function and
`new_rows` to score); the bash blocks then run in a shell in that project, `RUN_ID` replaced by
ids of the runs the python blocks made. The set-up blocks (a virtual environment and
`pip install`) are what `.ci/run` runs: the test checks that it runs them.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import cairn

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"```(python|bash)\n(.*?)```", README, flags=re.DOTALL)
SETUP_BLOCKS = [code for lang, code in BLOCKS if lang == "bash" and "pip install" in code]
RUN_BLOCKS = [(lang, code) for lang, code in BLOCKS if code not in SETUP_BLOCKS]


@pytest.fixture
def readme_world(project: Path, quiet_capture: None) -> dict[str, Any]:
    """A project with the `customers` dataset, and the names the README's code uses."""
    from sklearn.linear_model import LogisticRegression

    rows = 60
    customers = pd.DataFrame(
        {
            "tenure": [i % 37 for i in range(rows)],
            "monthly": [20.0 + (i * 7) % 50 for i in range(rows)],
            "churned": [int(i % 37 < 10) for i in range(rows)],
        }
    )
    customers.to_csv(project / "customers.csv", index=False)
    cairn.data.add(project / "customers.csv", name="customers")

    def train(features: pd.DataFrame, target: pd.Series) -> LogisticRegression:
        return LogisticRegression(max_iter=500).fit(features, target)

    new_rows = customers.drop(columns="churned").tail(3).reset_index(drop=True)
    return {"train": train, "new_rows": new_rows, "__name__": "readme"}


def test_the_readme_has_the_blocks_this_test_runs() -> None:
    """The README holds python and bash blocks to run, and the set-up blocks CI runs."""
    assert [lang for lang, _ in RUN_BLOCKS].count("python") >= 1
    assert [lang for lang, _ in RUN_BLOCKS].count("bash") >= 1
    assert len(SETUP_BLOCKS) >= 2


def test_the_readme_s_examples_run_as_written(readme_world: dict[str, Any], project: Path) -> None:
    """Every python block, then every bash block of the README runs without an error."""
    namespace = dict(readme_world)
    for lang, code in RUN_BLOCKS:
        if lang == "python":
            exec(compile(code, "README.md", "exec"), namespace)
    while cairn.active_run() is not None:
        cairn.end_run()
    # What the example promises: the champion predicts one label per new row.
    predictions = namespace["model"].predict(namespace["new_rows"])
    assert len(predictions) == len(namespace["new_rows"])
    assert namespace["model"].version == namespace["logged"].version
    run_ids = [r.id for r in cairn.tracking.find_runs(None, None, None, None)]
    assert len(run_ids) >= 2
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAIRN_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    for lang, code in RUN_BLOCKS:
        if lang != "bash":
            continue
        for line in code.strip().splitlines():
            command = line
            for run_id in run_ids:  # each RUN_ID in the line becomes another run's id
                command = command.replace("RUN_ID", run_id, 1)
            done = subprocess.run(
                ["bash", "-c", command],
                cwd=project,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert done.returncode == 0, (command, done.stdout, done.stderr)
            assert done.stdout.strip(), command


def test_ci_runs_the_readme_s_set_up_blocks() -> None:
    """The README's install commands are what .ci/run runs (the test command verbatim)."""
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    for block in SETUP_BLOCKS:
        for line in block.strip().splitlines():
            if line in ci:
                continue
            # The quickstart line: CI installs the same extra from a built wheel (to catch
            # files missing from it) and runs the same command in a fresh folder.
            extra = re.search(r"pip install -e '\.\[(\w+)\]'", line)
            assert extra is not None, line
            assert f"install -q '.[{extra[1]}]'" in ci, line
            for step in line.split(" && "):
                if "pip install" not in step:
                    assert step.replace("python3.11 -m venv .venv", "python3.11 -m venv") in ci, (
                        step
                    )
