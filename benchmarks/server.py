"""Team server: cairn's client mode against ``cairn server`` vs MLflow's tracking server.

Run ``.venv/bin/python benchmarks/server.py [--quick]``. Both servers run on 127.0.0.1 with one
worker each, as subprocesses on free ports, each over a fresh SQLite store (and local artifact
folder) in its own scratch folder under ``benchmarks/.work/``, and are timed only once they
answer their health route. cairn's server is ``cairn server`` from this environment
(``CAIRN_HOME`` in the server's environment only); its clients are fresh processes with
``CAIRN_SERVER`` set, each in its own scratch project. MLflow (the anchor, from the
``benchmarks/.venvs/mlflow`` environment that ``tracking.py`` creates) runs
``mlflow server --backend-store-uri sqlite:///... --artifacts-destination <dir>`` (artifacts
proxied through the server) and is talked to with ``MlflowClient``/``mlflow`` over HTTP.

Figures: 100,000 metric points from one client until durable on the server (checked point by
point from a fresh client afterwards: a server that lost points fails the benchmark), a filtered,
ordered search of 2,000 runs into a DataFrame, and a 1 GiB artifact upload, then the same bytes
again in a new run. Timed figures are medians over fresh servers and fresh client processes.
Prints ``ratio <figure>: <N.NN>x (goal >= <G>x) PASS|FAIL`` and ``figure <name>: <value> <unit>``
lines; a missed goal is reported, not fatal, but a failing subprocess, a server that dies or
data that did not arrive exits non-zero.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from _common import WORK, cairn_version, free_port, ratio, serve
from _common import scratch as common_scratch
from tracking import MLFLOW_PY, MLFLOW_VENV, clean_env, ensure_mlflow, worker

CAIRN_CLI = Path(sys.executable).parent / "cairn"
MLFLOW_CLI = MLFLOW_VENV / "bin" / "mlflow"
MIB = 1 << 20
PROBLEMS: list[str] = []  # data that did not arrive: reported at once, fatal at the end

# -- workers (tracking.PRELUDE gives them report() and value(i)) -----------------------------

CAIRN_LOG = """
import cairn
n = int(sys.argv[1])
run = cairn.start_run(name="bench")
t = time.perf_counter()
for i in range(n):
    run.log({"loss": value(i)}, step=i)
run.end()
report({"seconds": time.perf_counter() - t, "run_id": run.id})
"""

MLFLOW_LOG = """
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient
client = MlflowClient(sys.argv[1])
n = int(sys.argv[2])
run_id = client.create_run(client.create_experiment("bench")).info.run_id
t = time.perf_counter()
for start in range(0, n, 1000):
    now = int(time.time() * 1000)
    client.log_batch(run_id, metrics=[Metric("loss", value(i), now, i)
                                      for i in range(start, min(start + 1000, n))])
client.set_terminated(run_id)
report({"seconds": time.perf_counter() - t, "run_id": run_id})
"""

# Untimed, from a fresh client after the logging one exited: what the server holds.
CAIRN_HISTORY = """
import cairn
points = cairn.get_run(sys.argv[1]).metric_history.get("loss", [])
report([[p.step, p.value] for p in points])
"""

MLFLOW_HISTORY = """
from mlflow.tracking import MlflowClient
points = MlflowClient(sys.argv[1]).get_metric_history(sys.argv[2], "loss")
report(sorted([p.step, p.value] for p in points))
"""

# The same deterministic runs for both tools: params p0..p9, metrics m0..m4.
RUN_DATA = """
def run_data(i):
    r = random.Random(i)
    params = {f"p{k}": r.choice(["a", "b", "c", "d"]) if k % 2 == 0 else r.randint(1, 1000)
              for k in range(10)}
    metrics = {f"m{k}": round(r.random(), 4) for k in range(5)}
    return params, metrics
"""

CAIRN_POPULATE = (
    RUN_DATA
    + """
import cairn
# Only what each run logs, as in MLflow (tracking.py's search figure does the same).
cairn.configure(capture={k: False for k in
                ("git", "environment", "packages", "output", "system_metrics", "seed")})
t = time.perf_counter()
for i in range(int(sys.argv[1])):
    params, metrics = run_data(i)
    run = cairn.start_run(name=f"run-{i}")
    run.log_params(params)
    run.log(metrics, step=0)
    run.end()
report({"seconds": time.perf_counter() - t})
"""
)

MLFLOW_POPULATE = (
    RUN_DATA
    + """
from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient
client = MlflowClient(sys.argv[1])
exp = client.create_experiment("search")
t = time.perf_counter()
for i in range(int(sys.argv[2])):
    params, metrics = run_data(i)
    run_id = client.create_run(exp, run_name=f"run-{i}").info.run_id
    now = int(time.time() * 1000)
    client.log_batch(run_id, metrics=[Metric(k, v, now, 0) for k, v in metrics.items()],
                     params=[Param(k, str(v)) for k, v in params.items()])
    client.set_terminated(run_id)
report({"seconds": time.perf_counter() - t, "experiment_id": exp})
"""
)

FILTER = "metrics.m0 > 0.5 and params.p0 = 'a'"

SEARCH_TIMER = """
repeats = int(sys.argv[-1])
t = time.perf_counter()
search()  # untimed by the median: the first request, pandas loaded
first = time.perf_counter() - t
times = []
for _ in range(repeats):
    t = time.perf_counter()
    df = search()
    times.append(time.perf_counter() - t)
report({"first_call": first, "times": times, "rows": len(df)})
"""

CAIRN_SEARCH = (
    f"""
import cairn
def search():
    return cairn.search_runs(filter={FILTER!r}, order_by="metrics.m1 desc")
"""
    + SEARCH_TIMER
)

MLFLOW_SEARCH = (
    f"""
import mlflow
mlflow.set_tracking_uri(sys.argv[1])
def search():
    return mlflow.search_runs(experiment_ids=[sys.argv[2]], filter_string={FILTER!r},
                              order_by=["metrics.m1 DESC"], max_results=50000)
"""
    + SEARCH_TIMER
)

# One upload in a new run, timed from the call to the run's end; then what the server lists.
CAIRN_UPLOAD = """
import cairn
run = cairn.start_run(name="upload")
t = time.perf_counter()
run.log_artifact(sys.argv[1])
run.end()
seconds = time.perf_counter() - t
name = sys.argv[1].rsplit("/", 1)[-1]  # capture may add files of its own
artifacts = cairn.get_run(run.id).artifacts
report({"seconds": seconds, "sizes": [a.size for a in artifacts if a.path == name]})
"""

MLFLOW_UPLOAD = """
import mlflow
from mlflow.tracking import MlflowClient
mlflow.set_tracking_uri(sys.argv[1])
name = "bench"
exp = mlflow.get_experiment_by_name(name)
exp_id = exp.experiment_id if exp else mlflow.create_experiment(name)
run = mlflow.start_run(experiment_id=exp_id)
t = time.perf_counter()
mlflow.log_artifact(sys.argv[2])
mlflow.end_run()
seconds = time.perf_counter() - t
listed = MlflowClient(sys.argv[1]).list_artifacts(run.info.run_id)
name = sys.argv[2].rsplit("/", 1)[-1]
report({"seconds": seconds, "sizes": [a.file_size for a in listed if a.path == name]})
"""


# -- the two sides ---------------------------------------------------------------------------


def scratch() -> Any:
    """A fresh folder under ``benchmarks/.work``, removed afterwards."""
    return common_scratch("server-")


def mlflow_env() -> dict[str, str]:
    """MLflow's environment (server and clients): no settings inherited, no telemetry."""
    return clean_env(MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="1")


@contextmanager
def cairn_server(d: Path) -> Iterator[str]:
    """``cairn server`` over a fresh store in ``d/cairn-server``; yields its URL."""
    home = d / "cairn-server"
    (home / ".cairn").mkdir(parents=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [str(CAIRN_CLI), "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    env = clean_env(CAIRN_HOME=str(home / ".cairn"))
    with serve(cmd, cwd=home, env=env, health=f"{url}/api/v1/health", log=d / "cairn.log"):
        yield url


@contextmanager
def mlflow_server(d: Path) -> Iterator[str]:
    """``mlflow server`` over a fresh SQLite store in ``d/mlflow-server``; yields its URL."""
    home = d / "mlflow-server"
    home.mkdir()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [
        str(MLFLOW_CLI), "server",
        "--backend-store-uri", f"sqlite:///{home}/mlflow.db",
        "--artifacts-destination", str(home / "artifacts"),
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
    ]  # fmt: skip
    with serve(cmd, cwd=home, env=mlflow_env(), health=f"{url}/health", log=d / "mlflow.log"):
        yield url


def run_cairn(code: str, *args: str, d: Path, url: str) -> Any:
    """A cairn client process (``CAIRN_SERVER=url``) in its own project ``d/cairn-client``."""
    home = d / "cairn-client"
    (home / ".cairn").mkdir(parents=True, exist_ok=True)  # never the repository's own project
    out = worker(sys.executable, code, *args, cwd=home, env=clean_env(CAIRN_SERVER=url))
    spool = home / ".cairn" / "spool"  # writes the client could not deliver at once wait here
    left = [*spool.glob("*.jsonl"), *spool.glob("objects/*")]
    if left:
        size = sum(p.stat().st_size for p in left)
        problem(
            f"the cairn client exited with {len(left)} file(s), {size:,} bytes in its offline "
            f"spool {spool}: writes that had not reached the server"
        )
        for p in left:
            p.unlink()
    return out


def run_mlflow(code: str, *args: str, d: Path, url: str) -> Any:
    """An MLflow client process, with the anchor's interpreter, talking to ``url``."""
    home = d / "mlflow-client"
    home.mkdir(exist_ok=True)
    return worker(MLFLOW_PY, code, url, *args, cwd=home, env=mlflow_env())


def problem(text: str) -> None:
    """Report data that did not arrive; the benchmark exits non-zero at the end."""
    PROBLEMS.append(text)
    print(f"  ERROR: {text}", flush=True)


def check_points(tool: str, points: list[list[float]], n: int) -> None:
    """The server must hold exactly steps 0..n-1 with the logged values."""
    expected = [[i, value(i)] for i in range(n)]
    if points != expected:
        got = {int(p[0]) for p in points}
        missing = n - len(got & set(range(n)))
        problem(
            f"{tool}'s server holds {len(points):,} points for the run, {missing:,} of the "
            f"{n:,} logged steps missing (or steps/values differ)"
        )


def value(i: int) -> float:
    """The logged value of step ``i`` (tracking.PRELUDE's formula)."""
    return math.exp(-i / 20000.0) + 0.01 * math.sin(i)


def runs(values: list[float], scale: float = 1, fmt: str = ".3f") -> str:
    return ", ".join(f"{v * scale:{fmt}}" for v in values)


def bench_log(n: int, repeats: int) -> None:
    """``n`` points from one client until durable on the server, fresh servers each repeat."""
    cairn_s, mlflow_s = [], []
    for rep in range(repeats):
        with scratch() as d, cairn_server(d) as url:
            out = run_cairn(CAIRN_LOG, str(n), d=d, url=url)
            cairn_s.append(out["seconds"])
            check_points("cairn", run_cairn(CAIRN_HISTORY, out["run_id"], d=d, url=url), n)
        with scratch() as d, mlflow_server(d) as url:
            out = run_mlflow(MLFLOW_LOG, str(n), d=d, url=url)
            mlflow_s.append(out["seconds"])
            if rep == 0:
                check_points("mlflow", run_mlflow(MLFLOW_HISTORY, out["run_id"], d=d, url=url), n)
    c, m = statistics.median(cairn_s), statistics.median(mlflow_s)
    print(f"figure remote-log-cairn: {c:.3f} s  (runs: {runs(cairn_s)}; {n / c:,.0f} points/s)")
    print(f"figure remote-log-mlflow-server: {m:.3f} s  (runs: {runs(mlflow_s)})", flush=True)
    ratio("remote-log-vs-mlflow-server", m, c, 10)


def bench_search(n_runs: int, repeats: int) -> None:
    """The median of ``repeats`` filtered, ordered searches over ``n_runs`` runs."""
    with scratch() as d, cairn_server(d) as cu, mlflow_server(d) as mu:
        cpop = run_cairn(CAIRN_POPULATE, str(n_runs), d=d, url=cu)
        mpop = run_mlflow(MLFLOW_POPULATE, str(n_runs), d=d, url=mu)
        ours = run_cairn(CAIRN_SEARCH, str(repeats), d=d, url=cu)
        anchor = run_mlflow(MLFLOW_SEARCH, mpop["experiment_id"], str(repeats), d=d, url=mu)
    print(f"figure remote-populate-cairn: {cpop['seconds']:.2f} s  ({n_runs:,} runs, untimed)")
    print(f"figure remote-populate-mlflow-server: {mpop['seconds']:.2f} s")
    c, m = statistics.median(ours["times"]), statistics.median(anchor["times"])
    for name, out, med in (("cairn", ours, c), ("mlflow-server", anchor, m)):
        print(
            f"figure remote-search-{name}: {med * 1000:.1f} ms  ({out['rows']} rows; runs: "
            f"{runs(out['times'], 1000, '.1f')}; first call {out['first_call'] * 1000:.1f} ms)"
        )
    if ours["rows"] != anchor["rows"]:
        problem(f"search found {ours['rows']} runs on cairn's server, {anchor['rows']} on MLflow's")
    ratio("remote-search-vs-mlflow-server", m, c, 10)


def tree_bytes(path: Path) -> int:
    """Bytes of the files under ``path``."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def warm(path: Path) -> None:
    """Read ``path`` once (both tools upload from a warm page cache), then flush dirty pages."""
    with open(path, "rb") as f:
        while f.read(16 * MIB):
            pass
    subprocess.run(["sync"], check=True)


def upload(tool: str, d: Path, url: str, data: Path, store: Path) -> tuple[float, int]:
    """One upload of ``data`` in a new run from a fresh client; (seconds, bytes the store grew)."""
    before = tree_bytes(store)
    warm(data)
    if tool == "cairn":
        out = run_cairn(CAIRN_UPLOAD, str(data), d=d, url=url)
    else:
        out = run_mlflow(MLFLOW_UPLOAD, str(data), d=d, url=url)
    size = data.stat().st_size
    if out["sizes"] != [size]:
        problem(
            f"{tool}'s server lists {data.name} in the run with sizes {out['sizes']}, "
            f"not one file of {size:,} bytes"
        )
    return out["seconds"], tree_bytes(store) - before


def bench_artifacts(size: int, repeats: int) -> None:
    """A ``size``-byte upload in a new run, then the same bytes again in another new run."""
    WORK.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(WORK).free
    if free < 6 * size:
        problem(
            f"{free / MIB:,.0f} MiB free under {WORK}; the artifact figures need "
            f"{6 * size / MIB:,.0f} MiB (free some space)"
        )
        return
    first: dict[str, list[float]] = {"cairn": [], "mlflow": []}
    second: dict[str, list[float]] = {"cairn": [], "mlflow": []}
    grew: dict[str, tuple[int, int]] = {}
    with scratch() as data_dir:
        data = data_dir / "big.bin"
        with open(data, "wb") as f:
            for _ in range(size // (64 * MIB)):
                f.write(os.urandom(64 * MIB))
            f.write(os.urandom(size % (64 * MIB)))
        for _ in range(repeats):
            for tool in ("cairn", "mlflow"):
                with scratch() as d:
                    server = cairn_server(d) if tool == "cairn" else mlflow_server(d)
                    store = d / f"{tool}-server"
                    with server as url:
                        s1, g1 = upload(tool, d, url, data, store)
                        s2, g2 = upload(tool, d, url, data, store)
                first[tool].append(s1)
                second[tool].append(s2)
                grew[tool] = (g1, g2)
    mib = size / MIB
    for tool, label in (("cairn", "cairn"), ("mlflow", "mlflow-server")):
        f1, f2 = statistics.median(first[tool]), statistics.median(second[tool])
        g1, g2 = grew[tool]
        print(
            f"figure artifact-upload-{label}: {f1:.3f} s  ({mib / f1:,.0f} MiB/s; runs: "
            f"{runs(first[tool])}; store grew {g1 / MIB:,.1f} MiB)"
        )
        print(
            f"figure artifact-reupload-{label}: {f2:.3f} s  (runs: {runs(second[tool])}; "
            f"store grew {g2 / MIB:,.1f} MiB)"
        )
    ratio(
        "artifact-upload-vs-mlflow-server",
        statistics.median(first["mlflow"]),
        statistics.median(first["cairn"]),
        2,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one repeat, smaller sizes")
    quick = parser.parse_args().quick
    n, n_runs, size = (10_000, 200, 64 * MIB) if quick else (100_000, 2_000, 1024 * MIB)
    repeats, search_repeats = (1, 5) if quick else (3, 5)

    mlflow_version = ensure_mlflow()
    print(
        "# server: cairn client mode + cairn server vs MLflow server"
        + (" (--quick)" if quick else "")
    )
    print(f"# machine: {platform.machine()}, {os.cpu_count()} cores, {platform.platform()}")
    print(
        f"# cairn {cairn_version()} on Python {platform.python_version()}; MLflow "
        f"{mlflow_version} ({MLFLOW_CLI}); one worker each on 127.0.0.1, SQLite stores"
    )
    print(
        f"# N: {n:,} metric points, {n_runs:,} runs searched ({search_repeats} searches), "
        f"{size / MIB:,.0f} MiB artifact; {repeats} repeats; medians",
        flush=True,
    )
    bench_log(n, repeats)
    bench_search(n_runs, search_repeats)
    bench_artifacts(size, repeats)
    if PROBLEMS:
        sys.exit(f"error: {len(PROBLEMS)} check(s) failed: " + "; ".join(PROBLEMS))


if __name__ == "__main__":
    main()
