"""A ``cairn pipeline run`` in a process of its own: what the scheduler starts for a due
schedule, and what the closed loop starts to retrain.

The child gets an environment built explicitly (this process's stores, the project folder it
runs in, no run of this process's to attach to) and a session of its own, so a Ctrl-C at this
process's terminal reaches this process, which then asks its pipelines to stop rather than
having them killed mid-step. The child writes its stdout and stderr to files that this
process follows and copies to its stderr, each line prefixed ``[label] `` (not to pipes: a
pipeline outlives a parent killed with SIGKILL and ends its run, where a broken pipe would kill
it at its next line), and the pipeline run it made is read from the ``pipeline run <uid>`` line
it prints.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import IO, Any

from cairn.core.checks import check_name, check_path, check_tags, check_text, show
from cairn.core.errors import InvalidInputError, NotFoundError
from cairn.core.settings import get_settings
from cairn.core.threads import start_thread
from cairn.pipelines import _schedule_checks as _checks

# What `cairn pipeline run` says on stderr when it ends: "pipeline run <uid> finished".
_RUN_LINE = re.compile(r"pipeline run ([0-9a-z]{26})\b")
_TAIL_LINES = 20  # of a failed pipeline's stderr, kept as why it failed
_ERROR_CHARS = 4000
_PUMP_JOIN_S = 10.0  # after a pipeline ended, how long its last output may take to arrive
_LABEL_CHARS = 100
_FOLLOW_S = 0.05  # how often the output files are read for new lines
_CHUNK = 1 << 16

# Re-entrant: a signal handler that reports may run while the main thread is writing.
_output_lock = threading.RLock()


@dataclass(frozen=True)
class PipelineExit:
    """How a pipeline started in a process of its own ended."""

    run_id: str | None  # the pipeline run, when it printed one
    exit_code: int | None  # None when the process could not start
    error: str | None  # why it failed (None when it finished)
    duration_s: float
    stopped: bool  # asked to stop (terminate) before it ended

    @property
    def ok(self) -> bool:
        """Whether the pipeline finished (exit code 0)."""
        return self.exit_code == 0


def start_pipeline(
    target: str,
    *,
    params: Mapping[str, str] | None = None,
    tags: Mapping[str, str] | None = None,
    executor: str | None = None,
    root: str,
    label: str,
) -> PipelineProcess:
    """Start ``cairn pipeline run TARGET`` in a process of its own in project folder ``root``;
    its output goes to this process's stderr, each line prefixed ``[label] ``."""
    arguments = _arguments(target, params=params, tags=tags, executor=executor)
    folder = check_path(root, "root (the project folder)")
    try:
        is_folder = folder.is_dir()
    except OSError:  # a name too long for the file system, a folder not readable
        is_folder = False
    if not is_folder:
        raise NotFoundError(
            f"project folder {show(str(folder))} does not exist or is not a folder; give the "
            "folder the pipeline's module is imported from"
        )
    return PipelineProcess(arguments, root=str(folder), label=label)


def _arguments(
    target: str,
    *,
    params: Mapping[str, Any] | None = None,
    tags: Mapping[str, str] | None = None,
    executor: str | None = None,
) -> list[str]:
    """The arguments of ``cairn`` that run pipeline ``target`` with these params (``--set``),
    executor and tags, each checked."""
    args = ["pipeline", "run", _checks.check_target(target)]
    for key, value in _checks.param_texts(params).items():
        args += ["--set", f"{key}={value}"]
    executor = _checks.check_executor(executor)
    if executor:
        args += ["--executor", executor]
    for key, value in (check_tags(tags) or {}).items():
        if "=" in key or not key.strip():
            raise InvalidInputError(
                f"tag name {show(key)} is not allowed: a tag is passed as --tag KEY=VALUE, so "
                "its name must hold a character other than blanks and no '='"
            )
        args += ["--tag", f"{key.strip()}={value}"]
    return args


class PipelineProcess:
    """A ``cairn pipeline run`` in a process of its own, and the output read from it."""

    def __init__(self, arguments: list[str], *, root: str, label: str) -> None:
        """Start ``cairn ARGUMENTS`` in ``root`` (a failure to start is kept, not raised)."""
        self.label = check_name(label, "label", max_length=_LABEL_CHARS)
        if any(char in self.label for char in "\r\n"):
            raise InvalidInputError(
                f"label {show(self.label)} holds a line break; give a one-line label"
            )
        self.root = str(check_path(root, "root (the project folder)"))
        self.arguments = [check_text(arg, "pipeline argument") for arg in arguments]
        self.run_id: str | None = None
        self.stopped = False
        self._process: subprocess.Popen[bytes] | None = None
        self._spawn_error: str | None = None
        self._tail: deque[str] = deque(maxlen=_TAIL_LINES)
        self._pumps: list[threading.Thread] = []
        self._outputs: list[IO[bytes]] = []
        self._clock = time.monotonic()
        try:
            # Its output goes to files this process follows, not to pipes: a pipeline whose
            # parent died (a scheduler SIGKILLed) goes on writing and ends its run properly,
            # instead of dying at its next line; the next scheduler finds the run and uses it.
            self._outputs = [_output_file("out"), _output_file("err")]
            # A session of its own: see the module's docstring.
            self._process = subprocess.Popen(
                [sys.executable, "-m", "cairn", *self.arguments],
                cwd=self.root,
                env=_child_env(self.root),
                stdin=subprocess.DEVNULL,
                stdout=self._outputs[0],
                stderr=self._outputs[1],
                start_new_session=True,
            )
        except OSError as exc:
            self._spawn_error = (
                f"cannot start the pipeline in {self.root}: {exc.strerror or exc}; check that "
                "the project folder still exists"
            )
            self._close_outputs()
            return
        name = f"cairn-pipeline-{self.label}"
        self._pumps = [
            start_thread(self._pump, f"{name}-out", (self._outputs[0].name, False)),
            start_thread(self._pump, f"{name}-err", (self._outputs[1].name, True)),
        ]

    def __repr__(self) -> str:
        state = "ended" if self.poll() else "running"
        return f"PipelineProcess({self.label!r}, {' '.join(self.arguments)!r}, {state})"

    def _pump(self, path: str, is_stderr: bool) -> None:
        """Copy the pipeline's output to this process's stderr as it is written (line by
        line, until the process ended and all it wrote was read); note the run it names."""
        with open(path, "rb") as stream:
            pending = b""
            while True:
                ended = self.poll()  # what it wrote before ending is read below
                chunk = stream.read(_CHUNK)
                if chunk:
                    *lines, pending = (pending + chunk).split(b"\n")
                    for raw in lines:
                        self._line(raw, is_stderr)
                    continue
                if ended:
                    if pending:
                        self._line(pending, is_stderr)
                    return
                time.sleep(_FOLLOW_S)

    def _line(self, raw: bytes, is_stderr: bool) -> None:
        line = raw.decode("utf-8", errors="replace").rstrip("\r")
        if is_stderr:
            self._tail.append(line)
            found = _RUN_LINE.search(line)
            if found:
                self.run_id = found.group(1)
        _write_stderr(f"[{self.label}] {line}")

    def poll(self) -> bool:
        """Whether the pipeline's process has ended (or never started)."""
        return self._process is None or self._process.poll() is not None

    def wait(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for the process to end, then kill it."""
        if self._process is None:
            return
        try:
            self._process.wait(timeout)
        except subprocess.TimeoutExpired:
            self._signal(kill=True)
            self._process.wait()

    def terminate(self) -> None:
        """Ask the pipeline to stop (SIGTERM: it records its run as killed)."""
        if self._process is not None and self._process.poll() is None:
            self.stopped = True
            self._signal(kill=False)

    def _signal(self, *, kill: bool) -> None:
        """Signal the pipeline's process group (its session: any worker it started too)."""
        assert self._process is not None
        if hasattr(os, "killpg"):
            try:
                os.killpg(self._process.pid, signal.SIGKILL if kill else signal.SIGTERM)
                return
            except (ProcessLookupError, PermissionError):
                pass  # the group is gone; the process itself may not be
        if kill:
            self._process.kill()
        else:
            self._process.terminate()

    def _close_outputs(self) -> None:
        """Close and remove the output files (what they held was copied to stderr)."""
        for output in self._outputs:
            output.close()
            with contextlib.suppress(OSError):
                os.unlink(output.name)
        self._outputs = []

    def finish(self) -> PipelineExit:
        """Wait for the pipeline to end and return how it ended."""
        code: int | None = None
        if self._process is not None:
            code = self._process.wait()
            for pump in self._pumps:
                pump.join(_PUMP_JOIN_S)
            self._close_outputs()
        error = self._spawn_error
        if error is None and code != 0:
            error = _failure(code, list(self._tail), stopped=self.stopped)
        return PipelineExit(
            run_id=self.run_id,
            exit_code=code,
            error=error,
            duration_s=time.monotonic() - self._clock,
            stopped=self.stopped,
        )


def _output_file(kind: str) -> IO[bytes]:
    """A temporary file for one of the pipeline's streams (removed when it is read)."""
    return tempfile.NamedTemporaryFile(
        prefix=f"cairn-pipeline-{kind}-", suffix=".log", delete=False
    )


def _write_stderr(line: str) -> None:
    """Write one line on this process's stderr, whole (lines of pipelines and of the process
    itself never interleave)."""
    with _output_lock:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()


def _failure(code: int | None, tail: list[str], *, stopped: bool) -> str:
    """Why a pipeline failed: a first line to show in listings (its exit code and the line
    that says most, an ``error:`` line if it printed one), then the end of its stderr."""
    said = [line for line in tail if line.strip()]
    errors = [line for line in said if line.lstrip().lower().startswith("error")]
    headline = (errors or said or ["it printed nothing on stderr"])[-1].strip()
    why = ", stopped by the scheduler" if stopped else ""
    first = f"exit code {code}{why}: {headline}"[: _ERROR_CHARS // 2]
    rest = "\n".join(said)[-(_ERROR_CHARS - len(first) - 1) :]
    return f"{first}\n{rest}" if rest else first


def _child_env(root: str) -> dict[str, str]:
    """The pipeline's environment, built explicitly: this process's stores, the project
    folder ``root``, and no run of this process's to attach to."""
    settings = get_settings()
    env = dict(os.environ)
    env.pop("CAIRN_RUN_ID", None)
    env.update(
        {
            "CAIRN_STORE": settings.store_url,
            "CAIRN_ARTIFACTS": settings.artifacts_url,
            "CAIRN_ARTIFACTS_OPTIONS": json.dumps(settings.artifacts_options),
            "CAIRN_ROOT": root,
        }
    )
    return env
