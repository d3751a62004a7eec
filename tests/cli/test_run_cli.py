"""cairn run: a command launched as a seeded, tracked run, once or once per seed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import cairn
from cairn.store import Store
from tests.records import own_metrics

SCRIPT = """
import json, os, random, sys
import cairn
with cairn.run() as run:
    cairn.log({"score": random.random(), "hashed": hash("cairn") % 1000})
    print(json.dumps({
        "run": run.id,
        "hashseed": os.environ.get("PYTHONHASHSEED"),
        "params": cairn.config.params.to_dict(),
        "seed": cairn.tracking.current_seed(),
    }))
sys.exit(int(os.environ.get("EXIT_WITH", "0")))
"""


def _cairn_run(project: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    (project / "script.py").write_text(SCRIPT)
    child_env = {**os.environ, **env}  # the project fixture cleared CAIRN_*
    return subprocess.run(
        [sys.executable, "-m", "cairn", "run", *args, "--", sys.executable, "script.py"],
        cwd=project,
        env=child_env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_seed_and_overrides_reach_the_program(project: Path) -> None:
    """--seed sets PYTHONHASHSEED and cairn's seed; --set overrides params; logging attaches."""
    (project / "cairn.yaml").write_text(
        "params:\n  lr: 0.1\n  model:\n    depth: 2\n    width: 8\n"
    )
    done = _cairn_run(project, "--seed", "7", "--set", "lr=0.5", "--set", "model.depth=3")
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.splitlines()[0])
    assert seen["hashseed"] == "7" and seen["seed"] == 7
    assert seen["params"] == {"lr": 0.5, "model": {"depth": 3, "width": 8}}
    record = cairn.get_run(seen["run"])
    assert record.status == "finished"
    assert record.params == {"lr": 0.5, "model.depth": 3, "model.width": 8}
    assert record.tags["cairn.seed"] == "7"
    assert set(own_metrics(record)) == {"score", "hashed"}
    again = _cairn_run(project, "--seed", "7")
    first_run = cairn.get_run(json.loads(again.stdout.splitlines()[0])["run"])
    assert own_metrics(first_run) == own_metrics(record)  # same seed: same random draws and hashes


def test_several_seeds_aggregate_on_the_parent(project: Path) -> None:
    """--seeds runs one child per seed and stores mean, std, min and max on the parent."""
    done = _cairn_run(project, "--seeds", "1,2,3", "--name", "sweep")
    assert done.returncode == 0, done.stderr
    assert "across seeds" in done.stderr  # cairn's own lines: stdout is the programs' alone
    parent = cairn.search_runs("run_name = 'sweep'").iloc[0]
    children = cairn.search_runs(f"parent_run_id = '{parent['run_id']}'")
    assert sorted(children["tags.cairn.seed"]) == ["1", "2", "3"]
    scores = list(children["metrics.score"])
    import statistics

    assert abs(parent["metrics.score.mean"] - statistics.fmean(scores)) < 1e-12
    assert abs(parent["metrics.score.std"] - statistics.stdev(scores)) < 1e-12
    assert parent["metrics.score.min"] == min(scores)
    assert parent["metrics.score.max"] == max(scores)
    assert not any(str(c).startswith("metrics.system/") and ".mean" in str(c) for c in parent.index)
    assert "tags.cairn.seed" not in parent.index or str(parent["tags.cairn.seed"]) == "nan"
    # Each program seeded every installed library itself (NumPy, not imported by it, on import).
    assert all("numpy (on import)" in s.split(",") for s in children["tags.cairn.seeded"])


def test_failing_command_fails_the_run(project: Path) -> None:
    """A command exiting non-zero passes its status on and leaves the run failed."""
    done = _cairn_run(project, "--seed", "1", EXIT_WITH="3")
    assert done.returncode == 3
    run_id = json.loads(done.stdout.splitlines()[0])["run"]
    record = cairn.get_run(run_id)  # the program ended its own run, then exited with 3
    assert record.status == "failed"
    assert record.error == "the command exited with status 3"
    frame = cairn.search_runs()
    assert len(frame) == 1


def test_bad_input_is_one_message(project: Path) -> None:
    """--set without '=', unknown commands and bad seeds exit 1 without a traceback."""
    for args, message in (
        (["--set", "lr", "--", sys.executable, "-c", "pass"], "--set takes key=value"),
        (["--", "no-such-command-here"], "was not found"),
        (["--seeds", "1,x", "--", sys.executable, "-c", "pass"], "--seeds takes"),
        (["--seed", "1", "--seeds", "2", "--", sys.executable, "-c", "pass"], "either --seed"),
    ):
        done = subprocess.run(
            [sys.executable, "-m", "cairn", "run", *args],
            cwd=project,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 1, (args, done.stderr)
        assert message in done.stderr and "Traceback" not in done.stderr


PLAIN = """
import random, numpy
print(random.random(), numpy.random.rand())
"""


def _launch(project: Path, *args: str, **env: str) -> subprocess.CompletedProcess[bytes]:
    """Run ``cairn run ARGS`` in project with env added; stdout and stderr as bytes."""
    return subprocess.run(
        [sys.executable, "-m", "cairn", "run", *args],
        cwd=project,
        env={**os.environ, **env},
        capture_output=True,
        timeout=300,
    )


def test_a_program_that_never_imports_cairn_is_seeded_from_its_start(project: Path) -> None:
    """Two --seed 7 runs of a plain script (random and NumPy at module level) print the same."""
    (project / "plain.py").write_text(PLAIN)
    outputs = [
        _launch(project, "--seed", str(seed), "--", sys.executable, "plain.py")
        for seed in (7, 7, 8)
    ]
    assert all(done.returncode == 0 for done in outputs), outputs[0].stderr
    first, again, other = (done.stdout for done in outputs)
    assert first == again and first != other
    assert len(first.splitlines()) == 1  # the program's line, and nothing of cairn's
    import random

    import numpy as np

    random.seed(7)
    np.random.seed(7)
    assert first.decode().split() == [repr(random.random()), repr(np.random.rand())]


MODULE_LEVEL = """
import json, random
import numpy as np
before = [random.random(), np.random.rand()]  # drawn before any run exists
import cairn
with cairn.run() as run:
    after = [random.random(), np.random.rand()]
print(json.dumps([run.id, before, after]))
"""


def test_draws_before_cairn_run_are_seeded_and_not_replayed_after(project: Path) -> None:
    """Module-level draws repeat across seeded runs, and cairn.run() does not reseed them."""
    (project / "script.py").write_text(MODULE_LEVEL)
    seen = []
    for _ in range(2):
        done = _launch(project, "--seed", "5", "--", sys.executable, "script.py")
        assert done.returncode == 0, done.stderr
        seen.append(json.loads(done.stdout))
    (first_id, *first), (_, *second) = seen
    assert first == second
    before, after = first
    assert before != after  # attaching to the run did not start the streams over
    tags = cairn.get_run(first_id).tags
    assert tags["cairn.seed"] == "5"
    assert {"random", "numpy"} <= set(tags["cairn.seeded"].split(","))


def test_stdout_is_the_commands_alone_byte_for_byte(project: Path) -> None:
    """cairn run's own lines go to stderr; the command's stdout passes unchanged to a pipe."""
    payload = b"1\n\x00\xff\r\nno newline at the end"
    code = f"import sys; sys.stdout.buffer.write({payload!r}); print('oops', file=sys.stderr)"
    done = _launch(project, "--", sys.executable, "-c", code)
    assert done.returncode == 0, done.stderr
    assert done.stdout == payload
    assert b"oops" in done.stderr and b" finished" in done.stderr


SITE = """
import os
os.environ["SITE_RAN"] = "yes"
"""


def test_an_existing_sitecustomize_still_runs(project: Path) -> None:
    """cairn's start-up hook runs the sitecustomize it hides, and leaves no trace on sys.path."""
    site = project / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SITE)
    code = (
        "import os, random, sys; "
        "print(os.environ.get('SITE_RAN'), any('_startup' in p for p in sys.path), "
        "random.random())"
    )
    done = _launch(project, "--seed", "3", "--", sys.executable, "-c", code, PYTHONPATH=str(site))
    assert done.returncode == 0, done.stderr
    ran, on_path, draw = done.stdout.decode().split()
    import random

    random.seed(3)
    assert (ran, on_path, draw) == ("yes", "False", repr(random.random()))


def test_a_broken_sitecustomize_is_reported_as_python_reports_it(project: Path) -> None:
    """A failing sitecustomize under cairn run is told on stderr; the program still runs seeded."""
    site = project / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text("raise RuntimeError('broken site')\n")
    code = "import random; print(random.random())"
    done = _launch(project, "--seed", "3", "--", sys.executable, "-c", code, PYTHONPATH=str(site))
    assert done.returncode == 0, done.stderr
    assert b"Error in sitecustomize" in done.stderr and b"broken site" in done.stderr
    import random

    random.seed(3)
    assert done.stdout.decode().strip() == repr(random.random())


@pytest.mark.parametrize("artifacts", ["local", "s3"], indirect=True)
def test_any_command_gets_its_output_log_and_system_metrics(
    store: Store, artifacts: Store, project: Path
) -> None:
    """A shell command's stdout and stderr become output.log; its process tree is sampled."""
    from cairn.core.settings import get_settings

    settings = get_settings()
    env = {
        "CAIRN_STORE": settings.store_url,
        "CAIRN_ARTIFACTS": settings.artifacts_url,
        "CAIRN_ARTIFACTS_OPTIONS": json.dumps(settings.artifacts_options),
        "CAIRN_CAPTURE__SYSTEM_METRICS_INTERVAL": "0.5",
    }
    # The busy loop in a grandchild: only sampling the whole tree sees its CPU and memory.
    script = (
        "echo hi; echo err >&2; "
        f"{sys.executable} -c 'import time; end = time.time() + 1.5\nwhile time.time() < end: "
        "pass'; echo bye"
    )
    done = _launch(project, "--", "sh", "-c", script, **env)
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"hi\nbye\n"
    run_id = done.stderr.decode().split("run ", 1)[1].split()[0]
    record = cairn.get_run(run_id)
    assert record.status == "finished"
    log = cairn.download_artifacts(run_id, "cairn/output.log", project / "out")
    assert sorted(log.read_text().splitlines()) == ["bye", "err", "hi"]
    cpu = [p.value for p in record.metric_history["system/process_cpu_percent"]]
    rss = [p.value for p in record.metric_history["system/rss_mb"]]
    assert max(cpu) > 5  # the grandchild's busy loop, seen in the command's tree (sh: ~0)
    assert max(rss) > 1


SLEEPER = "import os, time; print(os.getpid(), flush=True); time.sleep(60)"


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_an_interrupted_launch_ends_the_command_and_keeps_its_output(
    project: Path, how: str
) -> None:
    """Ctrl-C (the whole group) or SIGTERM (the launcher) ends command and run, output kept."""
    import signal

    import psutil

    launcher = subprocess.Popen(
        [sys.executable, "-m", "cairn", "run", "--", sys.executable, "-c", SLEEPER],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # a process group of its own, as a terminal's job
    )
    assert launcher.stdout is not None
    child_pid = int(launcher.stdout.readline())
    if how == "ctrl-c":
        os.killpg(launcher.pid, signal.SIGINT)
    else:
        launcher.send_signal(signal.SIGTERM)
    _, err = launcher.communicate(timeout=60)
    assert launcher.returncode == (130 if how == "ctrl-c" else 143), err
    assert not psutil.pid_exists(child_pid) or psutil.Process(child_pid).status() == "zombie"
    (found,) = cairn.tracking.find_runs()
    record = cairn.get_run(found.id)
    assert record.status == "killed"
    log = cairn.download_artifacts(found.id, "cairn/output.log", project / "out")
    assert log.read_text().splitlines()[0] == str(child_pid)


def test_a_reader_that_stops_ends_the_command_as_without_cairn(project: Path) -> None:
    """`cairn run ... | head -1`: the command's next write fails (EPIPE) and the run records it."""
    loop = "import sys\nwhile True: print('y' * 50)"
    launcher = subprocess.Popen(
        [sys.executable, "-m", "cairn", "run", "--", sys.executable, "-c", loop],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert launcher.stdout is not None
    assert launcher.stdout.readline() == b"y" * 50 + b"\n"
    launcher.stdout.close()  # what `head -1` does after its line
    _, err = launcher.communicate(timeout=120)
    assert launcher.returncode == 1, err  # Python's own exit on a broken pipe
    assert b"BrokenPipeError" in err  # the program's own report, relayed to our stderr
    (found,) = cairn.tracking.find_runs()
    assert cairn.get_run(found.id).status == "failed"


def test_on_a_terminal_the_command_gets_a_terminal_and_its_bytes_pass_unchanged(
    project: Path,
) -> None:
    """Where cairn run's stdout is a terminal the command's is one too; bytes arrive as written."""
    import pty
    import termios

    master, slave = pty.openpty()
    attrs = termios.tcgetattr(slave)
    attrs[1] &= ~termios.OPOST  # our terminal adds no "\r": what arrives is what was relayed
    termios.tcsetattr(slave, termios.TCSANOW, attrs)
    code = "import sys; print(sys.stdout.isatty(), sys.stderr.isatty()); print('a\\tb\\x1b[1mc')"
    launcher = subprocess.Popen(
        [sys.executable, "-m", "cairn", "run", "--", sys.executable, "-c", code],
        cwd=project,
        stdout=slave,
        stderr=subprocess.PIPE,
    )
    os.close(slave)
    _, err = launcher.communicate(timeout=120)
    assert launcher.returncode == 0, err
    seen = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: every writer of the terminal has closed
            break
        if not chunk:
            break
        seen += chunk
    os.close(master)
    assert seen == b"True False\na\tb\x1b[1mc\n"  # stderr was a pipe, so the command's is too
    (found,) = cairn.tracking.find_runs()
    log = cairn.download_artifacts(found.id, "cairn/output.log", project / "out")
    assert log.read_bytes() == seen


def test_a_text_only_stdout_still_shows_the_commands_output(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Launched from a notebook (a stdout without .buffer), the command's output is shown."""
    import io

    shown = io.StringIO()  # no .buffer, as a Jupyter kernel's stream
    monkeypatch.setattr(sys, "stdout", shown)
    result = cairn.tracking.launch(["sh", "-c", "printf 'h\\303\\251llo\\n'"])
    monkeypatch.undo()
    assert result.exit_code == 0
    assert shown.getvalue() == "héllo\n"
