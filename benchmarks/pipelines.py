"""Pipelines: cairn vs DVC, Prefect 3 and Metaflow, side by side in one run.

Run ``.venv/bin/python benchmarks/pipelines.py [--quick]``. Each anchor lives in its own virtual
environment under ``benchmarks/.venvs/`` (``dvc``, ``prefect``, ``metaflow``; created on first
use) and runs only as its own documented local command, so it never constrains cairn's
dependencies. Every figure is the wall time of whole processes, interpreter start included, as
users meet them; medians over 3 repeats (``--quick``: 1); within a repeat the tools take turns
going first. Every measurement gets a fresh scratch project under ``benchmarks/.work/``; store
creation is untimed for every tool (cairn: the store opened once; DVC: ``git init`` +
``dvc init``; Prefect: its database is created and migrated by one untimed warm-up flow run in a
``PREFECT_HOME`` kept for the whole benchmark; Metaflow creates nothing up front). cairn's
and DVC's projects are Git repositories with their files committed (DVC needs one; cairn then
records the commit and diff of each run, as its users get).

- ``noop-vs-dvc-repro`` (goal >= 5x): 10 stages, each reading its predecessor's output. DVC: a
  ``dvc.yaml`` of 10 stages in a Git repository (``python stage.py I`` reads ``input.txt`` or
  ``out{I-1}.txt`` and writes ``out{I}.txt``; deps: ``stage.py`` and the input), ``dvc repro``
  twice. cairn: a pipeline of 10 steps, the first reading ``input.txt`` (a ``Path`` argument,
  hashed by content), each next one taking its predecessor's output (passed, as cairn does,
  through its artifact store), ``cairn pipeline run bench_pipes:noop10``. Each tool runs once
  cold (printed), then re-runs with nothing changed, 3 times per repeat, the two tools taking
  turns (the figure: the median of those no-op re-runs; cairn's must report all 10 cached).
- ``fanout-vs-prefect`` / ``fanout-vs-metaflow`` (goal >= 10x): a cold run of 100 independent
  tiny steps (``i * 2``) and one fan-in (the sum). cairn: ``--executor processes`` (the default)
  and ``--executor dask`` (a ``LocalCluster`` started inside the run); both are printed and the
  ratios use the faster of the two (the line says which). Prefect 3: ``python flow.py`` in its
  local mode (a temporary server starts and stops inside the process), 100 ``task.submit`` calls
  from one flow on its default task runner, results summed in the flow; analytics off. Metaflow:
  ``python flow.py run`` with a ``foreach`` over 100 items and a join, local datastore and
  metadata, default ``--max-workers``.
- ``linear-vs-metaflow`` (goal >= 5x): 10 steps in a line, cold (cairn ``bench_pipes:linear10``,
  Metaflow ``start``, ``s2`` … ``s9``, ``end``).
- ``resume-after-failure``: the same 10-step line run with a flag file present, which makes
  step 7 raise (untimed; it must fail); the flag is removed and ``cairn pipeline resume RUN`` /
  ``python flow.py resume`` is timed (each re-runs steps 7-10 and reuses steps 1-6).
- ``step-overhead-processes`` (goal <= 30 ms per step): (T(a chain of 101 do-nothing steps) -
  T(1 do-nothing step)) / 100 with ``--executor processes``, each a cold ``cairn pipeline run``
  in a fresh project, the two run back to back and their difference taken per repeat (the
  figure: the median of those paired differences). A chain, not a fan-out, so every step's
  dispatch, cache lookup, run record and output storage is on the critical path and parallel
  workers cannot hide it; the process start, store opening and pool start-up cancel out in the
  difference. The same for the ``inline`` executor is printed as a reference.

Prints ``ratio <figure>: <N.NN>x (goal >= <G>x) PASS|FAIL`` (anchor time / cairn time) and
``figure <name>: <value> <unit>`` lines. A missed goal is reported, not fatal; a failing
subprocess exits non-zero with its output. Until ``cairn pipeline run`` exists, the cairn side
prints ``unavailable`` and the ratios are skipped.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from _common import HERE, WORK, cairn_version, clean_env, ensure_venv, fail, ratio

VENVS = HERE / ".venvs"
CAIRN = Path(sys.executable).parent / "cairn"
CHAIN = 101  # do-nothing steps in the overhead chain (100 differences)
NOOPS = 3  # no-op re-runs per tool and repeat
FAN = 100
FAN_TOTAL = sum(i * 2 for i in range(FAN))  # what every fan-out run must compute
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
}

# Untimed: opens (creates) cairn's store in CAIRN_HOME, as `dvc init` does for DVC.
CAIRN_STORE_INIT = "from cairn.store import get_store; get_store().close()"

CAIRN_MODULE = f'''"""Pipelines timed by benchmarks/pipelines.py."""

from pathlib import Path

import cairn

FLAG = Path(__file__).resolve().parent / "fail.flag"


@cairn.step
def first(path: Path) -> str:
    """Stage 0: read the input file."""
    return path.read_text() + "stage 0\\n"


@cairn.step
def stage(text: str, i: int) -> str:
    """Stage i: read the predecessor's output, add a line."""
    return text + f"stage {{i}}\\n"


@cairn.pipeline
def noop10():
    """10 stages in a line, each reading its predecessor's output."""
    text = first(Path("input.txt"))
    for i in range(1, 10):
        text = stage(text, i)
    return text


@cairn.step
def tiny(i: int) -> int:
    """A tiny independent step."""
    return i * 2


@cairn.step
def total(values: list) -> int:
    """The fan-in."""
    return sum(values)


@cairn.pipeline
def fan100():
    """{FAN} independent tiny steps and their sum."""
    return total([tiny(i) for i in range({FAN})])


@cairn.step
def begin() -> int:
    """Step 1 of the line."""
    return 1


@cairn.step
def inc(x: int, i: int) -> int:
    """Step i of the line; step 7 fails while the flag file exists."""
    if i == 7 and FLAG.exists():
        raise RuntimeError(f"failing on purpose: {{FLAG}} exists")
    return x + 1


@cairn.pipeline
def linear10():
    """10 steps in a line."""
    x = begin()
    for i in range(2, 11):
        x = inc(x, i)
    return x


@cairn.step
def nothing(i: int, after: object = None) -> int:
    """Does nothing (``i`` keeps every step's cache key distinct)."""
    return i


@cairn.pipeline
def chain1():
    """One do-nothing step."""
    return nothing(0)


@cairn.pipeline
def chain():
    """{CHAIN} do-nothing steps in a line."""
    x = nothing(0)
    for i in range(1, {CHAIN}):
        x = nothing(i, x)
    return x
'''

DVC_STAGE = """import sys

i = int(sys.argv[1])
src = "input.txt" if i == 0 else f"out{i - 1}.txt"
with open(src) as f:
    text = f.read()
with open(f"out{i}.txt", "w") as f:
    f.write(text + f"stage {i}\\n")
"""

PREFECT_FLOW = f"""from prefect import flow, task


@task
def tiny(i: int) -> int:
    return i * 2


@flow
def fan() -> int:
    futures = [tiny.submit(i) for i in range({FAN})]
    return sum(f.result() for f in futures)


if __name__ == "__main__":
    print("total", fan())
"""

PREFECT_WARMUP = """from prefect import flow


@flow
def warmup() -> int:
    return 1


if __name__ == "__main__":
    print("total", warmup())
"""

METAFLOW_FAN = f"""from metaflow import FlowSpec, step


class FanFlow(FlowSpec):
    @step
    def start(self):
        self.items = list(range({FAN}))
        self.next(self.tiny, foreach="items")

    @step
    def tiny(self):
        self.out = self.input * 2
        self.next(self.join)

    @step
    def join(self, inputs):
        self.total = sum(i.out for i in inputs)
        self.next(self.end)

    @step
    def end(self):
        print("total", self.total)


if __name__ == "__main__":
    FanFlow()
"""


def metaflow_linear() -> str:
    """A Metaflow flow of 10 steps in a line; step 7 (``s7``) fails while the flag exists."""
    names = ["start", *(f"s{i}" for i in range(2, 10)), "end"]
    steps = []
    for n, name in enumerate(names, start=1):
        body = ["        self.x = 1" if name == "start" else "        self.x += 1"]
        if n == 7:
            fails = '        if os.path.exists(FLAG):\n            raise RuntimeError("flag")'
            body.insert(0, fails)
        if name == "end":
            body.append('        print("x", self.x)')
        else:
            body.append(f"        self.next(self.{names[n]})")
        steps.append(f"    @step\n    def {name}(self):\n" + "\n".join(body) + "\n")
    return (
        "import os\n\nfrom metaflow import FlowSpec, step\n\n"
        'FLAG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fail.flag")\n\n\n'
        "class LinearFlow(FlowSpec):\n"
        + "\n".join(steps)
        + '\n\nif __name__ == "__main__":\n    LinearFlow()\n'
    )


def env_for(**extra: str) -> dict[str, str]:
    """The parent's environment without any tool's settings, plus ``extra``."""
    return clean_env("DVC_", "GIT_", "PREFECT_", "METAFLOW_", "DASK_", **extra)


def timed(
    cmd: list[str], *, cwd: Path, env: dict[str, str], what: str, rc: int = 0
) -> tuple[float, str, str]:
    """Run ``cmd``; return its wall time, stdout and stderr. Exit if its status is not ``rc``."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != rc:
        fail(f"{what} (expected exit code {rc})", proc)
    return elapsed, proc.stdout, proc.stderr


def git_commit(project: Path, env: dict[str, str], files: list[str]) -> None:
    """Commit ``files`` in ``project`` (``git init`` first when it is not a repository)."""
    if not (project / ".git").exists():
        timed(["git", "init", "-q"], cwd=project, env=env, what="git init")
    timed(["git", "add", *files], cwd=project, env=env, what="git add")
    timed(["git", "commit", "-q", "-m", "pipeline"], cwd=project, env=env, what="git commit")


def fresh(prefix: str) -> Path:
    """A new folder under the run's scratch root."""
    return Path(tempfile.mkdtemp(prefix=prefix, dir=ROOT))


def expect(what: str, text: str, needle: str) -> None:
    """Exit when a tool's output lacks what a correct run prints."""
    if needle not in text:
        print(f"error: {what}: expected {needle!r} in its output", file=sys.stderr)
        print(text[-4000:], file=sys.stderr)
        sys.exit(1)


# --- cairn -------------------------------------------------------------------------------------


def cairn_available() -> bool:
    """Whether this cairn has ``cairn pipeline run``."""
    cmd = [str(CAIRN), "pipeline", "run", "--help"]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env_for())
    return proc.returncode == 0


def dask_available() -> bool:
    """Whether the main environment can run the Dask executor."""
    needed = ("dask", "distributed", "cairn.pipelines.executors.dask")
    return all(importlib.util.find_spec(m) is not None for m in needed)


def cairn_project() -> tuple[Path, dict[str, str]]:
    """A fresh cairn project holding the pipelines module and an opened store (untimed)."""
    project = fresh("cairn-")
    (project / ".cairn").mkdir()
    (project / "bench_pipes.py").write_text(CAIRN_MODULE)
    (project / "input.txt").write_text("hello\n")
    (project / ".gitignore").write_text(".cairn/\n__pycache__/\nfail.flag\n")
    env = env_for(CAIRN_HOME=str(project / ".cairn"), NO_COLOR="1", **GIT_IDENTITY)
    git_commit(project, env, ["bench_pipes.py", "input.txt", ".gitignore"])
    timed([sys.executable, "-c", CAIRN_STORE_INIT], cwd=project, env=env, what="cairn store")
    return project, env


def cairn_run(
    project: Path, env: dict[str, str], pipeline: str, *args: str, rc: int = 0
) -> tuple[float, str]:
    """Time ``cairn pipeline run bench_pipes:<pipeline>``; return the time and its stderr."""
    cmd = [str(CAIRN), "pipeline", "run", f"bench_pipes:{pipeline}", *args]
    took, _, err = timed(cmd, cwd=project, env=env, what=" ".join(cmd[1:]), rc=rc)
    expect(" ".join(cmd[1:]), err, "failed" if rc else "finished")
    return took, err


def check_summary(what: str, stderr: str, needle: str) -> None:
    """Warn when cairn's closing summary (``finished (N cached, ...)``) lacks ``needle``."""
    if needle not in " ".join(stderr.split()):
        print(f"warning: {what}: expected {needle!r} in its summary", file=sys.stderr)
        print(stderr[-2000:], file=sys.stderr)


def cairn_run_id(stderr: str) -> str:
    """The pipeline run id that ``cairn pipeline run`` printed on stderr."""
    found = re.findall(r"pipeline run (\S+) (?:finished|failed)", " ".join(stderr.split()))
    if not found:
        print("error: no 'pipeline run <id> failed' line on stderr", file=sys.stderr)
        print(stderr[-4000:], file=sys.stderr)
        sys.exit(1)
    return str(found[-1])


# --- anchors -----------------------------------------------------------------------------------


def dvc_project() -> tuple[Path, dict[str, str]]:
    """A fresh Git + DVC repository holding the 10-stage ``dvc.yaml`` (untimed)."""
    project = fresh("dvc-")
    outside = fresh("dvc-state-")
    env = env_for(
        DVC_NO_ANALYTICS="1",
        DVC_SITE_CACHE_DIR=str(outside / "site-cache"),
        DVC_GLOBAL_CONFIG_DIR=str(outside / "global-config"),
        DVC_SYSTEM_CONFIG_DIR=str(outside / "system-config"),
        **GIT_IDENTITY,
    )
    python = VENVS / "dvc" / "bin" / "python"
    lines = ["stages:"]
    for i in range(10):
        dep = "input.txt" if i == 0 else f"out{i - 1}.txt"
        lines += [f"  s{i}:", f"    cmd: {python} stage.py {i}", "    deps:"]
        lines += ["    - stage.py", f"    - {dep}", "    outs:", f"    - out{i}.txt"]
    (project / "dvc.yaml").write_text("\n".join(lines) + "\n")
    (project / "stage.py").write_text(DVC_STAGE)
    (project / "input.txt").write_text("hello\n")
    dvc = str(VENVS / "dvc" / "bin" / "dvc")
    timed(["git", "init", "-q"], cwd=project, env=env, what="git init")
    for cmd in ([dvc, "init", "-q"], [dvc, "config", "core.analytics", "false"]):
        timed(cmd, cwd=project, env=env, what=" ".join(cmd[:2]))
    git_commit(project, env, ["dvc.yaml", "stage.py", "input.txt", ".dvc", ".dvcignore"])
    return project, env


def dvc_repro(project: Path, env: dict[str, str], noop: bool) -> float:
    """Time ``dvc repro``; a no-op one must report that everything is up to date."""
    cmd = [str(VENVS / "dvc" / "bin" / "dvc"), "repro"]
    took, out, err = timed(cmd, cwd=project, env=env, what="dvc repro")
    if noop:
        expect("dvc repro (no-op)", out + err, "up to date")
    else:
        expect("dvc repro", (project / "out9.txt").read_text(), "stage 9")
    return took


class Prefect:
    """Prefect 3 in its local mode, one ``PREFECT_HOME`` (database created by a warm-up)."""

    def __init__(self) -> None:
        self.home = fresh("prefect-home-")
        self.env = env_for(
            PREFECT_HOME=str(self.home),
            DO_NOT_TRACK="1",
            PREFECT_SERVER_ANALYTICS_ENABLED="false",
        )
        self.python = str(VENVS / "prefect" / "bin" / "python")
        self.shutdown_errors = 0

    def run(self, source: str, what: str) -> float:
        """Time ``python flow.py`` for ``source`` in a fresh folder."""
        folder = fresh("prefect-")
        (folder / "flow.py").write_text(source)
        took, out, err = timed([self.python, "flow.py"], cwd=folder, env=self.env, what=what)
        expect(what, out, "total ")
        # Prefect 3.9's temporary server can fail to flush its last events while it stops
        # (a traceback after the flow finished, exit code 0): counted and reported.
        self.shutdown_errors += "Error flushing" in err
        return took

    def warm_up(self) -> float:
        """The untimed first run: creates and migrates Prefect's database."""
        return self.run(PREFECT_WARMUP, "prefect warm-up flow")

    def fanout(self) -> float:
        """Time the 100-task flow."""
        took = self.run(PREFECT_FLOW, "prefect fan-out flow")
        return took


class Metaflow:
    """Metaflow with its local datastore and metadata, no user configuration."""

    def __init__(self) -> None:
        self.env = env_for(
            METAFLOW_HOME=str(fresh("metaflow-home-")),
            METAFLOW_DEFAULT_DATASTORE="local",
            METAFLOW_DEFAULT_METADATA="local",
            USERNAME="bench",
        )
        self.python = str(VENVS / "metaflow" / "bin" / "python")

    def folder(self, source: str) -> Path:
        """A fresh folder holding ``flow.py``."""
        folder = fresh("metaflow-")
        (folder / "flow.py").write_text(source)
        return folder

    def command(self, folder: Path, verb: str, rc: int = 0) -> tuple[float, str]:
        """Time ``python flow.py <verb>``; return the time and its output."""
        cmd = [self.python, "flow.py", verb]
        took, out, err = timed(cmd, cwd=folder, env=self.env, what=f"metaflow {verb}", rc=rc)
        return took, out + err


# --- measurements ------------------------------------------------------------------------------

ROOT = WORK  # replaced by the run's scratch folder in main()
Times = dict[str, list[float]]


def take_turns(repeat: int, jobs: list[Callable[[], None]]) -> None:
    """Run ``jobs`` in order on even repeats and reversed on odd ones."""
    for job in jobs if repeat % 2 == 0 else reversed(jobs):
        job()


def measure_noop(repeat: int, times: Times, has_cairn: bool) -> None:
    """Cold runs of the 10 stages, then no-op re-runs in turns (NOOPS each): DVC and cairn."""
    dvc_at = dvc_project()
    cairn_at = cairn_project() if has_cairn else None

    def dvc(noop: bool) -> Callable[[], None]:
        def job() -> None:
            times["dvc-noop" if noop else "dvc-cold"].append(dvc_repro(*dvc_at, noop=noop))

        return job

    def cairn(noop: bool) -> Callable[[], None]:
        def job() -> None:
            assert cairn_at is not None
            took, err = cairn_run(*cairn_at, "noop10")
            times["cairn-noop" if noop else "cairn-noop10-cold"].append(took)
            if noop:
                check_summary("a cairn re-run of noop10", err, "10 cached")

        return job

    for noop in (False, *[True] * NOOPS):
        take_turns(repeat, [dvc(noop), cairn(noop)] if has_cairn else [dvc(noop)])


def measure_fanout(
    repeat: int, times: Times, has_cairn: bool, has_dask: bool, prefect: Prefect, mf: Metaflow
) -> None:
    """Cold runs of 100 independent tiny steps: cairn (processes, dask), Prefect, Metaflow."""

    def cairn(executor: str) -> Callable[[], None]:
        def job() -> None:
            project, env = cairn_project()
            took, _ = cairn_run(project, env, "fan100", "--executor", executor)
            times[f"cairn-fanout-{executor}"].append(took)

        return job

    def metaflow() -> None:
        took, out = mf.command(mf.folder(METAFLOW_FAN), "run")
        expect("metaflow fan-out", out, f"total {FAN_TOTAL}")
        times["metaflow-fanout"].append(took)

    jobs = [lambda: times["prefect-fanout"].append(prefect.fanout()), metaflow]
    if has_cairn:
        jobs.insert(0, cairn("processes"))
        if has_dask:
            jobs.insert(1, cairn("dask"))
    take_turns(repeat, jobs)


def measure_linear(repeat: int, times: Times, has_cairn: bool, mf: Metaflow) -> None:
    """Cold 10-step lines, then a failed line (step 7) resumed: cairn and Metaflow."""

    def cairn_cold() -> None:
        project, env = cairn_project()
        times["cairn-linear"].append(cairn_run(project, env, "linear10")[0])

    def metaflow_cold() -> None:
        took, out = mf.command(mf.folder(metaflow_linear()), "run")
        expect("metaflow linear", out, "x 10")
        times["metaflow-linear"].append(took)

    def cairn_resume() -> None:
        project, env = cairn_project()
        (project / "fail.flag").touch()
        took, err = cairn_run(project, env, "linear10", rc=1)
        times["cairn-failed-run"].append(took)
        (project / "fail.flag").unlink()
        cmd = [str(CAIRN), "pipeline", "resume", cairn_run_id(err)]
        took, _, err = timed(cmd, cwd=project, env=env, what="cairn pipeline resume")
        expect("cairn pipeline resume", err, "finished")
        check_summary("cairn pipeline resume", err, "6 cached, 4 finished")
        times["cairn-resume"].append(took)

    def metaflow_resume() -> None:
        folder = mf.folder(metaflow_linear())
        (folder / "fail.flag").touch()
        took, _ = mf.command(folder, "run", rc=1)
        times["metaflow-failed-run"].append(took)
        (folder / "fail.flag").unlink()
        took, out = mf.command(folder, "resume")
        expect("metaflow resume", out, "x 10")
        times["metaflow-resume"].append(took)

    if has_cairn:
        take_turns(repeat, [cairn_cold, metaflow_cold])
        take_turns(repeat, [cairn_resume, metaflow_resume])
    else:
        take_turns(repeat, [metaflow_cold, metaflow_resume])


def measure_overhead(repeat: int, times: Times) -> None:
    """cairn's per-step cost: a chain of do-nothing steps minus one step, per executor; each
    pair runs back to back and its difference is kept (a paired sample: slow drifts in the
    machine's load cancel)."""
    for executor in ("processes", "inline"):
        pair: dict[str, float] = {}
        for pipeline in ("chain1", "chain") if repeat % 2 == 0 else ("chain", "chain1"):
            project, env = cairn_project()
            pair[pipeline] = cairn_run(project, env, pipeline, "--executor", executor)[0]
            times[f"cairn-{pipeline}-{executor}"].append(pair[pipeline])
        per_step = (pair["chain"] - pair["chain1"]) / (CHAIN - 1)
        times[f"cairn-per-step-{executor}"].append(per_step)


# --- report ------------------------------------------------------------------------------------


def med(times: Times, key: str) -> float:
    """The median of one measurement's repeats."""
    return statistics.median(times[key])


def fig(name: str, times: Times, key: str, note: str = "") -> None:
    """Print one timing's median in seconds, with every repeat."""
    runs = ", ".join(f"{t:.2f}" for t in times[key])
    print(f"figure {name}: {med(times, key):.2f} s{note}  (runs, s: {runs})")


def report(times: Times, has_cairn: bool, has_dask: bool, prefect: Prefect) -> None:
    """Print the ratios and figures from the medians."""
    fig("noop-dvc-repro", times, "dvc-noop", " (dvc repro, 10 stages, nothing changed)")
    fig("cold-dvc-repro", times, "dvc-cold", " (dvc repro, 10 stages, first run)")
    fig("fanout-prefect", times, "prefect-fanout", f" (python flow.py, {FAN} tasks)")
    fig("fanout-metaflow", times, "metaflow-fanout", f" (flow.py run, foreach over {FAN})")
    fig("linear-metaflow", times, "metaflow-linear", " (flow.py run, 10 steps)")
    fig("failed-run-metaflow", times, "metaflow-failed-run", " (fails at step 7; in no ratio)")
    fig("resume-after-failure-metaflow", times, "metaflow-resume", " (flow.py resume)")
    if prefect.shutdown_errors:
        print(
            f"note: Prefect's temporary server logged 'Error flushing ... events' while "
            f"stopping in {prefect.shutdown_errors} of its runs (exit code 0, flow completed)"
        )
    if not has_cairn:
        print("figure cairn-*: unavailable (`cairn pipeline run` not found); ratios skipped")
        return

    fig("noop-cairn", times, "cairn-noop", " (cairn pipeline run, 10 steps, all cached)")
    fig("cold-cairn-noop10", times, "cairn-noop10-cold", " (the first run of the same)")
    ratio("noop-vs-dvc-repro", med(times, "dvc-noop"), med(times, "cairn-noop"), 5)

    fig("fanout-cairn-processes", times, "cairn-fanout-processes", " (--executor processes)")
    best = "processes"
    if has_dask:
        fig("fanout-cairn-dask", times, "cairn-fanout-dask", " (--executor dask, LocalCluster)")
        if med(times, "cairn-fanout-dask") < med(times, "cairn-fanout-processes"):
            best = "dask"
    else:
        print("figure fanout-cairn-dask: unavailable (needs cairn[dask] and its executor)")
    ours = med(times, f"cairn-fanout-{best}")
    print(f"note: the fan-out ratios use cairn's faster executor: {best}")
    ratio("fanout-vs-prefect", med(times, "prefect-fanout"), ours, 10)
    ratio("fanout-vs-metaflow", med(times, "metaflow-fanout"), ours, 10)

    fig("linear-cairn", times, "cairn-linear", " (cairn pipeline run, 10 steps, cold)")
    ratio("linear-vs-metaflow", med(times, "metaflow-linear"), med(times, "cairn-linear"), 5)

    fig("failed-run-cairn", times, "cairn-failed-run", " (fails at step 7; in no ratio)")
    fig(
        "resume-after-failure",
        times,
        "cairn-resume",
        f" (cairn pipeline resume; metaflow resume: {med(times, 'metaflow-resume'):.2f} s)",
    )

    for executor in ("processes", "inline"):
        long, one = med(times, f"cairn-chain-{executor}"), med(times, f"cairn-chain1-{executor}")
        per_step = med(times, f"cairn-per-step-{executor}") * 1000
        goal = ""
        if executor == "processes":
            goal = f" (goal <= 30 ms per step) {'PASS' if per_step <= 30 else 'FAIL'}"
        runs = ", ".join(f"{t * 1000:.1f}" for t in times[f"cairn-per-step-{executor}"])
        print(
            f"figure step-overhead-{executor}: {per_step:.1f} ms{goal}  "
            f"(median of paired differences, ms: {runs}; {CHAIN} steps {long:.2f} s, "
            f"1 step {one:.2f} s)"
        )


def load() -> str:
    """The machine's CPU count and load averages (a busy machine makes every figure noisy)."""
    one, five, _ = os.getloadavg()
    return f"{os.cpu_count()} CPUs, load average {one:.1f} (1 min), {five:.1f} (5 min)"


def main() -> None:
    global ROOT
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="1 repeat instead of 3")
    repeats = 1 if parser.parse_args().quick else 3
    dvc = ensure_venv(VENVS / "dvc", ["dvc==3.67.*"], "dvc")
    prefect_version = ensure_venv(VENVS / "prefect", ["prefect>=3,<4"], "prefect")
    metaflow_version = ensure_venv(VENVS / "metaflow", ["metaflow>=2.19,<2.20"], "metaflow")
    has_cairn, has_dask = cairn_available(), dask_available()
    print(
        f"cairn {cairn_version()}, dvc {dvc}, prefect {prefect_version}, "
        f"metaflow {metaflow_version}; {repeats} repeat(s), medians; {load()}"
    )
    WORK.mkdir(parents=True, exist_ok=True)
    ROOT = Path(tempfile.mkdtemp(prefix="pipelines-", dir=WORK))
    try:
        prefect, mf = Prefect(), Metaflow()
        print(f"figure prefect-first-run: {prefect.warm_up():.2f} s (creates its database)")
        times: Times = defaultdict(list)
        for repeat in range(repeats):
            measure_noop(repeat, times, has_cairn)
            measure_fanout(repeat, times, has_cairn, has_dask, prefect, mf)
            measure_linear(repeat, times, has_cairn, mf)
            if has_cairn:
                measure_overhead(repeat, times)
        report(times, has_cairn, has_dask, prefect)
        print(f"at the end: {load()}")
    finally:
        shutil.rmtree(ROOT, ignore_errors=True)


if __name__ == "__main__":
    main()
