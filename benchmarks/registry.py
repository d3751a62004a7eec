"""Model registry: cairn vs MLflow, side by side in one run.

Run ``.venv/bin/python benchmarks/registry.py [--quick]``. MLflow (the anchor) lives in its own
virtual environment, ``benchmarks/.venvs/mlflow`` (created on first use, shared with
``tracking.py``; scikit-learn is installed into it too), and is only ever run with that
environment's python, so it never constrains cairn's dependencies. Every measurement runs in a
fresh subprocess on a fresh local SQLite store under ``benchmarks/.work/``; workers are Python
source strings that report JSON on stdout.

Both tools get the same model: ``RandomForestClassifier(n_estimators=50, random_state=0)``
fitted on scikit-learn's breast-cancer data as a pandas DataFrame (569 rows, 30 float columns).

Figures:

- log_model: the wall time of the ``log_model`` statement alone (model fitted, run started,
  store created beforehand), with the first 5 rows as input example, registering version 1 of
  ``bench``. The first call in the process is the headline (no warm-up: that is what users
  meet, lazily imported flavor code included for both tools); a second call in the same
  process and run is a separate figure. cairn: ``cairn.log_model(model, "bench",
  input_example=...)`` in ``with cairn.run():``, implicit capture at its defaults. MLflow:
  ``mlflow.sklearn.log_model(model, name="model", registered_model_name="bench",
  input_example=...)`` (``artifact_path=`` before MLflow 3), in MLflow's default format; where
  that is skops, with ``skops_trusted_types=["sklearn.tree._tree.Tree"]``, without which MLflow
  refuses to log a random forest.
- first prediction: on a store set up beforehand (untimed: model registered, alias
  ``champion`` on version 1, the first 5 rows written to a CSV), the wall time, measured from
  outside, of a fresh ``python -c`` process that imports the library, loads
  ``models:/bench@champion``, reads the rows with pandas, predicts and prints the predictions.
  Two floors are printed: the same program without a tracker (the model saved with joblib,
  as cairn's sklearn flavor saves it, loaded straight from its file) and ``python -c pass``;
  MLflow over the first is the best ratio a registry could reach here. Before timing, one
  untimed round on a separate store per side warms the page cache and ``.pyc`` files.
  Predictions are checked against each other and against ``model.predict`` (a warning, not a
  failure).

Timed figures are medians over repeats (a fresh process and a fresh store each); the tools
take turns going first. Prints ``ratio <figure>: <N.NN>x (goal >= <G>x) PASS|FAIL`` and
``figure <name>: <value> <unit>`` lines; missing a goal is reported, not fatal, but a failing
subprocess exits non-zero. Until ``cairn.log_model`` exists, it prints ``cairn side
unavailable`` and runs MLflow's side alone.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

from _common import cairn_version, ensure_venv, fail, ratio
from _common import clean_env as common_clean_env

HERE = Path(__file__).resolve().parent
MLFLOW_VENV = HERE / ".venvs" / "mlflow"
MLFLOW_PY = MLFLOW_VENV / "bin" / "python"
WORK = HERE / ".work"
MARK = "@@RESULT@@"

# Shared by every worker: report one JSON object on a marked line (libraries may print too),
# and the same fitted model for both tools.
PRELUDE = f"""
import json, sys, time
def report(obj):
    print({MARK!r}, json.dumps(obj), flush=True)
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier
X, y = load_breast_cancer(as_frame=True, return_X_y=True)
model = RandomForestClassifier(n_estimators=50, random_state=0).fit(X, y)
example = X.head(5)
d = sys.argv[1]
"""

# Writes the rows the first-prediction programs read; reports what the model predicts on them.
WRITE_ROWS = """
example.to_csv(f"{d}/rows.csv", index=False)
expected = model.predict(example).tolist()
"""

CAIRN_LOG_MODEL = """
import cairn
with cairn.run():
    t = time.perf_counter()
    mv = cairn.log_model(model, "bench", input_example=example)
    first = time.perf_counter() - t
    t = time.perf_counter()
    mv2 = cairn.log_model(model, "bench", input_example=example)
    second = time.perf_counter() - t
report({"first": first, "second": second, "versions": [mv.version, mv2.version]})
"""

CAIRN_SETUP = (
    WRITE_ROWS
    + """
import cairn
with cairn.run():
    mv = cairn.log_model(model, "bench", input_example=example)
cairn.registry.set_alias("bench", "champion", mv.version)
report({"expected": expected, "version": mv.version})
"""
)

# sys.argv[2]: log_model's keyword arguments beyond the shared ones (see mlflow_kwargs).
MLFLOW_START = """
import mlflow
from mlflow.tracking import MlflowClient
mlflow.set_tracking_uri(f"sqlite:///{d}/mlflow.db")
client = MlflowClient()
exp = client.create_experiment("bench", artifact_location=f"file://{d}/artifacts")
kwargs = json.loads(sys.argv[2])
"""

MLFLOW_LOG_MODEL = (
    MLFLOW_START
    + """
with mlflow.start_run(experiment_id=exp):
    t = time.perf_counter()
    mlflow.sklearn.log_model(model, registered_model_name="bench", input_example=example, **kwargs)
    first = time.perf_counter() - t
    t = time.perf_counter()
    mlflow.sklearn.log_model(model, registered_model_name="bench", input_example=example, **kwargs)
    second = time.perf_counter() - t
versions = sorted(int(v.version) for v in client.search_model_versions("name='bench'"))
report({"first": first, "second": second, "versions": versions})
"""
)

MLFLOW_SETUP = (
    MLFLOW_START
    + WRITE_ROWS
    + """
with mlflow.start_run(experiment_id=exp):
    mlflow.sklearn.log_model(model, registered_model_name="bench", input_example=example, **kwargs)
version = max(int(v.version) for v in client.search_model_versions("name='bench'"))
client.set_registered_model_alias("bench", "champion", version)
report({"expected": expected, "version": version})
"""
)

# The timed programs: nothing but what a user's first prediction needs (sys.argv[1]: the store).
CAIRN_PREDICT = f"""
import json, sys
import cairn
import numpy as np
import pandas as pd
m = cairn.load_model("models:/bench@champion")
rows = pd.read_csv(sys.argv[1] + "/rows.csv")
print({MARK!r}, json.dumps(np.asarray(m.predict(rows)).ravel().tolist()))
"""

MLFLOW_PREDICT = f"""
import json, sys
import mlflow
import numpy as np
import pandas as pd
mlflow.set_tracking_uri(f"sqlite:///{{sys.argv[1]}}/mlflow.db")
m = mlflow.pyfunc.load_model("models:/bench@champion")
rows = pd.read_csv(sys.argv[1] + "/rows.csv")
print({MARK!r}, json.dumps(np.asarray(m.predict(rows)).ravel().tolist()))
"""

# No tracker: the same model saved with joblib (as cairn's sklearn flavor saves it) and loaded
# straight from the file, with cairn's interpreter. What a registry's loader could at best cost.
FLOOR_SETUP = (
    WRITE_ROWS
    + """
import joblib
joblib.dump(model, f"{d}/model.joblib")
report({"expected": expected})
"""
)

FLOOR_PREDICT = f"""
import json, sys
import joblib
import numpy as np
import pandas as pd
m = joblib.load(sys.argv[1] + "/model.joblib")
rows = pd.read_csv(sys.argv[1] + "/rows.csv")
print({MARK!r}, json.dumps(np.asarray(m.predict(rows)).ravel().tolist()))
"""

CAIRN_PROBE = "import cairn; cairn.log_model; cairn.load_model; cairn.registry.set_alias"


def clean_env(**extra: str) -> dict[str, str]:
    """The parent's environment without cairn, MLflow or virtualenv settings, plus ``extra``."""
    return common_clean_env("MLFLOW_", **extra)


def result(what: str, proc: subprocess.CompletedProcess[str]) -> Any:
    """The JSON a finished process printed on its marked line; exit if it failed."""
    if proc.returncode != 0:
        fail(what, proc)
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(MARK):
            return json.loads(line[len(MARK) :])
    fail(f"{what} (no result line)", proc)
    return None


def worker(python: Path | str, code: str, *args: str, cwd: Path, env: dict[str, str]) -> Any:
    """Run ``code`` with ``python`` in a fresh process and return the JSON it reports."""
    proc = subprocess.run(
        [str(python), "-c", PRELUDE + code, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    return result(f"worker in {python}", proc)


@contextmanager
def scratch() -> Iterator[Path]:
    """A fresh folder under ``benchmarks/.work``, removed afterwards."""
    WORK.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix="registry-", dir=WORK))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


class Tool:
    """How to run one side: its interpreter, environment and worker sources."""

    def __init__(
        self, name: str, python: Path | str, code: tuple[str, str, str], *extra_args: str
    ) -> None:
        self.name, self.python, self.extra_args = name, python, extra_args
        self.log_model_code, self.setup_code, self.predict_code = code

    def env(self, home: Path) -> dict[str, str]:
        return clean_env()

    def run(self, code: str, home: Path) -> Any:
        return worker(self.python, code, str(home), *self.extra_args, cwd=home, env=self.env(home))

    def log_model(self, home: Path) -> Any:
        return self.run(self.log_model_code, home)

    def setup(self, home: Path) -> Any:
        return self.run(self.setup_code, home)

    def first_prediction(self, home: Path) -> tuple[float, list[Any]]:
        """Wall time of a fresh process from spawn to exit, and the predictions it printed."""
        cmd = [str(self.python), "-c", self.predict_code, str(home)]
        env = self.env(home)
        t = time.perf_counter()
        proc = subprocess.run(cmd, cwd=home, env=env, capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - t
        return seconds, result(f"first prediction with {self.python}", proc)


class CairnTool(Tool):
    def env(self, home: Path) -> dict[str, str]:
        (home / ".cairn").mkdir(exist_ok=True)  # makes ``home`` the project root
        return clean_env(CAIRN_HOME=str(home / ".cairn"))


def ensure_mlflow() -> str:
    """Create the anchor's virtual environment on first use; return MLflow's version."""
    return ensure_venv(MLFLOW_VENV, ["mlflow", "scikit-learn"], "mlflow")


def mlflow_kwargs() -> dict[str, Any]:
    """The keywords this MLflow's ``mlflow.sklearn.log_model`` needs beyond the shared ones.

    The model is named with ``name=`` from MLflow 3 (``artifact_path=`` before). Where MLflow
    saves with skops by default, it refuses a random forest unless its tree type is trusted
    (it says so and names the keyword): the default format is kept, with that type trusted.
    """
    code = "import inspect, mlflow.sklearn as s; print(*inspect.signature(s.log_model).parameters)"
    proc = subprocess.run([str(MLFLOW_PY), "-c", code], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        fail("mlflow.sklearn.log_model signature probe", proc)
    params = proc.stdout.split()
    kwargs: dict[str, Any] = {"name" if "name" in params else "artifact_path": "model"}
    if "skops_trusted_types" in params:
        kwargs["skops_trusted_types"] = ["sklearn.tree._tree.Tree"]
    return kwargs


def anchor_version(package: str) -> str:
    code = f"import importlib.metadata as m; print(m.version({package!r}))"
    proc = subprocess.run([str(MLFLOW_PY), "-c", code], capture_output=True, text=True, check=False)
    return proc.stdout.strip() or "?"


def cairn_available() -> bool:
    """Whether this cairn has the registry API (probed in a fresh process)."""
    proc = subprocess.run(
        [sys.executable, "-c", CAIRN_PROBE],
        capture_output=True,
        text=True,
        env=clean_env(),
        check=False,
    )
    return proc.returncode == 0


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def runs_text(values: list[float]) -> str:
    return ", ".join(f"{v * 1000:.0f}" for v in values)


def figure(name: str, values: list[float], note: str = "") -> float:
    """Print one tool's figure (median and every run, in ms); return the median in seconds."""
    median = statistics.median(values)
    print(f"figure {name}: {ms(median)}  (runs, ms: {runs_text(values)}){note}")
    return median


def turns(tools: list[Tool], rep: int) -> list[Tool]:
    """The tools in the order they go in repeat ``rep``: they take turns going first."""
    return tools if rep % 2 == 0 else tools[::-1]


def bench_log_model(tools: list[Tool], repeats: int) -> None:
    """log_model's first and second call in a process, each repeat on fresh stores."""
    first: dict[str, list[float]] = {t.name: [] for t in tools}
    second: dict[str, list[float]] = {t.name: [] for t in tools}
    for rep in range(repeats):
        for tool in turns(tools, rep):
            with scratch() as d:
                out = tool.log_model(d)
            first[tool.name].append(out["first"])
            second[tool.name].append(out["second"])
            if out["versions"] != [1, 2]:
                print(f"  WARNING: {tool.name} registered versions {out['versions']}, not [1, 2]")
    medians = {}
    for tool in tools:
        medians[tool.name] = figure(f"log-model-first-{tool.name}", first[tool.name])
        figure(f"log-model-second-{tool.name}", second[tool.name])
    if "cairn" in medians:
        ratio("log-model-vs-mlflow", medians["mlflow"], medians["cairn"], 10)
        s_c, s_m = statistics.median(second["cairn"]), statistics.median(second["mlflow"])
        print(f"figure log-model-second-mlflow-over-cairn: {s_m / s_c:.1f}x")


def python_startup(repeats: int) -> list[float]:
    """Wall time of ``python -c pass`` (cairn's interpreter), after one warm-up."""
    times = []
    with scratch() as d:
        for i in range(repeats + 1):
            t = time.perf_counter()
            proc = subprocess.run(
                [sys.executable, "-c", "pass"],
                cwd=d,
                env=clean_env(),
                capture_output=True,
                check=False,
            )
            if i > 0:
                times.append(time.perf_counter() - t)
            if proc.returncode != 0:
                sys.exit("error: python -c pass failed")
    return times


def bench_first_prediction(tools: list[Tool], repeats: int) -> None:
    """Process start to first prediction through ``models:/bench@champion``, and the floors."""
    floor = Tool("floor", sys.executable, ("", FLOOR_SETUP, FLOOR_PREDICT))
    everyone = [*tools, floor]
    for tool in everyone:  # untimed warm-up: page cache and .pyc files for every side
        with scratch() as d:
            tool.setup(d)
            tool.first_prediction(d)
    times: dict[str, list[float]] = {t.name: [] for t in everyone}
    predictions: dict[str, list[Any]] = {}
    for rep in range(repeats):
        for tool in turns(everyone, rep):
            with scratch() as d:
                out = tool.setup(d)
                seconds, preds = tool.first_prediction(d)
            times[tool.name].append(seconds)
            predictions.setdefault(tool.name, preds)
            if preds != out["expected"]:
                print(
                    f"  WARNING: {tool.name} predicted {preds} through the alias, "
                    f"model.predict gave {out['expected']}"
                )
    startup = python_startup(max(repeats, 3))
    medians = {t.name: figure(f"first-prediction-{t.name}", times[t.name]) for t in tools}
    figure(
        "first-prediction-floor",
        times["floor"],
        note="  (no tracker: joblib.load of the model file, same program otherwise)",
    )
    figure("python-startup", startup, note="  (python -c pass)")
    if "cairn" in medians:
        ratio("first-prediction-vs-mlflow", medians["mlflow"], medians["cairn"], 3)
    best = medians["mlflow"] / statistics.median(times["floor"])
    print(f"figure first-prediction-mlflow-over-floor: {best:.1f}x  (the best ratio possible)")
    if len({json.dumps(p) for p in predictions.values()}) > 1:
        print(f"  WARNING: predictions differ: {predictions}")
    print(f"  predictions on the first 5 rows: {predictions}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one repeat")
    quick = parser.parse_args().quick
    repeats = 1 if quick else 5

    mlflow_version = ensure_mlflow()
    kwargs = mlflow_kwargs()
    code = (MLFLOW_LOG_MODEL, MLFLOW_SETUP, MLFLOW_PREDICT)
    tools = [Tool("mlflow", MLFLOW_PY, code, json.dumps(kwargs))]
    has_cairn = cairn_available()
    if has_cairn:
        code = (CAIRN_LOG_MODEL, CAIRN_SETUP, CAIRN_PREDICT)
        tools.insert(0, CairnTool("cairn", sys.executable, code))

    print("# registry: cairn vs MLflow" + (" (--quick)" if quick else ""))
    print(f"# machine: {platform.machine()}, {os.cpu_count()} cores, {platform.platform()}")
    print(
        f"# cairn {cairn_version()} on Python {platform.python_version()} "
        f"(scikit-learn {metadata.version('scikit-learn')}, pandas {metadata.version('pandas')}); "
        f"MLflow {mlflow_version} ({MLFLOW_PY}; scikit-learn {anchor_version('scikit-learn')}, "
        f"pandas {anchor_version('pandas')})"
    )
    print(f"# mlflow.sklearn.log_model keywords beyond the shared ones: {kwargs}")
    print(
        "# model: RandomForestClassifier(n_estimators=50) on breast cancer (569 x 30 DataFrame); "
        f"{repeats} repeat(s), medians",
        flush=True,
    )
    if not has_cairn:
        print("cairn side unavailable (cairn.log_model, cairn.load_model or registry missing)")
    bench_log_model(tools, repeats)
    bench_first_prediction(tools, repeats)


if __name__ == "__main__":
    main()
