"""What the benchmarks share (each is run as a script: ``python benchmarks/<name>.py``)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work"
MARK = "@@RESULT@@"  # workers print their JSON result on a line starting with this


# The start of every measuring worker's source: its result line, a /proc/self/status field
# (kB) and resetting the peak RSS (VmHWM := VmRSS, Linux >= 4.0).
WORKER_HELPERS = f"""
import gc, json, resource, sys, time
def report(obj):
    print({MARK!r}, json.dumps(obj), flush=True)
def status(key):  # kB, from the kernel
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
def reset_peak():  # VmHWM := VmRSS (Linux >= 4.0)
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False
"""


def fail(what: str, proc: subprocess.CompletedProcess[str]) -> None:
    """Print a failed subprocess's output and exit non-zero."""
    print(f"error: {what} failed with exit code {proc.returncode}", file=sys.stderr)
    print(proc.stdout[-4000:], file=sys.stderr)
    print(proc.stderr[-8000:], file=sys.stderr)
    sys.exit(1)


def run_worker(python: Path | str, source: str, *args: str, cwd: Path, env: dict[str, str]) -> Any:
    """Run ``source`` with ``python`` in a fresh process; return the JSON it reported."""
    proc = subprocess.run(
        [str(python), "-c", source, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        fail(f"worker in {python}", proc)
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(MARK):
            return json.loads(line[len(MARK) :])
    fail(f"worker in {python} (no result line)", proc)
    return None


@contextmanager
def scratch(prefix: str) -> Iterator[Path]:
    """A fresh folder under ``benchmarks/.work``, removed afterwards."""
    WORK.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=WORK))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def cairn_version() -> str:
    """This cairn's version, under its distribution name (renamed cairn-mlops)."""
    for name in ("cairn-mlops", "cairn"):
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return "unknown"


def clean_env(*drop: str, **extra: str) -> dict[str, str]:
    """The parent's environment without cairn's, virtualenv or ``drop``-prefixed settings, plus
    ``extra``. Bytecode caching stays on (``PYTHONDONTWRITEBYTECODE`` dropped): a pip install
    compiles every module, so no tool is timed recompiling its own source in each process."""
    prefixes = ("CAIRN_", "VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PYTHONDONTWRITEBYTECODE")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes + drop)}
    env["PYTHONHASHSEED"] = "0"
    return {**env, **extra}


def ratio(name: str, anchor: float, ours: float, goal: float) -> None:
    """Print how many times faster ``ours`` is than ``anchor``, the goal and the verdict."""
    ratio_line(name, anchor / ours, goal)


def ratio_line(name: str, value: float, goal: float) -> None:
    """Print a ratio with two decimals and PASS or FAIL judged on the unrounded value."""
    verdict = "PASS" if value >= goal else "FAIL"
    print(f"ratio {name}: {value:.2f}x (goal >= {goal:g}x) {verdict}")


def ensure_venv(venv: Path, packages: list[str], version_of: str) -> str:
    """Create the anchor's virtual environment ``venv`` on first use, install ``packages``
    where they are missing, and return the installed version of ``version_of``."""
    python = venv / "bin" / "python"
    if not python.exists():
        print(f"creating {venv} and installing {', '.join(packages)} (one-off, takes a while)...")
        venv.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["python3.11", "-m", "venv", str(venv)], check=True)

    def anchor(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(python), *args], capture_output=True, text=True, check=False)

    names = [re.split(r"[<>=\[]", p, maxsplit=1)[0] for p in packages]
    probe = (
        "import importlib.metadata as m; "
        + "".join(f"m.version({n!r}); " for n in names)
        + f"print(m.version({version_of!r}))"
    )
    proc = anchor("-c", probe)
    if proc.returncode != 0:
        install = anchor("-m", "pip", "install", "--quiet", *packages)
        if install.returncode != 0:
            fail(f"pip install {' '.join(packages)}", install)
        proc = anchor("-c", probe)
        if proc.returncode != 0:
            fail(f"{version_of} version probe", proc)
    return proc.stdout.strip()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_status(url: str, timeout: float = 2) -> int:
    """The status of ``GET url``; 0 when nothing answered."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except (OSError, TimeoutError):
        return 0


@contextmanager
def serve(
    cmd: list[str], *, cwd: Path, env: dict[str, str], health: str, log: Path, timeout: float = 120
) -> Iterator[float]:
    """Run the server ``cmd`` in its own process group (output to ``log``), wait until
    ``GET health`` answers 200 and yield the seconds that took; stop it afterwards (SIGTERM,
    SIGKILL after 15 s). A server that does not come up, or dies meanwhile, exits non-zero with
    the end of its log."""
    with open(log, "wb") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def died(why: str) -> None:
        print(f"error: {' '.join(cmd)} {why}; the end of its log:", file=sys.stderr)
        print(log.read_text(errors="replace")[-8000:], file=sys.stderr)

    ready = False
    try:
        while http_status(health) != 200:
            if proc.poll() is not None:
                died(f"exited with code {proc.returncode} before {health} answered")
                sys.exit(1)
            if time.perf_counter() - start > timeout:
                died(f"did not answer {health} within {timeout:.0f} s")
                sys.exit(1)
            time.sleep(0.05)
        ready = True
        yield time.perf_counter() - start
    finally:
        if ready and proc.poll() is not None:
            died(f"died with code {proc.returncode} while measured")
            sys.exit(1)  # a dead server fails the benchmark, whatever else happened
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
            except ProcessLookupError:
                pass
