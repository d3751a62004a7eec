"""How fast the ``cairn`` command answers, process start included (goal: <= 300 ms each).

Times ``cairn --help``, ``cairn --version``, ``cairn runs ls`` on a store of 1,000 runs,
``cairn models ls`` and ``cairn data ls`` (a project with 3 models and 3 datasets), each as a
fresh process from the main environment, medians of 10 (``--quick``: 3) after one untimed
warm-up; and, as references, ``dvc --version`` and ``mlflow --version`` from their own anchor
environments under ``benchmarks/.venvs/`` (created on first use). Output goes to a pipe, as in
a script. Prints ``figure cli-<name>: <ms> ms`` lines and a PASS/FAIL verdict against 300 ms.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _common import HERE, clean_env, ensure_venv, run_worker, scratch

GOAL_MS = 300.0
RUNS = 1_000
CAIRN = Path(sys.executable).parent / "cairn"

SETUP = """
import json, sys
import numpy as np, pandas as pd
import cairn
from sklearn.linear_model import LogisticRegression

root = sys.argv[1]
for i in range({runs}):
    with cairn.run(params={{"lr": 0.001 * (i + 1), "depth": i % 7, "optimizer": "adam"}}):
        cairn.log({{"loss": 1.0 / (i + 1), "accuracy": 0.5 + i / (4 * {runs})}})
x = pd.DataFrame({{"a": np.arange(40.0), "b": np.arange(40.0) % 3}})
y = (x["a"] > 20).astype(int)
for name in ("churn", "fraud", "upsell"):
    with cairn.run():
        cairn.log_model(LogisticRegression().fit(x, y), name, input_example=x.head(5))
for i, name in enumerate(("customers", "orders", "events")):
    path = f"{{root}}/{{name}}.csv"
    x.assign(i=i).to_csv(path, index=False)
    cairn.data.add(path, name=name, owner="bench")
print("@@RESULT@@" + json.dumps({{"runs": len(cairn.search_runs(limit=100_000))}}))
"""


def timed(command: list[str], cwd: Path, env: dict[str, str], repeats: int) -> list[float]:
    """Wall-clock seconds of ``command`` run ``repeats`` times after one untimed warm-up."""
    times = []
    for i in range(repeats + 1):
        started = time.perf_counter()
        proc = subprocess.run(
            command, cwd=cwd, env=env, capture_output=True, text=True, check=False
        )
        took = time.perf_counter() - started
        if proc.returncode != 0:
            print(f"error: {' '.join(command)} exited {proc.returncode}", file=sys.stderr)
            print(proc.stdout[-2000:], proc.stderr[-4000:], file=sys.stderr)
            sys.exit(1)
        if i:
            times.append(took)
    return times


def figure(name: str, times: list[float], goal: bool) -> None:
    """Print the median (and every run) in ms, with the verdict where 300 ms is the goal."""
    median = statistics.median(times) * 1000
    runs = ", ".join(f"{t * 1000:.0f}" for t in times)
    verdict = f" (goal <= {GOAL_MS:g} ms) {'PASS' if median <= GOAL_MS else 'FAIL'}" if goal else ""
    print(f"figure cli-{name}: {median:.0f} ms{verdict}  (runs, ms: {runs})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="3 repeats instead of 10")
    repeats = 3 if parser.parse_args().quick else 10
    dvc = ensure_venv(HERE / ".venvs" / "dvc", ["dvc"], "dvc")
    mlflow = ensure_venv(HERE / ".venvs" / "mlflow", ["mlflow", "scikit-learn"], "mlflow")
    print(f"references: dvc {dvc}, mlflow {mlflow}; {repeats} repeats, medians")
    with scratch("cli-") as root:
        env = clean_env(
            "DVC_", "MLFLOW_", CAIRN_HOME=str(root / ".cairn"), COLUMNS="120", NO_COLOR="1"
        )
        setup_env = env | {
            f"CAIRN_CAPTURE__{switch}": "false"
            for switch in ("GIT", "ENVIRONMENT", "PACKAGES", "OUTPUT", "SYSTEM_METRICS")
        }
        made = run_worker(
            sys.executable, SETUP.format(runs=RUNS), str(root), cwd=root, env=setup_env
        )
        assert made["runs"] >= RUNS, made
        for name, args in [
            ("help", ["--help"]),
            ("version", ["--version"]),
            ("runs-ls", ["runs", "ls"]),
            ("models-ls", ["models", "ls"]),
            ("data-ls", ["data", "ls"]),
        ]:
            figure(name, timed([str(CAIRN), *args], root, env, repeats), goal=True)
        for name, venv in [("dvc", "dvc"), ("mlflow", "mlflow")]:
            tool = HERE / ".venvs" / venv / "bin" / name
            figure(f"{name}-version", timed([str(tool), "--version"], root, env, repeats), False)


if __name__ == "__main__":
    main()
