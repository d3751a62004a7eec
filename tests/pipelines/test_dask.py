"""Executors under failure: pipelines on a real Dask scheduler and workers (one SIGKILLed
mid-step), on a local Dask cluster, an unreachable scheduler, a timeout under Dask, and a
worker of the processes executor SIGKILLed mid-step."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cairn.tracking import RunRecord, find_runs

DASK = str(Path(sys.executable).with_name("dask"))

# ``part(i)`` notes each attempt in MARKS as ``<i>-<pid>`` (holding its working directory);
# the attempt of ``part(victim)`` that finds no ``go`` file waits for it, so that the test can
# kill the process running it mid-step.
FLOWS = """
import os
import time
from pathlib import Path

import cairn
import dkhelpers

MARKS = Path(__file__).parent / "marks"


@cairn.step
def base(n: int) -> int:
    return n * 100


@cairn.step
def part(b: int, i: int, victim: int) -> int:
    (MARKS / f"{i}-{os.getpid()}").write_text(os.getcwd())
    if i == victim:
        deadline = time.monotonic() + 60
        while not (MARKS / "go").exists():
            if time.monotonic() > deadline:
                raise TimeoutError("nobody said go")
            time.sleep(0.02)
    return b + i


@cairn.step
def total(parts: list[int]) -> int:
    return sum(parts)


@cairn.pipeline
def fan(n: int = 1, victim: int = 0):
    b = base(n)
    return total([part(b, i, victim) for i in range(3)])


@cairn.step(timeout=0.5)
def sleepy(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


# One worker advertises GPU=1; none advertises MEMORY (a hint that must not block the step).
@cairn.step(resources={"gpus": 1, "memory": 1e9})
def quick() -> int:
    return 7


@cairn.step(resources={"gpus": 4})
def greedy() -> int:
    return 4


@cairn.pipeline
def timed(seconds: float = 2.0):
    return [sleepy(seconds), quick(), greedy()]


@cairn.step
def helped(x: int) -> int:
    return dkhelpers.twice(x)


@cairn.pipeline
def uses_helpers(x: int = 2):
    return helped(x)
"""

# A module of the project holding a value that does not pickle: it cannot go by value.
HELPERS = """
import threading

LOCK = threading.Lock()


def twice(x: int) -> int:
    return 2 * x
"""

FAN_NODES = {"base", "part[0]", "part[1]", "part[2]", "total"}


@pytest.fixture
def flows(project: Path) -> Path:
    """The project's module ``dkflows`` (importable from the project only) and its marks."""
    (project / "dkflows.py").write_text(textwrap.dedent(FLOWS))
    (project / "dkhelpers.py").write_text(textwrap.dedent(HELPERS))
    marks = project / "marks"
    marks.mkdir()
    return marks


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("CAIRN_")}


def _cairn(project: Path, *args: str, timeout: float = 120) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "cairn", *args],
        cwd=project,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(process: subprocess.Popen[str], timeout: float = 120) -> tuple[int, str]:
    try:
        _out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        _out, err = process.communicate()
        pytest.fail(f"cairn did not end within {timeout} s:\n{err}")
    return process.returncode, err


def _run(project: Path, *args: str, timeout: float = 120) -> tuple[int, str]:
    return _finish(_cairn(project, *args), timeout)


def _wait_for(what: str, check: Callable[[], object], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def _attempts(marks: Path, i: int) -> dict[int, str]:
    """``{pid: working directory}`` of each attempt of ``part(i)`` so far."""
    found = {}
    for path in marks.glob(f"{i}-*"):
        found[int(path.name.partition("-")[2])] = path.read_text()
    return found


def _steps(pipeline_run: str) -> list[RunRecord]:
    return [r for r in find_runs() if r.parent_id == pipeline_run and "cairn.step" in r.tags]


def _pipeline_runs() -> list[RunRecord]:
    return [r for r in find_runs() if "cairn.pipeline" in r.tags and r.parent_id is None]


def _run_id(stderr: str) -> str:
    for line in stderr.splitlines():
        if line.startswith("pipeline run "):
            return line.split()[2]
    pytest.fail(f"no pipeline run line in:\n{stderr}")


def _each_once_finished(pipeline_run: str, nodes: set[str]) -> None:
    steps = _steps(pipeline_run)
    assert sorted(r.tags["cairn.step"] for r in steps) == sorted(nodes)
    assert {r.status for r in steps} == {"finished"}, [(r.name, r.status) for r in steps]


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A ``dask scheduler`` and two ``dask worker`` processes (the second with GPU=1) on
    127.0.0.1, started outside the project (whose modules they therefore cannot import):
    (address, their folder)."""
    outside = tmp_path_factory.mktemp("dask-outside")
    file = outside / "scheduler.json"
    started: list[subprocess.Popen[bytes]] = []

    def start(log: Path, *args: str) -> None:
        with log.open("wb") as out:
            started.append(
                subprocess.Popen(
                    [DASK, *args], cwd=outside, env=_env(), stdout=out, stderr=subprocess.STDOUT
                )
            )

    try:
        start(
            outside / "scheduler.log",
            *("scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard"),
            *("--scheduler-file", str(file)),
        )
        _wait_for("the scheduler file", file.exists)
        logs = [outside / f"worker{i}.log" for i in (1, 2)]
        for log, resources in zip(logs, ([], ["--resources", "GPU=1"]), strict=True):
            start(
                log,
                *("worker", "--scheduler-file", str(file), "--nthreads", "1", "--no-dashboard"),
                *resources,
            )
        _wait_for(
            "two workers",
            lambda: all(log.exists() and "Registered to" in log.read_text() for log in logs),
        )
        yield json.loads(file.read_text())["address"], outside
    finally:  # the workers first, while their scheduler still answers their goodbyes
        for group in (started[1:], started[:1]):
            for process in group:
                process.terminate()
            for process in group:
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


@pytest.mark.slow
def test_a_worker_killed_mid_step_on_a_dask_scheduler(
    flows: Path, project: Path, dask_cluster: tuple[str, Path]
) -> None:
    """A fan-out pipeline runs on a real scheduler and two workers that cannot import the
    project; a worker SIGKILLed mid-step has its step run again elsewhere, and every step is
    recorded once, finished."""
    address, outside = dask_cluster
    running = _cairn(project, "pipeline", "run", "dkflows:fan", "--executor", f"dask={address}")
    _wait_for("the victim step to start", lambda: bool(_attempts(flows, 0)) or running.poll())
    victims = _attempts(flows, 0)
    assert len(victims) == 1, victims
    victim, cwd = next(iter(victims.items()))
    assert Path(cwd) == outside  # a worker started elsewhere ran the project's step
    os.kill(victim, signal.SIGKILL)
    (flows / "go").touch()
    code, err = _finish(running)
    assert code == 0, err
    attempts = _attempts(flows, 0)
    assert len(attempts) == 2 and victim in attempts, attempts  # killed, then run again
    assert "Traceback" not in err
    _each_once_finished(_run_id(err), FAN_NODES)
    assert [r.status for r in _pipeline_runs()] == ["finished"]


def test_a_timeout_under_dask_fails_the_step(
    flows: Path, project: Path, dask_cluster: tuple[str, Path]
) -> None:
    """A step past its timeout on a Dask worker (a thread, no signal) fails with the timeout
    message; resource hints go to the workers that advertise them (one above every worker's
    amount fails the step, one no worker advertises is dropped)."""
    address, _ = dask_cluster
    code, err = _run(project, "pipeline", "run", "dkflows:timed", "--executor", f"dask={address}")
    assert code == 1, err
    assert "step sleepy ran past its timeout of 0.5 s" in err
    steps = {r.tags["cairn.step"]: r for r in _steps(_run_id(err))}
    assert steps["sleepy"].status == "failed"
    assert "ran past its timeout of 0.5 s" in (steps["sleepy"].error or "")
    assert steps["quick"].status == "finished"
    assert steps["greedy"].status == "failed"
    assert "asks for gpus=4, but no Dask worker has more than GPU=1" in (
        steps["greedy"].error or ""
    )


def test_a_module_that_cannot_go_by_value_says_how_to_fix_it(
    flows: Path, project: Path, dask_cluster: tuple[str, Path]
) -> None:
    """A step reaching a project module with a lock in it, on workers that cannot import the
    project: the step fails saying why and what to do."""
    address, _ = dask_cluster
    code, err = _run(
        project, "pipeline", "run", "dkflows:uses_helpers", "--executor", f"dask={address}"
    )
    assert code == 1, err
    text = " ".join(err.split())
    assert "could not be sent by value (TypeError: cannot pickle '_thread.lock'" in text
    assert "start the workers where the project imports" in text
    assert "Traceback" not in err


@pytest.mark.slow
def test_a_local_dask_cluster_runs_then_serves_from_the_cache(flows: Path, project: Path) -> None:
    """``--executor dask`` starts a local cluster that runs the pipeline; the second run is
    served whole from the cache."""
    (flows / "go").touch()
    args = ("pipeline", "run", "dkflows:fan", "--executor", "dask", "--workers", "1")
    code, err = _run(project, *args)
    assert code == 0, err
    _each_once_finished(_run_id(err), FAN_NODES)
    code, err = _run(project, *args)
    assert code == 0, err
    steps = _steps(_run_id(err))
    assert sorted(r.tags["cairn.step"] for r in steps) == sorted(FAN_NODES)
    assert {r.status for r in steps} == {"cached"}


def test_an_unreachable_scheduler_is_a_clear_error(flows: Path, project: Path) -> None:
    """``--executor dask=ADDRESS`` with nothing there: exit 1, the message, no traceback, and
    no pipeline run recorded."""
    code, err = _run(
        project, "pipeline", "run", "dkflows:fan", "--executor", "dask=tcp://127.0.0.1:1"
    )
    assert code == 1, err
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:1" in err
    assert "dask scheduler" in err and "Traceback" not in err
    assert _pipeline_runs() == []


@pytest.mark.slow
def test_a_worker_killed_mid_step_in_the_processes_executor(flows: Path, project: Path) -> None:
    """A worker process of ``--executor processes`` SIGKILLed mid-step: the step runs again on
    a new pool, the pipeline finishes, and every step is recorded once."""
    running = _cairn(project, "pipeline", "run", "dkflows:fan", "--executor", "processes")
    _wait_for("the victim step to start", lambda: bool(_attempts(flows, 0)) or running.poll())
    victims = _attempts(flows, 0)
    assert len(victims) == 1, victims
    victim = next(iter(victims))
    os.kill(victim, signal.SIGKILL)
    (flows / "go").touch()
    code, err = _finish(running)
    assert code == 0, err
    assert len(_attempts(flows, 0)) == 2
    _each_once_finished(_run_id(err), FAN_NODES)


MUTATES = """
import cairn


@cairn.step
def numbers() -> list:
    return [1, 2]


@cairn.step
def grows(xs: list) -> int:
    xs.append(99)  # changes its input in place
    return len(xs)


@cairn.step
def counts(xs: list) -> int:
    return len(xs)


@cairn.pipeline
def shared():
    xs = numbers()
    return [grows(xs), counts(xs)]
"""


def test_a_step_changing_its_input_does_not_change_another_steps(project: Path) -> None:
    """Two steps of one worker process take the same input: one appending to it leaves the
    other's copy as stored."""
    (project / "dkmutates.py").write_text(textwrap.dedent(MUTATES))
    from cairn.pipelines import run_pipeline

    try:
        result = run_pipeline("dkmutates:shared", executor="inline")
    finally:
        sys.modules.pop("dkmutates", None)
        while str(project.resolve()) in sys.path:  # put there to import the module
            sys.path.remove(str(project.resolve()))
    assert result.output() == [3, 2]
