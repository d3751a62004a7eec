"""Helpers for the pipelines tests: project modules written per test (and forgotten after it),
the ``cairn`` command in a subprocess, and the step statuses a run reports."""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

#: A progress line on stderr: mark, node, status (``✓ train[1]  finished  0.01s  ...``).
_PROGRESS = re.compile(r"^\S\s+(\S+)\s+(finished|cached|failed|skipped|killed)\b")
_RUN_LINE = re.compile(r"pipeline run (\w+) (finished|failed)")

WriteModule = Callable[[str, str], Path]


@pytest.fixture
def write_module(project: Path) -> Iterator[WriteModule]:
    """Write ``name.py`` into the project; the test's imports of such modules are forgotten
    before and after, so each test imports its own."""
    written: list[str] = []

    def write(name: str, text: str) -> Path:
        path = project / f"{name.replace('.', '/')}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
        written.append(name)
        sys.modules.pop(name, None)
        importlib.invalidate_caches()
        return path

    yield write
    for name in written:
        sys.modules.pop(name, None)
    root = str(project.resolve())
    while root in sys.path:
        sys.path.remove(root)


def cairn_cli(
    project: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``cairn ARGS`` in a subprocess with the project as its working directory."""
    return subprocess.run(
        [sys.executable, "-m", "cairn", *args],
        cwd=project,
        env={**os.environ, **(env or {})},  # the project fixture cleared CAIRN_*
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def step_statuses(stderr: str) -> dict[str, str]:
    """``{node: status}`` from the progress lines a ``cairn pipeline run`` printed."""
    found: dict[str, str] = {}
    for line in stderr.splitlines():
        match = _PROGRESS.match(line)
        if match:
            found[match.group(1)] = match.group(2)
    return found


def run_id_of(stderr: str) -> str:
    """The pipeline run id from ``pipeline run <uid> finished|failed`` on stderr."""
    match = _RUN_LINE.search(stderr)
    assert match, stderr
    return match.group(1)


def by_status(statuses: dict[str, str], status: str) -> set[str]:
    """The nodes with ``status``."""
    return {node for node, each in statuses.items() if each == status}
