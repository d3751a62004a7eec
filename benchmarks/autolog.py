"""Autologging: the wall time cairn's autolog adds to a training, against ``mlflow.autolog()``.

Run ``.venv/bin/python benchmarks/autolog.py [--quick] [--repeat N]``. MLflow (the anchor)
lives in its own virtual environment, ``benchmarks/.venvs/mlflow`` (created on first use, shared
with ``tracking.py`` and ``registry.py``); LightGBM and scikit-learn are installed into it at the
versions cairn's environment has, so both sides train exactly the same thing. It is only ever run
with that environment's python, so it never constrains cairn's dependencies.

Workloads (the same code on both sides, numpy arrays from a fixed seed, one thread):

- ``lightgbm``: ``lgb.train`` binary, 1,000 iterations, ``num_leaves=31``,
  ``learning_rate=0.05``, ``num_threads=1``, ``verbose=-1`` on 5,000 x 20 rows, with a
  1,000-row validation set as eval set (no early stopping).
- ``gridsearch``: ``GridSearchCV(DecisionTreeClassifier(), 24 candidates, cv=3, n_jobs=1)`` on
  500 x 20 rows (72 fits and the refit).
- ``sklearn-fit``: ``LogisticRegression(max_iter=500).fit`` on 500 x 20 rows, timed 5 times in
  a process (each fit its own run), the median kept.
- ``sklearn-fit-in-run``: the same fits inside an active run (cairn: each a child run of it,
  which captures nothing of its own; MLflow: logged to the active run itself).

Every measurement is a fresh worker process with a fresh store in a fresh scratch folder (cairn:
its project there, ``CAIRN_HOME=<tmp>/.cairn``, SQLite, implicit capture at its defaults;
MLflow: ``sqlite:///<tmp>/mlflow.db``, artifacts under ``<tmp>/artifacts``, telemetry off). The
worker imports the tool and the framework and turns autolog on (``cairn.autolog()``,
``mlflow.autolog()``, both ``log_models=True`` unless said) before any timing, then trains once
on a tiny version of the workload (untimed warm-up: first-use imports, and store creation,
are left out for both tools), then times the real training: the run's start and end and the
model's saving are inside the timed region, since autolog does them inside the training call.
The baseline is the same worker without autolog, in the same environment. Extra time is
median(with autolog) - median(without); the tools and the modes take turns going first.

Prints ``ratio autolog-overhead-vs-mlflow: <N.NN>x (goal >= 5x) PASS|FAIL`` (MLflow's extra
time over cairn's, summed over the LightGBM training and the grid search), and ``figure``
lines: each workload's times and extra per tool, ``autolog-overhead-lightgbm`` (cairn's extra
as a share of the training, goal <= 5 %), ``autolog-overhead-sklearn-fit-ms`` (a small fit with
``log_models=False``, goal <= 20 ms) and the same with the model saved. What each tool logged
in the timed training is printed too (runs, params, metric points, artifacts), so the work
compared is visible. Missing a goal is reported, not fatal; a failing worker exits non-zero.
When cairn's integration for a framework is not ``patched`` after the import (the module
missing, or patching failed), an ``ERROR:`` line says so and that workload's cairn figures are
left out.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from _common import WORKER_HELPERS, cairn_version, ensure_venv, fail, ratio_line, run_worker
from _common import clean_env as common_clean_env
from _common import scratch as common_scratch

HERE = Path(__file__).resolve().parent
MLFLOW_VENV = HERE / ".venvs" / "mlflow"
MLFLOW_PY = MLFLOW_VENV / "bin" / "python"
PINNED = ("scikit-learn", "lightgbm")  # installed into the anchor at cairn's versions

# The worker: sys.argv[1] is its JSON configuration (tool, workload, autolog, log_models,
# sizes, dir). It reports the timed seconds and, with autolog, what the timed training logged.
WORKER = (
    WORKER_HELPERS
    + """
cfg = json.loads(sys.argv[1])
tool, work, d = cfg["tool"], cfg["workload"], cfg["dir"]
on, log_models = cfg["autolog"], cfg["log_models"]
import numpy as np
if tool == "cairn":
    import cairn
    import cairn.integrations
    if on:
        cairn.autolog(log_models=log_models)
else:
    import mlflow
    from mlflow.tracking import MlflowClient
    mlflow.set_tracking_uri(f"sqlite:///{d}/mlflow.db")
    client = MlflowClient()
    if on:
        exp = client.create_experiment("bench", artifact_location=f"file://{d}/artifacts")
        mlflow.set_experiment(experiment_id=exp)
        mlflow.autolog(log_models=log_models)

def make_data(rows, cols=20, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, cols))
    w = rng.normal(size=cols)
    y = (X @ w + rng.normal(size=rows) > 0).astype(np.int64)
    return X, y

if work == "lightgbm":
    import lightgbm as lgb
    framework = "lightgbm"
    X, y = make_data(cfg["rows"] + cfg["valid_rows"])
    Xt, yt, Xv, yv = X[: cfg["rows"]], y[: cfg["rows"]], X[cfg["rows"] :], y[cfg["rows"] :]
    params = {"objective": "binary", "num_leaves": 31, "learning_rate": 0.05,
              "num_threads": 1, "verbose": -1, "seed": 0}
    def train(tiny):
        rows, rounds = (200, 5) if tiny else (cfg["rows"], cfg["iterations"])
        dtrain = lgb.Dataset(Xt[:rows], yt[:rows])
        dvalid = lgb.Dataset(Xv, yv, reference=dtrain)
        return lgb.train(params, dtrain, num_boost_round=rounds, valid_sets=[dvalid],
                         valid_names=["valid"])
else:
    import sklearn
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV
    from sklearn.tree import DecisionTreeClassifier
    framework = "sklearn"
    X, y = make_data(cfg["sk_rows"])
    grid = {"max_depth": [2, 3, 4, 6, 8, None], "min_samples_leaf": [1, 2, 5, 10]}
    def train(tiny):
        if work.startswith("sklearn-fit"):
            return LogisticRegression(max_iter=500).fit(X, y)
        if tiny:
            search = GridSearchCV(DecisionTreeClassifier(random_state=0),
                                  {"max_depth": [2, 3]}, cv=2, n_jobs=1)
            return search.fit(X[:100], y[:100])
        search = GridSearchCV(DecisionTreeClassifier(random_state=0), grid, cv=3, n_jobs=1)
        return search.fit(X, y)

def run_ids():
    if tool == "cairn":
        from cairn.tracking import find_runs
        return [(r.id, r.parent_id) for r in find_runs()]  # newest first
    runs = client.search_runs([exp], max_results=50000, order_by=["attributes.start_time DESC"])
    return [(r.info.run_id, r.data.tags.get("mlflow.parentRunId")) for r in runs]

def models():
    if tool == "cairn":
        return None  # cairn's models are artifacts of their run (listed there)
    return len(client.search_logged_models(experiment_ids=[exp]))

if work == "sklearn-fit-in-run":  # the fits log to child runs of this one (cairn) or to it
    cairn.start_run() if tool == "cairn" else mlflow.start_run()
train(tiny=True)  # warm-up: first-use imports and store creation, untimed for both tools
status = cairn.integrations.autolog_status()[framework] if tool == "cairn" and on else None
before = run_ids() if on else []
models_before = models() if on else None
times = []
for _ in range(cfg["inner"] if work.startswith("sklearn-fit") else 1):
    gc.collect()
    t = time.perf_counter()
    train(tiny=False)
    times.append(time.perf_counter() - t)
out = {"seconds": sorted(times)[len(times) // 2], "times": times, "status": status}
if on:  # what the (last) timed training logged, read back untimed
    after = run_ids()
    top = next(r for r, parent in after if parent is None)
    if tool == "cairn":
        rec = cairn.get_run(top)
        out["logged"] = {
            "runs": len(after) - len(before), "status": rec.status, "params": len(rec.params),
            "points": sum(len(h) for h in rec.metric_history.values()),
            "artifacts": sorted(a.path for a in rec.artifacts),
            "failures": sum(cairn.integrations.failures().values()),
        }
    else:
        run = client.get_run(top)
        keys = list(run.data.metrics)
        out["logged"] = {
            "runs": len(after) - len(before), "status": run.info.status,
            "params": len(run.data.params),
            "points": sum(len(client.get_metric_history(top, k)) for k in keys),
            "artifacts": sorted(a.path for a in client.list_artifacts(top)),
            "models": models() - models_before,
        }
report(out)
"""
)

WORKLOADS = ("lightgbm", "gridsearch", "sklearn-fit", "sklearn-fit-in-run")
FRAMEWORK = {
    "lightgbm": "lightgbm",
    "gridsearch": "sklearn",
    "sklearn-fit": "sklearn",
    "sklearn-fit-in-run": "sklearn",
}


def clean_env(**extra: str) -> dict[str, str]:
    """The parent's environment without cairn, MLflow or virtualenv settings, plus ``extra``."""
    return common_clean_env("MLFLOW_", **extra)


def ensure_mlflow() -> str:
    """Create the anchor's environment on first use, with scikit-learn and LightGBM at cairn's
    versions (reinstalled where they differ); return MLflow's version."""
    pins = [f"{name}=={metadata.version(name)}" for name in PINNED]
    version = ensure_venv(MLFLOW_VENV, ["mlflow", *pins], "mlflow")
    if anchor_versions() != {n: metadata.version(n) for n in PINNED}:
        print(f"installing {', '.join(pins)} into {MLFLOW_VENV} (cairn's versions)...")
        proc = run_anchor("-m", "pip", "install", "--quiet", *pins)
        if proc.returncode != 0:
            fail(f"pip install {' '.join(pins)}", proc)
        if anchor_versions() != {n: metadata.version(n) for n in PINNED}:
            sys.exit(f"error: {MLFLOW_VENV} still has {anchor_versions()}, not {pins}")
    return version


def run_anchor(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the anchor's python with ``args``, output captured."""
    return subprocess.run([str(MLFLOW_PY), *args], capture_output=True, text=True, check=False)


def anchor_versions() -> dict[str, str]:
    """The versions of ``PINNED`` in the anchor's environment."""
    code = (
        "import importlib.metadata as m, json; "
        f"print(json.dumps({{n: m.version(n) for n in {list(PINNED)!r}}}))"
    )
    proc = run_anchor("-c", code)
    if proc.returncode != 0:
        fail("version probe in the MLflow environment", proc)
    return dict(json.loads(proc.stdout))


def measure(tool: str, workload: str, sizes: dict[str, int], on: bool, log_models: bool) -> Any:
    """One fresh worker process on a fresh store: the timed training and what it logged."""
    with common_scratch("autolog-") as d:
        cfg = {"tool": tool, "workload": workload, "dir": str(d), "autolog": on}
        cfg.update(sizes, log_models=log_models)
        if tool == "cairn":
            (d / ".cairn").mkdir()  # makes ``d`` the project root
            env = clean_env(CAIRN_HOME=str(d / ".cairn"))
            return run_worker(sys.executable, WORKER, json.dumps(cfg), cwd=d, env=env)
        env = clean_env(MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="1")
        return run_worker(MLFLOW_PY, WORKER, json.dumps(cfg), cwd=d, env=env)


# The measurements of each workload: (label, autolog on, log_models).
MODES = {
    "lightgbm": [("off", False, True), ("on", True, True)],
    "gridsearch": [("off", False, True), ("on", True, True)],
    "sklearn-fit": [("off", False, True), ("on-no-models", True, False), ("on", True, True)],
    "sklearn-fit-in-run": [("off", False, True), ("on-no-models", True, False)],
}


def collect(sizes: dict[str, int], repeats: int) -> dict[tuple[str, str, str], list[Any]]:
    """Every (tool, workload, mode) measured ``repeats`` times, the order rotating."""
    results: dict[tuple[str, str, str], list[Any]] = {}
    for rep in range(repeats):
        for workload in WORKLOADS:
            modes = MODES[workload] if rep % 2 == 0 else MODES[workload][::-1]
            tools = ["cairn", "mlflow"] if rep % 2 == 0 else ["mlflow", "cairn"]
            for label, on, log_models in modes:
                for tool in tools:
                    out = measure(tool, workload, sizes, on, log_models)
                    results.setdefault((tool, workload, label), []).append(out)
            print(f"# repeat {rep + 1}/{repeats}: {workload} done", flush=True)
    return results


def median(runs: list[Any]) -> float:
    """The median of the workers' timed seconds."""
    return float(statistics.median(r["seconds"] for r in runs))


def seconds_text(runs: list[Any]) -> str:
    """Every run's seconds, as printed after a figure."""
    return ", ".join(f"{r['seconds']:.3f}" for r in runs)


def unpatched(results: dict[tuple[str, str, str], list[Any]], workload: str) -> str | None:
    """Why cairn's side of ``workload`` logged nothing (its framework not patched), or None."""
    for (tool, work, label), runs in results.items():
        if tool == "cairn" and work == workload and label != "off":
            for r in runs:
                if r["status"] != "patched":
                    return str(r["status"])
    return None


def report(results: dict[tuple[str, str, str], list[Any]]) -> None:
    """Print the figures and ratios."""
    extra: dict[tuple[str, str], float] = {}
    broken = {w: unpatched(results, w) for w in WORKLOADS}
    for workload, why in broken.items():
        if why is not None:
            print(
                f"ERROR: cairn's autolog did not patch {FRAMEWORK[workload]} "
                f"(autolog_status: {why!r}): its {workload} figures are left out"
            )
    for workload in WORKLOADS:
        for tool in ("cairn", "mlflow"):
            base = median(results[(tool, workload, "off")])
            print(
                f"figure {workload}-without-autolog-{tool}-env: {base:.3f} s  "
                f"(runs: {seconds_text(results[(tool, workload, 'off')])})"
            )
            for label, _, log_models in MODES[workload][1:]:
                runs = results[(tool, workload, label)]
                with_ = median(runs)
                more = with_ - base
                extra[(tool, f"{workload}-{label}")] = more
                note = "" if log_models else ", log_models=False"
                print(
                    f"figure {workload}-autolog-{tool}{'' if log_models else '-no-models'}: "
                    f"{with_:.3f} s, extra {more * 1000:.1f} ms ({more / base * 100:.1f} %)  "
                    f"(runs: {seconds_text(runs)}{note})"
                )
                logged = dict(runs[-1].get("logged", {}))
                print(f"#   logged by {tool} ({workload}, {label}): {json.dumps(logged)}")
                if tool == "cairn" and logged.get("failures"):
                    print(f"  WARNING: cairn counted {logged['failures']} autolog failure(s)")

    cairn_ok = {w: broken[w] is None for w in WORKLOADS}
    if cairn_ok["lightgbm"]:
        base = median(results[("cairn", "lightgbm", "off")])
        share = extra[("cairn", "lightgbm-on")] / base * 100
        verdict = "PASS" if share <= 5 else "FAIL"
        print(f"figure autolog-overhead-lightgbm: {share:.1f} % (goal <= 5 %) {verdict}")
    if cairn_ok["sklearn-fit"]:
        fit = extra[("cairn", "sklearn-fit-on-no-models")] * 1000
        verdict = "PASS" if fit <= 20 else "FAIL"
        print(f"figure autolog-overhead-sklearn-fit-ms: {fit:.1f} ms (goal <= 20 ms) {verdict}")
        fit_model = extra[("cairn", "sklearn-fit-on")] * 1000
        print(f"figure autolog-overhead-sklearn-fit-with-model-ms: {fit_model:.1f} ms")
    if cairn_ok["sklearn-fit-in-run"]:
        fit = extra[("cairn", "sklearn-fit-in-run-on-no-models")] * 1000
        verdict = "PASS" if fit <= 20 else "FAIL"
        print(
            f"figure autolog-overhead-sklearn-fit-in-run-ms: {fit:.1f} ms (goal <= 20 ms) {verdict}"
        )
        mlflow_fit = extra[("mlflow", "sklearn-fit-in-run-on-no-models")] * 1000
        print(f"figure autolog-overhead-sklearn-fit-in-run-ms-mlflow: {mlflow_fit:.1f} ms")
    for label, key in (("", "sklearn-fit-on-no-models"), ("-with-model", "sklearn-fit-on")):
        print(
            f"figure autolog-overhead-sklearn-fit{label}-ms-mlflow: "
            f"{extra[('mlflow', key)] * 1000:.1f} ms"
        )
    for workload in ("lightgbm", "gridsearch"):
        if cairn_ok[workload]:
            c, m = extra[("cairn", f"{workload}-on")], extra[("mlflow", f"{workload}-on")]
            print(f"figure autolog-extra-{workload}-mlflow-over-cairn: {m / c:.1f}x")
    if cairn_ok["lightgbm"] and cairn_ok["gridsearch"]:
        c = extra[("cairn", "lightgbm-on")] + extra[("cairn", "gridsearch-on")]
        m = extra[("mlflow", "lightgbm-on")] + extra[("mlflow", "gridsearch-on")]
        print(f"figure autolog-extra-sum-cairn: {c * 1000:.1f} ms")
        print(f"figure autolog-extra-sum-mlflow: {m * 1000:.1f} ms")
        if c <= 0:
            print("  WARNING: cairn's extra time is not above the noise; the ratio is not given")
        else:
            ratio_line("autolog-overhead-vs-mlflow", m / c, 5)


def main() -> None:
    """Measure both tools on every workload and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke test: 100 iterations, 1 run")
    parser.add_argument("--repeat", type=int, help="fresh processes per measurement (5; quick 1)")
    args = parser.parse_args()
    repeats = args.repeat or (1 if args.quick else 5)
    sizes = {
        "iterations": 100 if args.quick else 1000,
        "rows": 5000,
        "valid_rows": 1000,
        "sk_rows": 500,
        "inner": 3 if args.quick else 5,
    }
    mlflow_version = ensure_mlflow()
    versions = ", ".join(f"{n} {metadata.version(n)}" for n in PINNED)
    print("# autolog: cairn vs MLflow" + (" (--quick)" if args.quick else ""))
    print(f"# machine: {platform.machine()}, {os.cpu_count()} cores, {platform.platform()}")
    print(
        f"# cairn {cairn_version()} on Python {platform.python_version()}; MLflow "
        f"{mlflow_version} ({MLFLOW_PY}); both with {versions}"
    )
    print(
        f"# lightgbm: {sizes['iterations']:,} iterations on {sizes['rows']:,} x 20 rows, eval set "
        f"{sizes['valid_rows']:,} rows; gridsearch: 24 candidates, cv=3, 500 x 20 rows; "
        f"sklearn-fit: LogisticRegression on 500 x 20, median of {sizes['inner']} fits; "
        f"{repeats} repeat(s), medians",
        flush=True,
    )
    results = collect(sizes, repeats)
    report(results)


if __name__ == "__main__":
    main()
