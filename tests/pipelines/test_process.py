"""A ``cairn pipeline run`` in a process of its own: its run id, exit code and error come
back, its output reaches stderr with a label, and it can be asked to stop."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

import cairn
from cairn.core.errors import InvalidInputError, NotFoundError
from cairn.pipelines import PipelineExit, PipelineProcess, start_pipeline
from tests.pipelines.conftest import WriteModule
from tests.pipelines.test_schedule import PIPELINES


@pytest.fixture
def flows(project: Path, write_module: WriteModule) -> Path:
    """A project holding the scheduler tests' module ``flows`` (marked, failing, slow);
    returns the file each start appends to."""
    write_module("flows", PIPELINES)
    return project / "starts.txt"


def _start(project: Path, target: str, **options: Any) -> Any:
    options.setdefault("executor", "inline")
    return start_pipeline(target, root=str(project), label="job", **options)


def test_a_finished_pipeline_gives_its_run_id_and_exit_code_0(
    project: Path, flows: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """finish() names the pipeline run the process made, with its params, tags and output."""
    process = _start(project, "flows:marked", params={"tag": "a b"}, tags={"who": "test"})
    ended = process.finish()
    assert isinstance(ended, PipelineExit)
    err = capfd.readouterr().err
    assert (ended.exit_code, ended.error, ended.stopped) == (0, None, False), err
    assert ended.ok and ended.duration_s >= 0 and process.poll()
    assert ended.run_id is not None and cairn.get_run(ended.run_id).tags["who"] == "test"
    assert flows.read_text().startswith("a b ") and len(flows.read_text().splitlines()) == 1
    assert "[job] marked a b" in err and f"[job] pipeline run {ended.run_id}" in err


def test_a_failed_pipeline_gives_why(project: Path, flows: Path) -> None:
    """A pipeline whose step raises ends with its exit code and the error it printed."""
    ended = _start(project, "flows:failing").finish()
    assert ended.exit_code == 1 and not ended.ok and not ended.stopped
    assert ended.error is not None and ended.error.startswith("exit code 1")
    assert "step broke on purpose" in ended.error
    assert ended.run_id is not None


def test_terminate_stops_a_slow_pipeline(project: Path, flows: Path) -> None:
    """terminate() asks a running pipeline to stop; it ends soon, marked as stopped."""
    process = _start(project, "flows:slow")
    deadline = time.monotonic() + 120
    while not flows.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not process.poll()
    process.terminate()
    process.wait(60)
    ended = process.finish()
    assert ended.stopped and ended.exit_code != 0
    assert ended.error is not None and "stopped" in ended.error.splitlines()[0]
    if ended.run_id is not None:
        assert cairn.get_run(ended.run_id).status != "finished"


def test_a_folder_that_is_gone_is_refused_or_gives_why(project: Path) -> None:
    """start_pipeline refuses a project folder that does not exist; a process whose folder
    went away before it started ends at once with no exit code and a clear error."""
    with pytest.raises(NotFoundError, match="does not exist or is not a folder"):
        start_pipeline("flows:marked", root="/nonexistent/cairn-project", label="gone")
    process = PipelineProcess(
        ["pipeline", "run", "flows:marked"], root="/nonexistent/cairn-project", label="gone"
    )
    assert process.poll()
    process.terminate()  # nothing to stop: no error
    ended = process.finish()
    assert (ended.exit_code, ended.run_id, ended.stopped) == (None, None, False)
    assert ended.error is not None and "cannot start the pipeline in /nonexistent" in ended.error


@pytest.mark.parametrize(
    ("target", "options", "said"),
    [
        ("flows", {}, "MODULE:PIPELINE"),
        ("flows:\x00marked", {}, "NUL"),
        ("flows:marked", {"label": "two\nlines"}, "line break"),
        ("flows:marked", {"label": ""}, "must not be empty"),
        ("flows:marked", {"label": "x" * 101}, "the limit is 100"),
        ("flows:marked", {"root": "\ud800"}, "lone surrogate"),
        ("flows:marked", {"root": 3}, "root"),
        ("flows:marked", {"tags": {"a=b": "c"}}, "no '='"),
        ("flows:marked", {"tags": {"a": "\x00"}}, "NUL"),
        ("flows:marked", {"tags": ["a"]}, "mapping"),
        ("flows:marked", {"params": {"": "1"}}, "param name"),
        ("flows:marked", {"params": {"n": float("nan")}}, "cannot be passed"),
        ("flows:marked", {"executor": "threads"}, "is not one of"),
    ],
)
def test_hostile_values_are_refused_with_a_clear_error(
    project: Path, target: Any, options: dict[str, Any], said: str
) -> None:
    """Targets, labels, folders, tags, params and executors that cannot work are refused
    before any process starts."""
    given = {"root": str(project), "label": "job", **options}
    with pytest.raises(InvalidInputError, match=said):
        start_pipeline(target, **given)
