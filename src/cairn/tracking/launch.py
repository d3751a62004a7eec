"""``cairn run``: launch any command as a tracked run, with one seed or several.

The launcher creates the run, then starts the command with an environment built for it
(cairn never writes its own ``os.environ``): ``PYTHONHASHSEED`` and ``CAIRN_SEED`` (which
only take effect when set before the interpreter starts), ``CAIRN_RUN_ID`` so that the
program's own ``cairn.run()`` / ``cairn.log`` attach to the run, ``CAIRN_PARAMS`` with the
``--set`` overrides applied, and the store URLs so that the program logs where the launcher
does. With several seeds, each seed is a child run of one parent, and the parent gets every
metric's mean, standard deviation, min and max across seeds.

Every Python process of the command is seeded from its interpreter's start, before the
program's first line, also when it never imports cairn: ``PYTHONPATH`` starts with a folder
holding cairn's ``sitecustomize`` (``_startup/``), which applies ``CAIRN_SEED`` and then runs the
``sitecustomize`` it hides. The launcher owns the command's stdout and stderr (relaying them
byte for byte, into ``cairn/output.log`` as well) and samples the command's whole process tree
as the run's ``system/*`` metrics, so any command is recorded, Python or not. Its own lines go
to stderr: the command's stdout stays clean for a pipe.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import statistics
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cairn.core.errors import InvalidInputError
from cairn.core.ids import now_ms
from cairn.core.logging import logger
from cairn.core.settings import CaptureSettings, Settings, get_settings
from cairn.store.db.schema import runs
from cairn.tracking import _implicit, _output, _queries, system_metrics
from cairn.tracking.run import Run, _merge, _start
from cairn.tracking.seed import MAX_SEED

#: The folder of cairn's start-up hook, put first on the command's PYTHONPATH.
STARTUP_DIR = Path(__file__).resolve().parent / "_startup"
GRACE_S = 10.0  # after SIGINT/SIGTERM, how long the command may take to end on its own
DRAIN_S = 5.0  # after the command ended, how long its pipes may stay open (background jobs)


@dataclass(frozen=True)
class LaunchResult:
    """What ``launch`` did: the run (the parent, with several seeds) and the exit status."""

    run_id: str
    exit_code: int
    child_ids: list[str] = field(default_factory=list)
    aggregates: dict[str, float] = field(default_factory=dict)


def parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    """Turn ``["optim.lr=0.1", "name=adam"]`` into nested params, values typed by YAML."""
    nested: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip() or any(not part for part in key.strip().split(".")):
            raise InvalidInputError(
                f"--set takes key=value (nested keys with dots), got {item!r}; "
                "e.g. --set optim.lr=0.01"
            )
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw  # not YAML: keep the text as written
        node = nested
        *parents, leaf = key.strip().split(".")
        for part in parents:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise InvalidInputError(
                    f"--set {item!r} conflicts with an earlier --set of {part!r}"
                )
            node = child
        node[leaf] = value
    return nested


def parse_seeds(text: str) -> list[int]:
    """Parse ``"1,2,3"`` into seeds, each an integer from 0 to 2**32 - 1."""
    seeds = []
    for raw in text.split(","):
        part = raw.strip()
        if not part.isdecimal() or int(part) > MAX_SEED:
            raise InvalidInputError(
                f"--seeds takes comma-separated integers from 0 to {MAX_SEED}, got {text!r}; "
                "e.g. --seeds 1,2,3"
            )
        seeds.append(int(part))
    if len(set(seeds)) != len(seeds):
        raise InvalidInputError(f"--seeds {text!r} repeats a seed; give each seed once")
    return seeds


def launch(
    command: Sequence[str],
    *,
    seed: int | None = None,
    seeds: Sequence[int] | None = None,
    overrides: Mapping[str, Any] | None = None,
    name: str | None = None,
    experiment: str | None = None,
) -> LaunchResult:
    """Run ``command`` as a tracked run (or one child run per seed); return what happened."""
    if not command:
        raise InvalidInputError(
            "cairn run needs a command after '--', e.g. cairn run -- python train.py"
        )
    if shutil.which(command[0]) is None:
        raise InvalidInputError(
            f"command {command[0]!r} was not found; check its name, or give its path"
        )
    if seed is not None and seeds:
        raise InvalidInputError("give either --seed or --seeds, not both")
    if seed is not None and (seed < 0 or seed > MAX_SEED):
        raise InvalidInputError(f"--seed takes an integer from 0 to {MAX_SEED}, got {seed}")
    params = dict(overrides or {})
    if not seeds:
        run = _start(name, experiment, params, None, launcher=True)
        chosen = seed if seed is not None else int.from_bytes(os.urandom(4), "big")
        code = _run_child(run, command, chosen, params)
        return LaunchResult(run.id, code)
    parent = _start(name, experiment, params, None, launcher=True)
    children, codes = [], []
    try:
        for value in seeds:
            child = _start(f"{parent.name}-seed{value}", None, params, None, launcher=True)
            children.append(child.id)
            codes.append(_run_child(child, command, value, params))
        aggregates = aggregate_children(parent, children)
    except BaseException as exc:
        parent.__exit__(type(exc), exc, exc.__traceback__)
        raise
    code = next((c for c in codes if c != 0), 0)
    parent.end("finished" if code == 0 else "failed", None if code == 0 else _exit_text(code))
    return LaunchResult(parent.id, code, children, aggregates)


def _child_env(
    run: Run, seed: int, params: Mapping[str, Any], settings: Settings
) -> dict[str, str]:
    effective = _merge(settings.params, params)
    env = dict(os.environ)  # the child's own environment, built explicitly
    # Ours first, once (a `cairn run` inside a `cairn run` finds it there already).
    python_path = [str(STARTUP_DIR)] + [
        p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and p != str(STARTUP_DIR)
    ]
    env.update(
        {
            "PYTHONHASHSEED": str(seed),
            "CAIRN_SEED": str(seed),
            "CAIRN_RUN_ID": run.id,
            "CAIRN_PARAMS": json.dumps(_plain(effective)),
            "CAIRN_STORE": settings.store_url,
            "CAIRN_ARTIFACTS": settings.artifacts_url,
            "CAIRN_ARTIFACTS_OPTIONS": json.dumps(settings.artifacts_options),
            "CAIRN_ROOT": str(settings.root),
            # First, so that its sitecustomize seeds the program before anything else runs.
            "PYTHONPATH": os.pathsep.join(python_path),
        }
    )
    # The start-up hook turns autologging on when the program imports a framework.
    if settings.capture.autolog:
        env["CAIRN_AUTOLOG"] = "1"
    else:
        env.pop("CAIRN_AUTOLOG", None)
    # cuBLAS is only deterministic with a fixed workspace, chosen before CUDA starts.
    env.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    return env


def _run_child(run: Run, command: Sequence[str], seed: int, params: Mapping[str, Any]) -> int:
    settings = get_settings()
    env = _child_env(run, seed, params, settings)
    run.set_tags({"cairn.seed": seed, "cairn.command": shlex.join(command)})
    switches = settings.capture
    output = None
    if switches.output:
        try:
            output = _output.CommandOutput(settings.home_dir / "tmp" / f"output-{run.id}.log")
        except OSError as exc:  # the command runs all the same, its output not recorded
            logger.warning("cannot record the output of %s: %s", run.id, exc)
    stdout, stderr = output.child_streams() if output is not None else (None, None)
    try:
        process = subprocess.Popen(list(command), env=env, stdout=stdout, stderr=stderr)
    except OSError as exc:
        problem = f"could not start {command[0]!r}: {exc.strerror or exc}"
        if output is not None:
            output.abandon()
        run.end("failed", problem)
        raise InvalidInputError(f"{problem}; check that it is a program you may run") from exc
    if output is not None:
        output.start(process)
    sampling = switches.system_metrics and _sample(run, process.pid, switches)
    try:
        _wait_for_exit(process)
    except BaseException as exc:  # Ctrl-C, SIGTERM: the command ends too, and is recorded
        _stop(process, interrupted=isinstance(exc, KeyboardInterrupt))
        _record_end(run, process, output, sampling)
        if isinstance(exc, KeyboardInterrupt):
            run.end("killed", "interrupted (SIGINT) while the command ran")
        else:
            run.__exit__(type(exc), exc, exc.__traceback__)
        raise
    code = _record_end(run, process, output, sampling)
    if code == 0:
        run.end("finished")
    else:
        run.end("failed", _exit_text(code))
        # The program may have ended its run before exiting with an error: the run failed.
        run._writer.fail(run._db_id, now_ms(), _exit_text(code))
    return code


def _sample(run: Run, pid: int, switches: CaptureSettings) -> bool:
    try:
        system_metrics.start_sampling(run, switches.system_metrics_interval, pid=pid)
    except Exception as exc:  # psutil.Error: the command runs all the same
        logger.warning("cannot sample the system metrics of %s: %s", run.id, exc)
        return False
    return True


def _wait_for_exit(process: subprocess.Popen[bytes]) -> None:
    """Wait for the command to exit, without reaping it where the platform allows."""
    if hasattr(os, "waitid"):
        # Exited but not reaped yet: the final sample still reads its CPU time and children.
        os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOWAIT)
    else:
        process.wait()


def _stop(process: subprocess.Popen[bytes], *, interrupted: bool) -> None:
    """End the command after we were interrupted: let it end itself, then make it."""
    try:
        if not interrupted:  # Ctrl-C reached the command already (same process group)
            process.terminate()
        try:
            process.wait(GRACE_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    except BaseException:  # a second Ctrl-C: no more waiting
        process.kill()
        process.wait()


def _record_end(
    run: Run,
    process: subprocess.Popen[bytes],
    output: _output.CommandOutput | None,
    sampling: bool,
) -> int:
    """Take the last sample of the ended command, reap it, store its output; its status."""
    if sampling:
        system_metrics.stop_sampling(run)
    code = process.wait()  # reaped only now (see _wait_for_exit)
    if output is not None:
        _implicit.store_output(run, output.finish(DRAIN_S))
    return code


def _exit_text(code: int) -> str:
    return f"the command exited with status {code}" if code > 0 else f"killed by signal {-code}"


def _plain(data: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _plain(v) if isinstance(v, Mapping) else v for k, v in data.items()}


def aggregate_children(parent: Run, child_ids: Sequence[str]) -> dict[str, float]:
    """Log on ``parent`` each metric's mean, std, min and max over the children's latest values."""
    values: dict[str, list[float]] = {}
    with parent._store.db.read() as conn:
        # Latest values only: the children's full metric histories are not needed here.
        children = _queries.search(conn, runs.c.uid.in_(list(child_ids)), [], None, None, True)
    for child in children:
        for key, value in child.metrics.items():
            if not key.startswith("system/"):  # machine load, not a result of the seed
                values.setdefault(key, []).append(value)
    aggregates: dict[str, float] = {}
    for key, series in sorted(values.items()):
        aggregates[f"{key}.mean"] = statistics.fmean(series)
        aggregates[f"{key}.std"] = statistics.stdev(series) if len(series) > 1 else 0.0
        aggregates[f"{key}.min"] = min(series)
        aggregates[f"{key}.max"] = max(series)
    if aggregates:
        parent.log(aggregates, step=0)
        parent.set_tags({"cairn.seeds": len(child_ids)})
    return aggregates
