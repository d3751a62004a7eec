"""Experiment tracking: cairn vs MLflow, side by side in one run.

Run ``.venv/bin/python benchmarks/tracking.py [--quick]``. MLflow (the anchor) lives in its own
virtual environment, ``benchmarks/.venvs/mlflow`` (created on first use), and is only ever run
with that environment's python, so it never constrains cairn's dependencies. Every measurement
runs in a fresh subprocess on a fresh local SQLite store under ``benchmarks/.work/``; workers
are Python source strings that report JSON on stdout.

Figures: metric logging (100,000 points until durable), bytes on disk per metric point,
filtered and ordered search over 2,000 runs into a pandas DataFrame (both tools holding the
same params and metrics: cairn's implicit capture is off while populating), and import time. Timed
figures are medians over repeats. Store creation is excluded from timings for both tools
(MLflow: an experiment is created first; cairn: an empty warm-up run is ended first).
Prints ``ratio <figure>: <N.NN>x (goal >= <G>x) PASS|FAIL`` and
``figure <name>: <value> <unit>`` lines;
missing a goal is reported, not fatal, but a failing subprocess exits non-zero.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from _common import MARK, cairn_version, ensure_venv, fail, ratio, ratio_line, run_worker
from _common import clean_env as common_clean_env
from _common import scratch as common_scratch

HERE = Path(__file__).resolve().parent
MLFLOW_VENV = HERE / ".venvs" / "mlflow"
MLFLOW_PY = MLFLOW_VENV / "bin" / "python"

# Shared by every worker: report one JSON object on a marked line (libraries may print too).
PRELUDE = f"""
import json, math, random, sys, time
def report(obj):
    print({MARK!r}, json.dumps(obj), flush=True)
def value(i):  # same formula in check_points
    return math.exp(-i / 20000.0) + 0.01 * math.sin(i)
"""

MLFLOW_SETUP = """
import mlflow
from mlflow.tracking import MlflowClient
from mlflow.entities import Metric, Param
d = sys.argv[1]
mlflow.set_tracking_uri(f"sqlite:///{d}/mlflow.db")
client = MlflowClient()
exp = client.create_experiment("bench", artifact_location=f"file://{d}/artifacts")
"""

CAIRN_LOG = """
import cairn
n = int(sys.argv[1])
with cairn.run(name="warmup"):
    pass
t = time.perf_counter()
with cairn.run(name="bench") as run:
    for i in range(n):
        cairn.log({"loss": value(i)}, step=i)
report({"seconds": time.perf_counter() - t, "run_id": run.id})
"""

MLFLOW_LOG_BATCH = (
    MLFLOW_SETUP
    + """
n = int(sys.argv[2])
t = time.perf_counter()
run_id = client.create_run(exp).info.run_id
for start in range(0, n, 1000):
    now = int(time.time() * 1000)
    batch = [Metric("loss", value(i), now, i) for i in range(start, min(start + 1000, n))]
    client.log_batch(run_id, metrics=batch)
client.set_terminated(run_id)
report({"seconds": time.perf_counter() - t, "run_id": run_id})
"""
)

MLFLOW_LOG_PER_CALL = (
    MLFLOW_SETUP
    + """
n = int(sys.argv[2])
t = time.perf_counter()
with mlflow.start_run(experiment_id=exp):
    for i in range(n):
        mlflow.log_metric("loss", value(i), step=i)
report({"seconds": time.perf_counter() - t})
"""
)

# Untimed check, in a fresh process after the logging one exited: were all points durable?
CAIRN_VERIFY = """
import cairn
points = cairn.get_run(sys.argv[1]).metric_history.get("loss", [])
report([[p.step, p.value] for p in points])
"""

MLFLOW_VERIFY = """
import mlflow
from mlflow.tracking import MlflowClient
mlflow.set_tracking_uri(f"sqlite:///{sys.argv[1]}/mlflow.db")
points = MlflowClient().get_metric_history(sys.argv[2], "loss")
report(sorted([p.step, p.value] for p in points))
"""

# The same deterministic 2,000 runs for both tools: 10 params, 5 metrics each.
RUN_DATA = """
def run_data(i):
    r = random.Random(i)
    params = {
        "lr": r.choice([0.1, 0.03, 0.01, 0.003, 0.001, 0.0003]),
        "batch_size": r.choice([16, 32, 64, 128, 256]),
        "optimizer": r.choice(["adam", "sgd", "adamw", "rmsprop"]),
        "depth": r.randint(2, 12),
        "dropout": round(r.uniform(0.0, 0.5), 2),
        "weight_decay": r.choice([0.0, 1e-5, 1e-4, 1e-3]),
        "activation": r.choice(["relu", "gelu", "tanh"]),
        "epochs": r.choice([10, 20, 50, 100]),
        "scheduler": r.choice(["cosine", "step", "none"]),
        "seed": i,
    }
    metrics = {
        "auc": round(r.uniform(0.5, 1.0), 4),
        "loss": round(r.uniform(0.05, 2.0), 4),
        "acc": round(r.uniform(0.4, 1.0), 4),
        "f1": round(r.uniform(0.2, 1.0), 4),
        "latency": round(r.uniform(1.0, 100.0), 2),
    }
    return params, metrics
"""

CAIRN_POPULATE = (
    RUN_DATA
    + """
import cairn
# The same data in both tools: only what each run logs (implicit capture adds some 15 tags
# and 8 system metrics per run that MLflow's runs would not hold; benchmarks/capture.py
# measures capture itself).
cairn.configure(capture={k: False for k in
                ("git", "environment", "packages", "output", "system_metrics", "seed")})
for i in range(int(sys.argv[1])):
    params, metrics = run_data(i)
    with cairn.run(name=f"run-{i}"):
        cairn.log_params(params)
        cairn.log(metrics, step=0)
report({})
"""
)

MLFLOW_POPULATE = (
    MLFLOW_SETUP
    + RUN_DATA
    + """
for i in range(int(sys.argv[2])):
    params, metrics = run_data(i)
    run_id = client.create_run(exp, run_name=f"run-{i}").info.run_id
    now = int(time.time() * 1000)
    client.log_batch(
        run_id,
        metrics=[Metric(k, v, now, 0) for k, v in metrics.items()],
        params=[Param(k, str(v)) for k, v in params.items()],
    )
    client.set_terminated(run_id)
report({"experiment_id": exp})
"""
)

# (filter, order_by): the same strings for both tools.
QUERIES: list[tuple[str, list[str]]] = [
    ("metrics.auc > 0.8 and params.optimizer = 'adam'", ["metrics.auc DESC"]),
    ("params.batch_size = '64'", ["metrics.loss ASC"]),
    ("metrics.loss < 0.5 and metrics.acc >= 0.7", ["metrics.f1 DESC"]),
    ("params.optimizer != 'sgd' and metrics.latency < 50", ["metrics.latency ASC"]),
    ("metrics.acc > 0.45", ["metrics.acc DESC"]),
]

SEARCH_TIMER = """
queries = json.loads(sys.argv[-2])
repeats = int(sys.argv[-1])
t = time.perf_counter()
search(*queries[0])  # untimed by the medians: opens the store, loads pandas
out = [{"first_call": time.perf_counter() - t}]
for flt, order in queries:
    times, rows = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        df = search(flt, order)
        times.append(time.perf_counter() - t)
        rows = len(df)
    out.append({"times": times, "rows": rows})
report(out)
"""

CAIRN_SEARCH = (
    """
import cairn
def search(flt, order):
    return cairn.search_runs(filter=flt, order_by=order)
"""
    + SEARCH_TIMER
)

MLFLOW_SEARCH = (
    """
import mlflow

d, exp = sys.argv[1], sys.argv[2]
mlflow.set_tracking_uri(f"sqlite:///{d}/mlflow.db")
def search(flt, order):
    return mlflow.search_runs(
        experiment_ids=[exp], filter_string=flt, order_by=order, max_results=50000
    )
"""
    + SEARCH_TIMER
)

IMPORT_TIMER = "import time; t = time.perf_counter(); import {0}; print(time.perf_counter() - t)"


def clean_env(**extra: str) -> dict[str, str]:
    """The parent's environment without cairn, MLflow or virtualenv settings, plus ``extra``."""
    return common_clean_env("MLFLOW_", **extra)


def worker(python: Path | str, code: str, *args: str, cwd: Path, env: dict[str, str]) -> Any:
    """Run ``code`` with ``python`` in a fresh process and return the JSON it reports."""
    return run_worker(python, PRELUDE + code, *args, cwd=cwd, env=env)


def scratch() -> Any:
    """A fresh folder under ``benchmarks/.work``, removed afterwards."""
    return common_scratch("tracking-")


def run_cairn(code: str, *args: str, home: Path, sync: str = "normal") -> Any:
    """Run a cairn worker with this interpreter, its store in ``home/.cairn``."""
    return worker(sys.executable, code, *args, cwd=home, env=cairn_env(home, sync))


def cairn_env(home: Path, sync: str = "normal") -> dict[str, str]:
    """The environment of a cairn process whose project is ``home``."""
    (home / ".cairn").mkdir(exist_ok=True)  # makes ``home`` the project root
    return clean_env(CAIRN_HOME=str(home / ".cairn"), CAIRN_STORE_SYNC=sync)


def run_mlflow(code: str, *args: str, home: Path) -> Any:
    """Run an MLflow worker with the anchor's interpreter, its store in ``home``."""
    return worker(MLFLOW_PY, code, str(home), *args, cwd=home, env=clean_env())


def db_bytes(db: Path) -> int:
    """Size of an SQLite database plus its write-ahead log, if any."""
    wal = db.with_name(db.name + "-wal")
    return db.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


def ensure_mlflow() -> str:
    """Create the anchor's virtual environment on first use; return MLflow's version."""
    return ensure_venv(MLFLOW_VENV, ["mlflow"], "mlflow")


def check_points(tool: str, points: list[list[float]], n: int) -> None:
    """Warn unless the stored points are exactly steps 0..n-1 with the logged values."""
    expected = [[i, math.exp(-i / 20000.0) + 0.01 * math.sin(i)] for i in range(n)]
    if points != expected:
        print(
            f"  WARNING: {tool} stored {len(points):,} points, not the {n:,} logged "
            "(or their steps/values differ)"
        )


def bench_logging(n: int, n_per_call: int, repeats: int) -> None:
    """Metric logging until durable, and bytes on disk per point.

    cairn runs SQLite with ``synchronous=NORMAL`` by default (WAL: never corrupt, a power cut
    may lose the last commits); MLflow's SQLite runs ``FULL`` (every commit synced). cairn is
    also timed with ``CAIRN_STORE_SYNC=full``, the same durability as MLflow's.
    """
    cairn_s, full_s, batch_s, call_s = [], [], [], []
    cairn_size = mlflow_size = 0
    for rep in range(repeats):
        with scratch() as d:
            out = run_cairn(CAIRN_LOG, str(n), home=d)
            cairn_s.append(out["seconds"])
            if rep == 0:
                cairn_size = db_bytes(d / ".cairn" / "cairn.db")
                check_points("cairn", run_cairn(CAIRN_VERIFY, out["run_id"], home=d), n)
        with scratch() as d:
            full_s.append(run_cairn(CAIRN_LOG, str(n), home=d, sync="full")["seconds"])
        with scratch() as d:
            out = run_mlflow(MLFLOW_LOG_BATCH, str(n), home=d)
            batch_s.append(out["seconds"])
            if rep == 0:
                mlflow_size = db_bytes(d / "mlflow.db")
                check_points("mlflow", run_mlflow(MLFLOW_VERIFY, out["run_id"], home=d), n)
        with scratch() as d:
            call_s.append(run_mlflow(MLFLOW_LOG_PER_CALL, str(n_per_call), home=d)["seconds"])
    with scratch() as d:
        run_cairn(CAIRN_LOG, "0", home=d)
        cairn_empty = db_bytes(d / ".cairn" / "cairn.db")
    with scratch() as d:
        run_mlflow(MLFLOW_LOG_BATCH, "0", home=d)
        mlflow_empty = db_bytes(d / "mlflow.db")

    c, b = statistics.median(cairn_s), statistics.median(batch_s)
    f = statistics.median(full_s)
    p = statistics.median(call_s) * n / n_per_call
    print(f"figure log-cairn: {c:.3f} s  (runs: {', '.join(f'{x:.3f}' for x in cairn_s)})")
    print(f"figure log-cairn-sync-full: {f:.3f} s  (runs: {', '.join(f'{x:.3f}' for x in full_s)})")
    print(f"figure log-mlflow-batch: {b:.3f} s  (runs: {', '.join(f'{x:.3f}' for x in batch_s)})")
    print(
        f"figure log-mlflow-per-call: {p:.3f} s  (scaled linearly from {n_per_call:,} points, "
        f"median {statistics.median(call_s):.3f} s)"
    )
    ratio("log-vs-mlflow-batch", b, c, 10)
    ratio("log-vs-mlflow-per-call", p, c, 100)
    ratio("log-sync-full-vs-mlflow-batch", b, f, 10)
    print(f"figure bytes-per-point-cairn: {(cairn_size - cairn_empty) / n:.1f} B (goal <= 40)")
    print(f"figure bytes-per-point-mlflow: {(mlflow_size - mlflow_empty) / n:.1f} B")


def bench_search(n_runs: int, repeats: int) -> None:
    """Five filtered, ordered searches into a DataFrame over ``n_runs`` populated runs."""
    queries = json.dumps(QUERIES)
    with scratch() as cd, scratch() as md:
        run_cairn(CAIRN_POPULATE, str(n_runs), home=cd)
        exp = run_mlflow(MLFLOW_POPULATE, str(n_runs), home=md)["experiment_id"]
        ours = run_cairn(CAIRN_SEARCH, queries, str(repeats), home=cd)
        anchor = run_mlflow(MLFLOW_SEARCH, exp, queries, str(repeats), home=md)
    print(f"figure search-first-call-cairn: {ours[0]['first_call'] * 1000:.1f} ms")
    print(f"figure search-first-call-mlflow: {anchor[0]['first_call'] * 1000:.1f} ms")
    ratios = []
    for (flt, order), c, m in zip(QUERIES, ours[1:], anchor[1:], strict=True):
        ct, mt = statistics.median(c["times"]), statistics.median(m["times"])
        ratios.append(mt / ct)
        print(
            f"  search {flt!r} order_by {order}: cairn {ct * 1000:.1f} ms ({c['rows']} rows), "
            f"mlflow {mt * 1000:.1f} ms ({m['rows']} rows), {mt / ct:.1f}x"
        )
        if c["rows"] != m["rows"]:
            print(
                f"  WARNING: row counts differ for {flt!r}: cairn {c['rows']}, mlflow {m['rows']}"
            )
    ratio_line("search-vs-mlflow", statistics.median(ratios), 10)


# A training script's start: the store exists (created untimed), the process starts, opens
# it, starts a run and logs one point; the parent watches the database from outside.
CAIRN_FIRST_POINT = """
import time, cairn
with cairn.run(name="first"):
    cairn.log({"loss": 1.0}, step=0)
    time.sleep(60)
"""

MLFLOW_FIRST_POINT = """
import sys, time, mlflow
mlflow.set_tracking_uri(f"sqlite:///{sys.argv[1]}/mlflow.db")
mlflow.set_experiment("bench")
with mlflow.start_run():
    mlflow.log_metric("loss", 1.0, step=0)
    time.sleep(60)
"""

CAIRN_POINT_SQL = (
    "SELECT count(*) FROM metric_chunks c JOIN metric_keys k ON k.id = c.key_id "
    "WHERE k.name = 'loss'"
)
MLFLOW_POINT_SQL = "SELECT count(*) FROM metrics WHERE key = 'loss'"


def seconds_to_first_point(cmd: list[str], db: Path, sql: str, *, cwd: Path, env: Any) -> float:
    """Wall time from starting ``cmd`` until another process can read its first point."""
    import time

    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.05)
        while True:
            try:
                if conn.execute(sql).fetchone()[0]:
                    return time.perf_counter() - start
            except sqlite3.OperationalError:
                pass  # locked by the writer for a moment, or its tables not there yet
            if proc.poll() is not None:
                print(proc.stderr.read() if proc.stderr else "", file=sys.stderr)
                sys.exit(f"error: {cmd} exited with {proc.returncode} before its first point")
            if time.perf_counter() - start > 60:
                sys.exit(f"error: no point from {cmd} after 60 s")
            time.sleep(0.002)
    finally:
        proc.kill()
        proc.wait()


def bench_first_point(repeats: int) -> None:
    """Process start to the first metric point on disk, in a store that already exists."""
    cairn_s, mlflow_s = [], []
    for _ in range(repeats):
        with scratch() as d:
            run_cairn(CAIRN_LOG, "0", home=d)  # creates the store, untimed
            cmd = [sys.executable, "-c", CAIRN_FIRST_POINT]
            db = d / ".cairn" / "cairn.db"
            env = cairn_env(d, "full")
            cairn_s.append(seconds_to_first_point(cmd, db, CAIRN_POINT_SQL, cwd=d, env=env))
        with scratch() as d:
            run_mlflow(MLFLOW_LOG_BATCH, "0", home=d)  # creates the store, untimed
            cmd = [str(MLFLOW_PY), "-c", MLFLOW_FIRST_POINT, str(d)]
            db = d / "mlflow.db"
            mlflow_s.append(
                seconds_to_first_point(cmd, db, MLFLOW_POINT_SQL, cwd=d, env=clean_env())
            )
    c, m = statistics.median(cairn_s), statistics.median(mlflow_s)
    print(f"figure first-point-durable-cairn: {c * 1000:.0f} ms  (store_sync=full, capture on)")
    print(f"figure first-point-durable-mlflow: {m * 1000:.0f} ms")
    ratio("first-point-vs-mlflow", m, c, 5)


def import_ms(python: Path | str, module: str, repeats: int) -> float:
    """Median in-process import time of ``module`` in ``python``, after one warm-up."""
    times = []
    with scratch() as d:
        for i in range(repeats + 1):
            proc = subprocess.run(
                [str(python), "-c", IMPORT_TIMER.format(module)],
                cwd=d,
                env=clean_env(),
                capture_output=True,
                text=True,
                check=False,
            )
            if proc.returncode != 0:
                fail(f"import {module}", proc)
            if i > 0:  # the first run writes .pyc files
                times.append(float(proc.stdout.strip().splitlines()[-1]))
    return statistics.median(times) * 1000


def bench_import(repeats: int) -> None:
    c, m = import_ms(sys.executable, "cairn", repeats), import_ms(MLFLOW_PY, "mlflow", repeats)
    print(f"figure import-cairn: {c:.1f} ms")
    print(f"figure import-mlflow: {m:.1f} ms")
    ratio("import-vs-mlflow", m, c, 5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one repeat, smaller sizes")
    quick = parser.parse_args().quick
    n, n_per_call, n_runs = (10_000, 500, 200) if quick else (100_000, 2_000, 2_000)
    repeats, search_repeats = (1, 1) if quick else (3, 5)

    mlflow_version = ensure_mlflow()
    print("# tracking: cairn vs MLflow" + (" (--quick)" if quick else ""))
    print(f"# machine: {platform.machine()}, {os.cpu_count()} cores, {platform.platform()}")
    print(
        f"# cairn {cairn_version()} on Python {platform.python_version()}; "
        f"MLflow {mlflow_version} ({MLFLOW_PY}); SQLite {sqlite3.sqlite_version}"
    )
    print(
        f"# N: {n:,} metric points ({n_per_call:,} per-call, scaled), {n_runs:,} runs "
        f"searched; {repeats} repeats, {search_repeats} per query; medians",
        flush=True,
    )
    bench_logging(n, n_per_call, repeats)
    bench_search(n_runs, search_repeats)
    bench_first_point(3 if quick else 7)
    bench_import(5 if not quick else 2)


if __name__ == "__main__":
    main()
