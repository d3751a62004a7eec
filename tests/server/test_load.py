"""The team server under load: 50 client processes log at once for 30 s, on PostgreSQL, with
two server workers and tokens on; every point each client counted is on the server, also when
the server is restarted (SIGTERM, started again on the same port) in the middle of it, or
while the clients create their runs.

Each client is a fresh Python process in a folder of its own (its own offline spool) with
``CAIRN_SERVER`` and ``CAIRN_TOKEN`` set: it starts a run with params and tags, logs two keys at
a moderate rate (correctness under concurrency is tested here, not speed), logs params, tags and
one small artifact, ends the run and prints what it logged as JSON. The test then reads every
run back in client mode. Throughput figures are printed (``-s`` shows them), not asserted.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import cairn
from cairn.core.settings import configure
from tests.server.conftest import CAIRN, ServerProcess

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.exclusive]

CLIENTS = 50
USERS = 5
SECONDS = 30.0
PAUSE_S = 0.02  # between two log calls of one client: about 50 steps (100 points) per second
READY_TIMEOUT_S = 180.0  # for every client to start its run (50 interpreters on 2 cores)
EXIT_TIMEOUT_S = 60.0
RESTART_SECONDS = 10.0  # the restart scenario logs this long (its restart comes at 1 s)

CLIENT = """
import json, pathlib, sys, time
import cairn
from cairn.store import get_store

index, go, seconds, pause = int(sys.argv[1]), pathlib.Path(sys.argv[2]), float(sys.argv[3]), \
    float(sys.argv[4])
start_first = sys.argv[5] == "1"

def start():
    run = cairn.start_run(name=f"load-{index}", params={"client": index, "lr": 0.01},
                          tags={"load": "yes"})
    run.log_params({"batch": 32, "optimizer": {"name": "adam"}})
    run.set_tags({"phase": "train"})
    return run

get_store()
run = start() if start_first else None
pathlib.Path("ready").touch()  # all clients then go on at once
while not go.exists():
    time.sleep(0.05)
if run is None:
    run = start()
began = time.monotonic()
end = began + seconds
n = 0
while time.monotonic() < end:
    run.log({"a": n * 0.5, "b": float(index)})
    n += 1
    time.sleep(pause)
logged_s = time.monotonic() - began
run.set_tags({"steps": str(n)})
run.log_text(f"client {index} logged {n} steps\\n", "notes/client.txt")
run.end()
ended_s = time.monotonic() - began - logged_s
session = get_store().remote
print("RESULT " + json.dumps({"index": index, "run_id": run.id, "points": {"a": n, "b": n},
                              "seconds": logged_s, "ended_s": ended_s,
                              "spooled": session.failures,
                              "rejected": session.rejected}), flush=True)
"""

# What a client may say on stderr: information; while the server restarts, also that it spools.
INFO = re.compile(r"^\S+ \S+ INFO cairn[\w.]*: ")
SPOOLING = re.compile(
    r"^\S+ \S+ WARNING cairn[\w.]*: the cairn server is unreachable; writes go to"
)
TROUBLE = re.compile(r"WARNING|ERROR|CRITICAL|Traceback|Exception")


def server_trouble(server: ServerProcess) -> list[str]:
    """Warnings, errors and tracebacks in the server's log."""
    lines = server.log.read_text(errors="replace").splitlines()
    return [x for x in lines if TROUBLE.search(x)]


@dataclass
class Client:
    """One client process, its folder (where its spool is) and its user."""

    index: int
    folder: Path
    user: str
    process: subprocess.Popen[bytes]


def writer_tokens(server: ServerProcess, users: int) -> dict[str, str]:
    """A writer token for each of ``users`` users, made with ``cairn server token create``."""
    tokens = {}
    for k in range(users):
        user = f"user{k}"
        made = subprocess.run(
            [CAIRN, "server", "token", "create", "--user", user, "--role", "writer"],
            cwd=server.folder,
            env=server.env,
            capture_output=True,
            text=True,
            check=True,
        )
        tokens[user] = made.stdout.strip().splitlines()[-1]
    return tokens


def client_environment(server: ServerProcess, token: str) -> dict[str, str]:
    """A client's environment: the server and a token, no other cairn setting."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAIRN_")}
    env.update(CAIRN_SERVER=server.url, CAIRN_TOKEN=token, CAIRN_LOG_FORMAT="plain")
    return env


def start_clients(
    server: ServerProcess,
    tokens: dict[str, str],
    root: Path,
    go: Path,
    *,
    start_first: bool,
    seconds: float = SECONDS,
) -> list[Client]:
    """Start the client processes, each in its own folder; they wait for ``go`` to log, and
    to start their runs unless ``start_first``."""
    users = sorted(tokens)
    clients = []
    for index in range(CLIENTS):
        folder = root / f"client-{index}"
        (folder / ".cairn").mkdir(parents=True)  # its own project: its own spool
        user = users[index % len(users)]
        args = [str(index), str(go), str(seconds), str(PAUSE_S), "1" if start_first else "0"]
        with open(folder / "out.txt", "w") as out, open(folder / "err.txt", "w") as err:
            process = subprocess.Popen(
                [sys.executable, "-c", CLIENT, *args],
                cwd=folder,
                env=client_environment(server, tokens[user]),
                stdout=out,
                stderr=err,
            )
        clients.append(Client(index, folder, user, process))
    return clients


def begin(clients: list[Client], go: Path) -> None:
    """Wait until every client is ready, then let them all go on at once."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not all((c.folder / "ready").exists() for c in clients):
        exited = [c.index for c in clients if c.process.poll() is not None]
        assert not exited, f"clients {exited} exited before they began"
        assert time.monotonic() < deadline, "the clients were not all ready in time"
        time.sleep(0.1)
    go.touch()


def finish_clients(
    clients: list[Client], *, restarted: bool, seconds: float = SECONDS
) -> tuple[list[dict[str, Any]], list[str]]:
    """Wait for every client; each must exit 0, say nothing wrong and leave an empty spool;
    return what each logged and what went wrong."""
    deadline = time.monotonic() + seconds + EXIT_TIMEOUT_S
    results: list[dict[str, Any]] = []
    problems: list[str] = []
    for client in clients:
        try:
            client.process.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            client.process.kill()
            client.process.wait()
            problems.append(f"client {client.index} did not exit in time")
        out = (client.folder / "out.txt").read_text()
        err = (client.folder / "err.txt").read_text()
        if client.process.returncode != 0:
            problems.append(f"client {client.index} exited {client.process.returncode}: {err}")
        said = [line for line in err.splitlines() if line.strip() and not INFO.search(line)]
        if restarted:
            said = [line for line in said if not SPOOLING.search(line)]
        if said:
            problems.append(f"client {client.index} said on stderr: {said[:5]}")
        spool = client.folder / ".cairn" / "spool"
        left = sorted(str(p.relative_to(spool)) for p in spool.rglob("*") if p.is_file())
        if left:
            problems.append(f"client {client.index} left its spool non-empty: {left}")
        lines = [line for line in out.splitlines() if line.startswith("RESULT ")]
        if len(lines) == 1:
            results.append({**json.loads(lines[0][len("RESULT ") :]), "user": client.user})
        else:
            problems.append(f"client {client.index} printed no result: {out[-500:]!r}")
    return results, problems


def check_runs(
    server: ServerProcess, results: list[dict[str, Any]], downloads: Path
) -> tuple[int, list[str]]:
    """Every run is finished on the server with exactly the points its client counted, in
    contiguous unique steps, with its params, tags, user and artifact; return the points
    found and what went wrong."""
    configure(server=server.url, token=server.admin_token)
    problems, total = [], 0
    for result in results:
        record = cairn.get_run(result["run_id"])
        where = f"client {result['index']} (run {record.id})"
        if record.status != "finished":
            problems.append(f"{where}: status {record.status}")
        if record.user != result["user"]:
            problems.append(f"{where}: user {record.user}, not {result['user']}")
        for key, count in result["points"].items():
            steps = [p.step for p in record.metric_history.get(key, [])]
            total += len(steps)
            if sorted(steps) != list(range(count)):
                missing = count - len(set(steps) & set(range(count)))
                extra = len(steps) - len(set(steps))
                problems.append(
                    f"{where}: key {key!r} has {len(steps)} points for {count} logged "
                    f"({missing} steps missing, {extra} duplicated)"
                )
        wrong = [
            (key, p.step, p.value)
            for key in ("a", "b")
            for p in record.metric_history.get(key, [])
            if p.value != (p.step * 0.5 if key == "a" else float(result["index"]))
        ]
        if wrong:
            problems.append(f"{where}: {len(wrong)} points with wrong values, e.g. {wrong[:3]}")
        expected_params = {"client": result["index"], "lr": 0.01, "batch": 32}
        params = {k: record.params.get(k) for k in expected_params}
        if params != expected_params or record.params.get("optimizer.name") != "adam":
            problems.append(f"{where}: params {record.params}")
        tags = {k: record.tags.get(k) for k in ("load", "phase", "steps")}
        if tags != {"load": "yes", "phase": "train", "steps": str(result["points"]["a"])}:
            problems.append(f"{where}: tags {record.tags}")
        if "notes/client.txt" not in [a.path for a in record.artifacts]:
            problems.append(f"{where}: artifacts {[a.path for a in record.artifacts]}")
        else:
            dest = downloads / str(result["index"])
            cairn.download_artifacts(record.id, "notes/client.txt", dest)
            text = (dest / "notes" / "client.txt").read_text()
            if text != f"client {result['index']} logged {result['points']['a']} steps\n":
                problems.append(f"{where}: notes/client.txt holds {text!r}")
    return total, problems


def batch_requests(store_url: str) -> int:
    """How many batch requests the server applied (one row per batch key)."""
    import psycopg

    with psycopg.connect(store_url) as conn:
        row = conn.execute("SELECT count(*) FROM applied_batches").fetchone()
    return int(row[0]) if row else 0


def report(label: str, results: list[dict[str, Any]], points: int, batches: int) -> None:
    """Print the throughput figures of a load test (quoted, not asserted)."""
    if not results:
        return
    seconds = max(r["seconds"] for r in results)
    spooled = sum(r["spooled"] for r in results)
    ended = sorted(r["ended_s"] for r in results)
    print(
        f"\nload[{label}]: {len(results)} clients, {points:,} points in {seconds:.1f} s "
        f"= {points / seconds:,.0f} points/s on the server; {batches:,} batch requests "
        f"({batches / seconds:,.0f}/s); {spooled} requests spooled by clients; ending a run "
        f"(tags, artifact, end) took {ended[len(ended) // 2]:.1f} s (median), "
        f"{ended[-1]:.1f} s (max)"
    )


def run_load(
    postgres_url: str,
    server_on: Callable[..., ServerProcess],
    tmp_path: Path,
    *,
    restart_after: float | None,
    start_first: bool = True,
    seconds: float = SECONDS,
) -> None:
    """Start the server and the clients (each starts its run first if ``start_first``), let
    them all go on at once, restart the server ``restart_after`` s later if asked; then check
    every client and every run."""
    server = server_on(postgres_url, auth=True, workers=2)
    tokens = writer_tokens(server, USERS)
    clients: list[Client] = []
    go = tmp_path / "go"
    try:
        began = time.monotonic()
        clients = start_clients(
            server, tokens, tmp_path / "clients", go, start_first=start_first, seconds=seconds
        )
        begin(clients, go)
        print(f"\n{CLIENTS} clients ready in {time.monotonic() - began:.1f} s")
        began = time.monotonic()
        if restart_after is not None:
            time.sleep(restart_after)
            down = time.monotonic()
            code = server.stop(timeout=40)
            stopped = time.monotonic()
            server.start()
            print(
                f"SIGTERM {down - began:.1f} s after the go: the server exited ({code}) in "
                f"{stopped - down:.1f} s, answered again {time.monotonic() - stopped:.1f} s later"
            )
        restarted = restart_after is not None
        results, problems = finish_clients(clients, restarted=restarted, seconds=seconds)
        print(f"clients done {time.monotonic() - began:.1f} s after the go")
    finally:
        for client in clients:
            if client.process.poll() is None:
                client.process.kill()
                client.process.wait()
    if restart_after is not None and not any(r["spooled"] for r in results):
        problems.append("no client spooled a request: the restart was not noticed")
    problems += [
        f"client {r['index']}: the server refused spooled requests"
        for r in results
        if r["rejected"]
    ]
    problems += [f"the server logged: {line}" for line in server_trouble(server)]
    points, wrong = check_runs(server, results, tmp_path / "downloads")
    label = "steady" if restart_after is None else "restart"
    report(label, results, points, batch_requests(postgres_url))
    assert not problems + wrong, "\n".join(problems + wrong)


def test_50_clients_log_for_30_s_without_errors_or_lost_points(
    postgres_url: str, server_on: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    """50 concurrent clients logging for 30 s: 0 errors, 0 lost points, all runs finished."""
    run_load(postgres_url, server_on, tmp_path, restart_after=None)


def test_a_server_restart_while_runs_start_loses_no_point(
    postgres_url: str, server_on: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    """A restart while 50 clients create their runs and start logging: each creation, its
    params and tags wait in the spool and arrive first (no heartbeat overtakes them), every
    client exits 0 and no point is lost."""
    run_load(
        postgres_url,
        server_on,
        tmp_path,
        restart_after=1.0,
        start_first=False,
        seconds=RESTART_SECONDS,
    )
