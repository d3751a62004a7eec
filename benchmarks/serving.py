"""Model serving: cairn's server vs a naive FastAPI app vs BentoML, interleaved in one run.

Run ``.venv/bin/python benchmarks/serving.py [--quick]``. Needs ``wrk`` (the load generator;
Debian: ``apt-get install -y wrk``). BentoML (an anchor) lives in its own virtual environment,
``benchmarks/.venvs/bentoml`` (created on first use: ``pip install bentoml scikit-learn
pandas``), and is only ever run with that environment's python, so it never constrains cairn's
dependencies. If it cannot be installed or started, the script says ``BentoML unavailable``
and goes on with the others. Scratch data lives under ``benchmarks/.work/``.

Every server gets the same model: ``RandomForestClassifier(n_estimators=100, max_depth=8,
random_state=0)`` fitted once (main environment, a subprocess) on ``make_classification(
n_samples=5000, n_features=20, random_state=0)`` as a DataFrame with columns f0..f19, saved
with joblib and registered in cairn (``cairn.log_model(model, "rf", input_example=X.head(5))``
in ``with cairn.run():`` on a scratch ``CAIRN_HOME``, alias ``champion`` on version 1).

The servers, each one process (one worker) on 127.0.0.1 and a free port, started as
subprocesses in their own process group, all up for the whole run, stopped at the end:

- ``cairn``: ``cairn serve models:/rf@champion --port P`` at its defaults (adaptive batching,
  input validation, Prometheus metrics and the prediction log on); body
  ``{"inputs": [{"f0": ..., ..., "f19": ...}]}`` to ``POST /predict``.
- ``cairn-nolog``: the same with ``--no-log`` (validation and metrics are always on).
- ``naive``: a FastAPI app a user would write: the joblib file loaded at import, ``POST
  /predict`` taking a pydantic model of the 20 float fields, one ``model.predict`` on a
  one-row DataFrame per request, in an ``async def`` (a plain ``def``, run on FastAPI's thread
  pool, answered about half as many requests here: the faster of the two is kept); run with
  ``uvicorn`` from the main environment (uvloop and httptools installed there, as for
  cairn), access log off; body ``{"f0": ..., ..., "f19": ...}``.
- ``bentoml``: a ``@bentoml.service(workers=1)`` class loading the same joblib file, one
  ``@bentoml.api(batchable=True, max_batch_size=256)`` method taking an ``np.ndarray`` (adaptive
  batching, BentoML's default batch window), predicting on a DataFrame with the model's
  columns; served with ``bentoml serve service:Svc --port P``, access log off; body
  ``{"inputs": [[20 floats]]}``. BentoML runs its own arbiter process plus the worker; CPU and
  memory are summed over the process tree.

Load: ``wrk -t2 -c64 -d20s`` and ``wrk -t2 -c2000 -d20s`` (``--quick``: 5 s, one repeat),
``--timeout 10s --latency``, a Lua script posting the same one-row JSON body per request. Each
round runs every server at 64 connections, then every server at 2,000 (the server order
rotates each round), after an untimed 3-second warm-up per server; figures are medians over 3
rounds. Between runs the script waits (bounded) until the previous server is idle again. The
open-files limit is raised with ``setrlimit`` for this process and, inherited, its children.

Figures: requests/s, p50 and p99 latency (wrk's), errors (socket errors: connect, read, write,
timeout; plus non-2xx responses) per server and load; server CPU time per completed request
(psutil, the process tree's user+system time across the load run); peak RSS of the process
tree sampled every 0.1 s during the 2,000-connection run; time from process start to the first
``/readyz`` 200 (cairn: median of separate starts); cairn's rows per predict call from its
``cairn_batch_rows`` histogram (``/metrics``, scraped before and after each run). cairn's
predictions for 20 rows (one request) and 5 rows (one request each) are checked against
``model.predict``, and the anchors' against them (a warning, not a failure).

Prints ``ratio <figure>: <N.NN>x (goal >= <G>x) PASS|FAIL`` (throughput, cairn over the anchor) and
``figure <name>: <value> <unit>`` lines; missing a goal is reported, not fatal, but a failing
subprocess exits non-zero.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil

from _common import cairn_version, fail, ratio_line
from _common import clean_env as common_clean_env

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BENTO_VENV = HERE / ".venvs" / "bentoml"
BENTO_PY = BENTO_VENV / "bin" / "python"
WORK = HERE / ".work"
MARK = "@@RESULT@@"
CAIRN_CLI = Path(sys.executable).parent / "cairn"
COLUMNS = [f"f{i}" for i in range(20)]
CONNECTIONS = (64, 2000)
WRK_THREADS = 2
CHECK_ROWS = 20

# Main environment, in a subprocess: fit the model, save it with joblib, register it in cairn.
SETUP = f"""
import json, sys
import joblib
import pandas as pd
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
d = sys.argv[1]
X, y = make_classification(n_samples=5000, n_features=20, random_state=0)
X = pd.DataFrame(X, columns=[f"f{{i}}" for i in range(20)])
model = RandomForestClassifier(n_estimators=100, max_depth=8, random_state=0).fit(X, y)
joblib.dump(model, f"{{d}}/model.joblib")
import cairn
with cairn.run():
    mv = cairn.log_model(model, "rf", input_example=X.head(5))
cairn.registry.set_alias("rf", "champion", mv.version)
rows = X.head({CHECK_ROWS})
print({MARK!r}, json.dumps({{
    "version": mv.version,
    "rows": rows.to_dict(orient="records"),
    "expected": model.predict(rows).tolist(),
}}))
"""

NAIVE_APP = """
import os

import joblib
import pandas as pd
from fastapi import FastAPI
from pydantic import create_model

model = joblib.load(os.environ["BENCH_MODEL"])
Row = create_model("Row", **{f"f{i}": (float, ...) for i in range(20)})
app = FastAPI()


@app.post("/predict")
async def predict(row: Row):
    frame = pd.DataFrame([row.model_dump()])
    return {"prediction": model.predict(frame).tolist()[0]}


@app.get("/healthz")
def healthz():
    return {"ok": True}
"""

BENTO_SERVICE = """
import os

import bentoml
import joblib
import numpy as np
import pandas as pd

COLUMNS = [f"f{i}" for i in range(20)]


@bentoml.service(workers=1, logging={"access": {"enabled": False}})
class Svc:
    def __init__(self) -> None:
        self.model = joblib.load(os.environ["BENCH_MODEL"])

    @bentoml.api(batchable=True, max_batch_size=256)
    def predict(self, inputs: np.ndarray) -> np.ndarray:
        return self.model.predict(pd.DataFrame(inputs, columns=COLUMNS))
"""

WRK_LUA = """wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [==[{body}]==]
"""


def clean_env(**extra: str) -> dict[str, str]:
    """The parent's environment without cairn or virtualenv settings, plus ``extra``."""
    return common_clean_env("BENTOML_", **extra)


@contextmanager
def scratch() -> Iterator[Path]:
    """A fresh folder under ``benchmarks/.work``, removed afterwards."""
    WORK.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix="serving-", dir=WORK))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def raise_open_files(want: int = 65536) -> int:
    """Raise this process's open-files limit (children inherit it); return the soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http(
    method: str, url: str, body: bytes | None = None, timeout: float = 10
) -> tuple[int, bytes]:
    """(status, body) of one request; status 0 when nothing answered."""
    headers = {"Content-Type": "application/json"} if body is not None else {}
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except (OSError, TimeoutError):
        return 0, b""


@dataclass
class Server:
    """One server under test: how to start it, what to send it, its process while it runs."""

    name: str
    cmd: list[str]
    env: dict[str, str]
    cwd: Path
    port: int
    ready_path: str
    body: Any  # the JSON of one one-row request
    rows_body: Any  # a function: rows (records) -> a request body
    answers: Any  # a function: response JSON -> predictions
    proc: subprocess.Popen[bytes] | None = None
    ready_s: float = 0.0
    lua: Path | None = None
    log: Path | None = None
    starts: int = 0
    cpu: dict[int, list[float]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 180) -> float:
        """Start the process and wait for ``ready_path`` to answer 200; return the seconds."""
        self.starts += 1
        self.log = self.cwd / f"{self.name}-{self.starts}.log"
        with open(self.log, "wb") as out:
            t = time.perf_counter()
            self.proc = subprocess.Popen(
                self.cmd,
                cwd=self.cwd,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        while time.perf_counter() - t < timeout:
            if self.proc.poll() is not None:
                self.fail_start(f"exited with code {self.proc.returncode}")
            status, _ = http("GET", self.url + self.ready_path, timeout=2)
            if status == 200:
                self.ready_s = time.perf_counter() - t
                return self.ready_s
            time.sleep(0.02)
        self.fail_start(f"not ready after {timeout:.0f} s")
        return 0.0

    def fail_start(self, why: str) -> None:
        self.stop()
        text = self.log.read_text(errors="replace")[-6000:] if self.log else ""
        raise StartError(f"{self.name} ({' '.join(self.cmd)}) {why}:\n{text}")

    def stop(self) -> None:
        """Stop the process group this server started: SIGTERM, then SIGKILL after 15 s."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        except ProcessLookupError:
            pass

    def tree(self) -> list[psutil.Process]:
        if self.proc is None:
            return []
        try:
            top = psutil.Process(self.proc.pid)
            return [top, *top.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def cpu_seconds(self) -> float:
        total = 0.0
        for p in self.tree():
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except psutil.NoSuchProcess:
                pass
        return total

    def rss_bytes(self) -> int:
        total = 0
        for p in self.tree():
            with suppress(psutil.NoSuchProcess):
                total += p.memory_info().rss
        return total

    def alive(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            code = None if self.proc is None else self.proc.returncode
            text = self.log.read_text(errors="replace")[-6000:] if self.log else ""
            sys.exit(f"error: server {self.name} died (exit code {code}):\n{text}")

    def predict(self, rows: list[dict[str, float]]) -> list[Any] | None:
        body = json.dumps(self.rows_body(rows)).encode()
        status, data = http("POST", self.url + "/predict", body)
        if status != 200:
            print(f"  WARNING: {self.name} answered {status}: {data[:300]!r}")
            return None
        return list(self.answers(json.loads(data)))


class StartError(Exception):
    """A server did not come up."""


# -- load ------------------------------------------------------------------------------------

UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_wrk(text: str) -> dict[str, Any]:
    """requests/s, completed requests, p50/p99 (s) and error counts from wrk's output."""
    out: dict[str, Any] = {"connect": 0, "read": 0, "write": 0, "timeout": 0, "non2xx": 0}
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    if m is None:
        raise ValueError("no Requests/sec line")
    out["rps"] = float(m.group(1))
    m = re.search(r"(\d+) requests in ([\d.]+)(\w+),", text)
    out["requests"] = int(m.group(1)) if m else 0
    for pct, value, unit in re.findall(
        r"^\s+(\d+(?:\.\d+)?)%\s+([\d.]+)(us|ms|s|m|h)\s*$", text, re.M
    ):
        out[f"p{pct.split('.')[0]}"] = float(value) * UNITS[unit]
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        out.update(zip(("connect", "read", "write", "timeout"), map(int, m.groups()), strict=True))
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if m:
        out["non2xx"] = int(m.group(1))
    out["errors"] = sum(out[k] for k in ("connect", "read", "write", "timeout", "non2xx"))
    return out


def wait_idle(server: Server, limit_s: float = 20) -> None:
    """Wait until the server uses under 5 % of a core over 0.25 s (at most ``limit_s``)."""
    deadline = time.perf_counter() + limit_s
    before = server.cpu_seconds()
    while time.perf_counter() < deadline:
        time.sleep(0.25)
        now = server.cpu_seconds()
        if now - before < 0.0125:
            return
        before = now


def batch_stats(server: Server) -> tuple[float, float] | None:
    """(sum, count) of cairn's ``cairn_batch_rows`` histogram, from ``/metrics``."""
    status, data = http("GET", server.url + "/metrics")
    if status != 200:
        return None
    text = data.decode(errors="replace")
    total = re.search(r"^cairn_batch_rows_sum\{[^}]*\} ([\d.e+]+)$", text, re.M)
    count = re.search(r"^cairn_batch_rows_count\{[^}]*\} ([\d.e+]+)$", text, re.M)
    if total is None or count is None:
        return None
    return float(total.group(1)), float(count.group(1))


def load(server: Server, connections: int, seconds: int) -> dict[str, Any]:
    """One wrk run against ``server``, with its CPU time and peak RSS over the run."""
    server.alive()
    assert server.lua is not None
    cmd = [
        "wrk",
        f"-t{WRK_THREADS}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "--latency",
        "-s",
        str(server.lua),
        server.url + "/predict",
    ]
    peak = [server.rss_bytes()]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.1):
            peak[0] = max(peak[0], server.rss_bytes())

    batches_before = batch_stats(server) if server.name.startswith("cairn") else None
    sampler = threading.Thread(target=sample, daemon=True)
    cpu_before = server.cpu_seconds()
    sampler.start()
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=seconds + 60, check=False
        )
    except subprocess.TimeoutExpired:
        sys.exit(f"error: wrk against {server.name} ran past {seconds + 60} s")
    finally:
        cpu = server.cpu_seconds() - cpu_before
        done.set()
        sampler.join()
    if proc.returncode != 0:
        fail(f"wrk against {server.name}", proc)
    try:
        out = parse_wrk(proc.stdout)
    except ValueError:
        fail(f"reading wrk's output for {server.name}", proc)
    if out["requests"] == 0:
        log = server.log.read_text(errors="replace")[-1500:] if server.log else ""
        print(f"  WARNING: {server.name} answered nothing at {connections} connections:")
        print(proc.stdout + proc.stderr + f"(server log: {log})")
    out["cpu_per_request"] = cpu / out["requests"] if out["requests"] else float("nan")
    out["rss"] = peak[0]
    wait_idle(server)
    server.alive()
    if batches_before is not None:
        after = batch_stats(server)
        if after is not None and after[1] > batches_before[1]:
            out["batch_rows"] = (after[0] - batches_before[0]) / (after[1] - batches_before[1])
    return out


# -- setup -----------------------------------------------------------------------------------


def ensure_wrk() -> str:
    if shutil.which("wrk") is None:
        sys.exit("error: wrk is not installed; install it with: apt-get install -y wrk")
    proc = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
    return (proc.stdout + proc.stderr).split("[")[0].strip() or "wrk"


def ensure_bentoml() -> tuple[str | None, str]:
    """Create BentoML's environment on first use: (its version, '') or (None, why not)."""
    if not BENTO_PY.exists():
        print(f"creating {BENTO_VENV} and installing bentoml (one-off, takes a while)...")
        BENTO_VENV.parent.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run(
            ["python3.11", "-m", "venv", str(BENTO_VENV)],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            return None, f"python3.11 -m venv failed: {proc.stderr.strip()[-300:]}"
    probe = (
        "import importlib.metadata as m, bentoml, sklearn, pandas, joblib; "
        "print(m.version('bentoml'), m.version('scikit-learn'), m.version('pandas'))"
    )

    def anchor(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(BENTO_PY), *args], capture_output=True, text=True, check=False)

    proc = anchor("-c", probe)
    if proc.returncode != 0:
        install = anchor("-m", "pip", "install", "--quiet", "bentoml", "scikit-learn", "pandas")
        if install.returncode != 0:
            return None, f"pip install bentoml failed: {install.stderr.strip()[-300:]}"
        proc = anchor("-c", probe)
        if proc.returncode != 0:
            return None, f"import bentoml failed: {proc.stderr.strip()[-300:]}"
    bento, sklearn, pandas = proc.stdout.split()
    return bento, f"scikit-learn {sklearn}, pandas {pandas}"


def setup(d: Path) -> dict[str, Any]:
    """Fit, save and register the model (main environment, a subprocess)."""
    env = clean_env(CAIRN_HOME=str(d / ".cairn"))
    (d / ".cairn").mkdir()
    proc = subprocess.run(
        [sys.executable, "-c", SETUP, str(d)],
        cwd=d,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        fail("fitting and registering the model", proc)
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(MARK):
            return dict(json.loads(line[len(MARK) :]))
    fail("fitting and registering the model (no result line)", proc)
    return {}


def servers(d: Path, with_bento: bool) -> list[Server]:
    """The servers to compare (not started), each with its wrk script written."""
    model = str(d / "model.joblib")
    cairn_env = clean_env(CAIRN_HOME=str(d / ".cairn"))
    cairn_cmd = [str(CAIRN_CLI), "serve", "models:/rf@champion"]

    def inputs(rows: list[dict[str, float]]) -> dict[str, Any]:
        return {"inputs": rows}

    def cairn_answers(data: dict[str, Any]) -> list[Any]:
        return list(data["predictions"])

    out = []
    for name, extra in (("cairn", []), ("cairn-nolog", ["--no-log"])):
        port = free_port()
        out.append(
            Server(
                name,
                [*cairn_cmd, "--port", str(port), *extra],
                cairn_env,
                d,
                port,
                "/readyz",
                None,
                inputs,
                cairn_answers,
            )
        )
    (d / "naive_app.py").write_text(NAIVE_APP)
    port = free_port()
    out.append(
        Server(
            "naive",
            [
                sys.executable,
                "-m",
                "uvicorn",
                "naive_app:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                "1",
                "--no-access-log",
                "--log-level",
                "warning",
            ],
            clean_env(BENCH_MODEL=model),
            d,
            port,
            "/healthz",
            None,
            lambda rows: rows[0],
            lambda data: [data["prediction"]],
        )
    )
    if with_bento:
        bento_dir = d / "bento"
        bento_dir.mkdir()
        (bento_dir / "service.py").write_text(BENTO_SERVICE)
        port = free_port()
        out.append(
            Server(
                "bentoml",
                [
                    str(BENTO_VENV / "bin" / "bentoml"),
                    "serve",
                    "service:Svc",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                ],
                clean_env(BENCH_MODEL=model, BENTOML_HOME=str(d / "bentoml-home")),
                bento_dir,
                port,
                "/readyz",
                None,
                lambda rows: {"inputs": [[r[c] for c in COLUMNS] for r in rows]},
                lambda data: data,
            )
        )
    return out


def write_lua(server: Server, row: dict[str, float], d: Path) -> None:
    server.body = server.rows_body([row])
    server.lua = d / f"{server.name}.lua"
    server.lua.write_text(WRK_LUA.format(body=json.dumps(server.body)))


def check_predictions(srv: list[Server], rows: list[dict[str, float]], expected: list[Any]) -> None:
    """cairn's predictions (20 rows in one request, 5 rows alone) vs ``model.predict``; the
    others' vs the same (a warning, never a failure)."""
    for server in srv:
        if server.name.startswith("cairn"):
            got = server.predict(rows)
            if got is not None and got != expected:
                print(f"  WARNING: {server.name} predicted {got}, model.predict gave {expected}")
        alone = [server.predict([row]) for row in rows[:5]]
        flat = [p[0] if p else None for p in alone]
        if flat != expected[:5]:
            print(
                f"  WARNING: {server.name} predicted {flat} one row at a time, not {expected[:5]}"
            )


# -- report ----------------------------------------------------------------------------------


def med(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def runs_text(values: list[float], fmt: str) -> str:
    return ", ".join(format(v, fmt) for v in values)


def figure(name: str, values: list[float], unit: str, scale: float = 1, fmt: str = ".1f") -> None:
    """One ``figure`` line: the median of ``values`` (times ``scale``) and every run."""
    runs = runs_text([v * scale for v in values], fmt)
    print(f"figure {name}: {format(med(values) * scale, fmt)} {unit}  (runs: {runs})")


def report(srv: list[Server], results: dict[tuple[str, int], list[dict[str, Any]]]) -> None:
    names = [s.name for s in srv]

    def series(name: str, c: int, key: str) -> list[float]:
        return [r[key] for r in results[(name, c)] if key in r]

    kinds = ("connect", "read", "write", "timeout", "non2xx")
    for c in CONNECTIONS:
        print(f"# {c} connections")
        for name in names:
            figure(f"rps-{name}-c{c}", series(name, c, "rps"), "req/s", fmt=".0f")
            figure(f"p50-{name}-c{c}", series(name, c, "p50"), "ms", 1000)
            figure(f"p99-{name}-c{c}", series(name, c, "p99"), "ms", 1000)
            runs = results[(name, c)]
            detail = ", ".join(f"{k} {med([e[k] for e in runs]):.0f}" for k in kinds)
            total = [e["errors"] for e in runs]
            goal = " (goal 0)" if name.startswith("cairn") else ""
            print(
                f"figure errors-{name}-c{c}: {med(total):.0f}{goal}  "
                f"({detail}; runs: {runs_text(total, '.0f')})"
            )
            cpu = series(name, c, "cpu_per_request")
            figure(f"cpu-per-request-{name}-c{c}", cpu, "ms", 1000, ".3f")
            figure(f"rss-peak-{name}-c{c}", series(name, c, "rss"), "MB", 1e-6, ".0f")
            if name.startswith("cairn"):
                rows = series(name, c, "batch_rows")
                figure(f"batch-rows-{name}-c{c}", rows, "rows per predict call")

    def rps(name: str, c: int) -> float:
        return med(series(name, c, "rps"))

    print("# summary")
    for anchor, goal in (("naive", 5), ("bentoml", 2)):
        if anchor not in names:
            continue
        for c in CONNECTIONS:
            value = rps("cairn", c) / max(rps(anchor, c), 1e-9)
            ratio_line(f"cairn-vs-{anchor}-c{c}", value, goal)
    for c in CONNECTIONS:
        value = rps("cairn", c) / rps("cairn-nolog", c)
        print(f"figure cairn-log-on-vs-off-c{c}: {value:.2f} (goal >= 0.85)")
    p50, p99 = med(series("cairn", 2000, "p50")), med(series("cairn", 2000, "p99"))
    print(f"figure cairn-p99-over-p50-c2000: {p99 / p50:.1f} (goal <= 3)")
    cpu = med(series("cairn", 64, "cpu_per_request"))
    print(f"figure cairn-cpu-per-request: {cpu * 1000:.3f} ms (goal <= 1 ms)  (64 connections)")
    rss = med(series("cairn", 2000, "rss")) / 1e6
    print(f"figure cairn-rss-under-load: {rss:.0f} MB (goal <= 250 MB)  (peak, 2,000 connections)")


def start_all(srv: list[Server], ready_starts: int) -> tuple[list[Server], list[float]]:
    """Start every server; cairn (first) ``ready_starts`` times, keeping the last start up.
    Returns the servers that came up (BentoML may not) and cairn's readiness times."""
    cairn, ready = srv[0], []
    for i in range(ready_starts):
        ready.append(cairn.start())
        if i < ready_starts - 1:
            cairn.stop()
    up = [cairn]
    for server in srv[1:]:
        try:
            server.start()
            up.append(server)
        except StartError as exc:
            if server.name != "bentoml":
                raise
            print(f"BentoML unavailable: {str(exc)[-2000:]}")
    return up, ready


def measure(srv: list[Server], rounds: int, seconds: int) -> dict[tuple[str, int], Any]:
    """Every server at each load, ``rounds`` times, the server order rotating per round."""
    results: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for server in srv:  # untimed warm-up
        load(server, 64, 3)
    for r in range(rounds):
        order = srv[r % len(srv) :] + srv[: r % len(srv)]
        for c in CONNECTIONS:
            for server in order:
                out = load(server, c, seconds)
                results.setdefault((server.name, c), []).append(out)
                print(
                    f"  round {r + 1}, {c} connections, {server.name}: {out['rps']:.0f} req/s, "
                    f"p50 {out.get('p50', 0) * 1000:.1f} ms, "
                    f"p99 {out.get('p99', 0) * 1000:.1f} ms, errors {out['errors']}",
                    flush=True,
                )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 s runs, one round")
    quick = parser.parse_args().quick
    rounds, seconds = (1, 5) if quick else (3, 20)
    ready_starts = 3 if quick else 5

    wrk = ensure_wrk()
    nofile = raise_open_files()
    bento_version, bento_note = ensure_bentoml()
    print("# serving: cairn vs naive FastAPI vs BentoML" + (" (--quick)" if quick else ""))
    print(f"# machine: {platform.machine()}, {os.cpu_count()} cores, {platform.platform()}")
    print(
        f"# cairn {cairn_version()} on Python {platform.python_version()} "
        f"(fastapi {metadata.version('fastapi')}, uvicorn {metadata.version('uvicorn')}, "
        f"scikit-learn {metadata.version('scikit-learn')}, pandas {metadata.version('pandas')})"
        + (f"; BentoML {bento_version} ({BENTO_PY}; {bento_note})" if bento_version else "")
    )
    print(
        f"# load: {wrk}, -t{WRK_THREADS} -c64/-c2000 -d{seconds}s --timeout 10s; {rounds} "
        f"round(s), medians; open-files limit {nofile}"
    )
    if nofile < max(CONNECTIONS) + 512:
        print(f"  WARNING: the open-files limit is {nofile}; 2,000 connections need more")
    if bento_version is None:
        print(f"BentoML unavailable: {bento_note}")

    with scratch() as d:
        info = setup(d)
        rows, expected = info["rows"], info["expected"]
        srv = servers(d, bento_version is not None)
        for server in srv:
            write_lua(server, rows[0], d)
        print(f"# model: RandomForestClassifier, registered as rf/{info['version']}", flush=True)
        try:
            up, ready = start_all(srv, ready_starts)
            figure("cairn-ready", ready, "s (goal <= 3 s)", fmt=".2f")
            for server in up[1:]:
                print(f"figure ready-{server.name}: {server.ready_s:.2f} s  (one start)")
            check_predictions(up, rows, expected)
            results = measure(up, rounds, seconds)
            check_predictions(up, rows, expected)
        except StartError as exc:
            sys.exit(f"error: {exc}")
        finally:
            for server in srv:
                server.stop()
        report(up, results)


if __name__ == "__main__":
    main()
