"""Implicit capture: what it costs to start a run with everything recorded, and without.

Run ``.venv/bin/python benchmarks/capture.py [--quick]``. No anchor: no other tracker records
this much at run start (MLflow records the commit only). The measurements run in a fresh
subprocess inside a generated git repository (200 tracked files, a few of them modified, two
untracked) on a fresh SQLite store under ``benchmarks/.work/``. Prints
``figure <name>: <value> <unit>`` lines; the issue's goal is a run start under 50 ms with
capture on, on a quiet machine. Timed figures are medians.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work"
MARK = "@@RESULT@@"

WORKER = f"""
import json, os, shutil, statistics, sys, time
from pathlib import Path
import cairn
from cairn.core.settings import configure

def report(obj):
    print({MARK!r}, json.dumps(obj), flush=True)

repeats = int(sys.argv[1])
ALL = ("git", "environment", "packages", "output", "system_metrics")
cairn.run(name="warmup").end()  # store creation, imports, package cache: not timed

def starts(on):
    configure(capture={{k: on for k in ALL}})
    cairn.run(name="warm").end()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        run = cairn.run()
        times.append(time.perf_counter() - t)
        run.end()
    return statistics.median(times) * 1000

def ends(on):
    configure(capture={{k: on for k in ALL}})
    times = []
    for _ in range(repeats):
        run = cairn.run()
        t = time.perf_counter()
        run.end()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000

result = {{"start_on": starts(True), "start_off": starts(False),
           "end_on": ends(True), "end_off": ends(False)}}

from cairn.core.settings import get_settings
from cairn.tracking import capture
settings = get_settings()

def part(fn):
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000

result["git_ms"] = part(lambda: capture.capture_code(Path.cwd(), settings.home_dir, 512))
result["machine_ms"] = part(capture.capture_machine)
result["process_ms"] = part(lambda: capture.capture_process(None))
result["packages_warm_ms"] = part(lambda: capture.packages_text(settings.home_dir / "cache"))
cold = Path(settings.home_dir / "cold")
def packages_cold():
    shutil.rmtree(cold, ignore_errors=True)
    capture.packages_text(cold)
result["packages_cold_ms"] = part(packages_cold)

# The sampler: CPU time of one sample (what its thread does every interval).
from cairn.tracking import system_metrics
sampler = system_metrics.SystemMetricsSampler()
samples = repeats * 20
t = time.process_time()
for _ in range(samples):
    sampler._read()
    system_metrics._read_io()
result["sample_cpu_us"] = (time.process_time() - t) / samples * 1e6

# The output mirror: cost per printed line (to /dev/null) with and without it.
lines = repeats * 2000
def printing(mirror):
    configure(capture={{k: mirror if k == "output" else False for k in ALL}})
    saved = sys.stdout
    sys.stdout = open(os.devnull, "w")
    try:
        run = cairn.run()
        t = time.perf_counter()
        for i in range(lines):
            print("epoch", i, "loss", 0.5)
        elapsed = time.perf_counter() - t
        run.end()
    finally:
        sys.stdout.close()
        sys.stdout = saved
    return elapsed / lines * 1e6
result["print_off_us"] = printing(False)
result["print_on_us"] = printing(True)
report(result)
"""


def make_repo(folder: Path) -> None:
    """A git repository with 200 tracked files, 5 modified and 2 untracked."""
    folder.mkdir(parents=True)
    git = ["git", "-c", "user.email=b@example.com", "-c", "user.name=bench"]
    subprocess.run([*git, "init", "-q"], cwd=folder, check=True)
    for i in range(200):
        sub = folder / f"pkg{i % 10}"
        sub.mkdir(exist_ok=True)
        (sub / f"module{i}.py").write_text(f"VALUE = {i}\n" * 50)
    subprocess.run([*git, "add", "."], cwd=folder, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "bench"], cwd=folder, check=True)
    for i in range(5):
        (folder / f"pkg{i}" / f"module{i}.py").write_text(f"VALUE = {i + 1}\n" * 60)
    (folder / "notes.md").write_text("untracked\n" * 20)
    (folder / "scratch.py").write_text("print('hi')\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repeats (a smoke test)")
    args = parser.parse_args()
    repeats = 5 if args.quick else 31
    WORK.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=WORK) as scratch:
        repo = Path(scratch) / "repo"
        make_repo(repo)
        env = {k: v for k, v in os.environ.items() if not k.startswith("CAIRN_")}
        env["CAIRN_HOME"] = str(repo / ".cairn")
        done = subprocess.run(
            [sys.executable, "-c", WORKER, str(repeats)],
            cwd=repo,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            print(done.stderr, file=sys.stderr)
            return 1
        line = next(x for x in done.stdout.splitlines() if x.startswith(MARK))
        r = json.loads(line[len(MARK) :])
        shutil.rmtree(repo, ignore_errors=True)
    overhead = r["start_on"] - r["start_off"]
    print(f"figure run-start-capture-on: {r['start_on']:.1f} ms (goal < 50 ms)")
    print(f"figure run-start-capture-off: {r['start_off']:.1f} ms")
    print(f"figure run-start-capture-overhead: {overhead:.1f} ms")
    print(f"figure run-end-capture-on: {r['end_on']:.1f} ms")
    print(f"figure run-end-capture-off: {r['end_off']:.1f} ms")
    print(f"figure capture-git-dirty-repo: {r['git_ms']:.1f} ms")
    print(f"figure capture-machine: {r['machine_ms']:.2f} ms")
    print(f"figure capture-process: {r['process_ms']:.2f} ms")
    print(f"figure packages-cached: {r['packages_warm_ms']:.2f} ms")
    print(f"figure packages-uncached (background thread): {r['packages_cold_ms']:.1f} ms")
    share = r["sample_cpu_us"] / 1e6 / 10 * 100
    print(f"figure system-metrics-sample-cpu: {r['sample_cpu_us']:.0f} us")
    print(f"figure system-metrics-core-share-at-10s: {share:.4f} % (goal < 1 %)")
    print(f"figure print-line-mirror-off: {r['print_off_us']:.2f} us")
    print(f"figure print-line-mirror-on: {r['print_on_us']:.2f} us")
    return 0


if __name__ == "__main__":
    sys.exit(main())
