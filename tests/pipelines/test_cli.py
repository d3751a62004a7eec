"""``cairn pipeline``: run, show, ls and resume in real processes, and every kind of bad input a
clear message with exit code 1, no traceback, and no step recorded as finished that did not
finish."""

from __future__ import annotations

from pathlib import Path

import pytest

import cairn
from cairn.cli.main import main
from cairn.store import get_store
from tests.pipelines.conftest import WriteModule, cairn_cli, run_id_of, step_statuses

FLOW = """
from pathlib import Path

import cairn

HERE = Path(__file__).parent


@cairn.step
def prepare() -> int:
    return 2


@cairn.step
def fragile(x: int) -> int:
    if (HERE / "broken").exists():
        raise ValueError("fragile cannot go on: the input is broken")
    return x * 3


@cairn.step
def report(y: int) -> str:
    print(f"the answer is {y}")
    return str(y)


@cairn.step
def aside() -> str:
    print("aside ran")
    return "aside"


@cairn.step
def generator() -> object:
    return (i for i in range(3))


@cairn.step
def missing() -> int:
    return len(cairn.data.load("no-such-dataset"))


def helper() -> int:
    return 1


@cairn.pipeline
def flow(factor: int = 1):
    return [report(fragile(prepare())), aside()]


@cairn.pipeline
def unstorable():
    return [generator(), aside()]


@cairn.pipeline
def reads_missing():
    return missing()


@cairn.pipeline
def steering():
    if prepare():
        return aside()
    return None


@cairn.pipeline
def looping():
    return looping()
"""


def test_a_failed_run_is_shown_and_resumed_from_the_command_line(
    project: Path, write_module: WriteModule
) -> None:
    """A step raising exits 1 with the run id and the resume hint on stderr (stdout holds only
    what steps print); runs show has the error; resume runs only the failed step and below."""
    write_module("cli_flow", FLOW)
    (project / "broken").touch()
    failed = cairn_cli(project, "pipeline", "run", "cli_flow:flow")  # the processes executor
    assert failed.returncode == 1, failed.stderr
    assert "Traceback" not in failed.stderr
    assert failed.stdout == "aside ran\n"
    run_id = run_id_of(failed.stderr)
    assert f"cairn pipeline resume {run_id}" in failed.stderr
    assert step_statuses(failed.stderr) == {
        "prepare": "finished",
        "fragile": "failed",
        "report": "skipped",
        "aside": "finished",
    }
    assert "ValueError: fragile cannot go on" in failed.stderr
    record = cairn.get_run(run_id)
    assert record.status == "failed"
    assert "step fragile failed: ValueError: fragile cannot go on" in (record.error or "")
    shown = cairn_cli(project, "runs", "show", run_id)
    assert shown.returncode == 0 and "fragile cannot go on" in shown.stdout + shown.stderr

    (project / "broken").unlink()
    resumed = cairn_cli(project, "pipeline", "resume", run_id, "--executor", "inline")
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout == "the answer is 6\n"
    assert step_statuses(resumed.stderr) == {
        "prepare": "cached",
        "fragile": "finished",
        "report": "finished",
        "aside": "cached",
    }


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run the CLI in this process; return (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


def test_show_ls_and_status_read_back_the_runs(
    capsys: pytest.CaptureFixture[str], project: Path, write_module: WriteModule
) -> None:
    """show prints the graph with each step's last run, ls the pipeline runs, status exits 0
    when all is cached and 1 with the reason when a param changes."""
    write_module("cli_flow", FLOW)
    code, _, err = cli(capsys, "pipeline", "run", "cli_flow:flow", "--executor", "inline")
    assert code == 0, err
    run_id = run_id_of(err)
    code, out, _ = cli(capsys, "pipeline", "show", "cli_flow:flow")
    assert code == 0
    assert "pipeline flow (cli_flow:flow): 4 steps" in out
    assert "fragile <- prepare" in out and "last finished in run" in out
    code, out, _ = cli(capsys, "pipeline", "show", run_id)
    assert code == 0 and f"pipeline run {run_id} (flow) finished, 4 steps" in out
    code, out, _ = cli(capsys, "pipeline", "ls")
    assert code == 0 and run_id in out and "4 finished" in out
    code, out, err = cli(capsys, "pipeline", "status", "cli_flow:flow")
    assert code == 0 and "all 4 steps are up to date" in err
    code, out, err = cli(capsys, "pipeline", "status", "cli_flow:flow", "--set", "factor=2")
    assert code == 0 and "all 4 steps are up to date" in err  # no step takes factor


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "cli_flow:flow", "--set", "nope=1"], "pipeline flow has no param 'nope'"),
        (["status", "cli_flow:flow", "--set", "nope=1"], "pipeline flow has no param 'nope'"),
        (["run", "nomodule:x"], "cannot find module 'nomodule'"),
        (["run", "cli_flow:helper"], "cli_flow:helper is a function, not a pipeline"),
        (["run", "cli_flow:absent"], "module cli_flow has no 'absent'"),
        (["run", "cli_flow"], "a pipeline is named MODULE:PIPELINE"),
        (["run", "cli_flow:flow", "--force", "nope"], "--force 'nope': pipeline flow has no"),
        (["run", "cli_flow:flow", "--only", "nope"], "--only 'nope': pipeline flow has no"),
        (["run", "cli_flow:steering"], "cannot test the output of step prepare"),
        (["run", "cli_flow:looping"], "(a cycle)"),
        (["run", "cli_flow:flow", "--executor", "bogus"], "unknown executor 'bogus'"),
        (["run", "cli_flow:flow", "--tag", "novalue"], "--tag takes KEY=VALUE"),
        (["resume", "01m91f14e1dat0rv5vb6gqvs84"], "01m91f14e1dat0rv5vb6gqvs84"),
    ],
    ids=["unknown-set", "status-unknown-set", "no-module", "not-a-pipeline", "no-attribute",
         "no-colon", "force-unknown", "only-unknown", "control-flow", "cycle", "executor",
         "tag", "resume-unknown"],
)  # fmt: skip
def test_bad_input_is_one_message_and_no_run(
    capsys: pytest.CaptureFixture[str],
    project: Path,
    write_module: WriteModule,
    args: list[str],
    message: str,
) -> None:
    """Each bad command exits 1 with a message naming the problem, no traceback, no run."""
    write_module("cli_flow", FLOW)
    get_store()  # the project exists (status and resume refuse a folder without one)
    code, out, err = cli(capsys, "pipeline", *args)
    assert code == 1
    assert message in " ".join(err.split()), err
    assert "Traceback" not in out + err and out == ""
    assert len(cairn.search_runs()) == 0


@pytest.mark.parametrize(
    ("target", "failed", "message"),
    [
        ("cli_flow:unstorable", "generator", "step generator returned a generator, which cannot"),
        ("cli_flow:reads_missing", "missing", "no-such-dataset"),
    ],
    ids=["unstorable-output", "missing-dataset"],
)
def test_a_step_that_cannot_finish_fails_alone(
    capsys: pytest.CaptureFixture[str],
    project: Path,
    write_module: WriteModule,
    target: str,
    failed: str,
    message: str,
) -> None:
    """An output that cannot be stored or a missing catalog dataset fails its step with the
    reason (exit 1), and nothing that did not finish reads as finished."""
    write_module("cli_flow", FLOW)
    code, out, err = cli(capsys, "pipeline", "run", target, "--executor", "inline")
    assert code == 1
    assert message in err and "Traceback" not in out + err
    statuses = step_statuses(err)
    assert statuses[failed] == "failed"
    assert set(statuses.values()) <= {"failed", "finished"}
    run_id = run_id_of(err)
    steps = cairn.search_runs(filter=f"parent_run_id = '{run_id}'")
    by_node = dict(zip(steps["run_name"], steps["status"], strict=True))
    assert by_node == statuses


def test_the_typer_command_and_the_quick_path_print_the_same_lines(
    project: Path, write_module: WriteModule, capsys: pytest.CaptureFixture[str]
) -> None:
    """The full command (a terminal's, with Typer and rich) and the path CI and cron take
    (stderr a pipe, without Typer) print the same step and summary lines."""
    write_module("flow", FLOW)
    from cairn.cli._app import run_app

    with pytest.raises(SystemExit) as typer_exit:
        run_app(["pipeline", "run", "flow:flow", "--executor", "inline"])
    assert typer_exit.value.code in (0, None)
    in_process = capsys.readouterr().err
    piped = cairn_cli(project, "pipeline", "run", "flow:flow", "--executor", "inline")
    assert piped.returncode == 0, piped.stderr
    first, second = step_statuses(in_process), step_statuses(piped.stderr)
    assert first and set(first.values()) == {"finished"}
    assert second == dict.fromkeys(first, "cached")
    for text in (in_process, piped.stderr):
        assert f"finished ({len(first)} " in text


def test_an_option_the_quick_path_does_not_know_goes_to_the_full_command(
    project: Path, write_module: WriteModule
) -> None:
    """A misspelt option is answered by the full command (usage error, exit 2), and --help
    shows the command's help."""
    write_module("flow", FLOW)
    wrong = cairn_cli(project, "pipeline", "run", "flow:flow", "--exector", "inline")
    assert wrong.returncode == 2
    assert "No such option" in wrong.stderr
    helped = cairn_cli(project, "pipeline", "run", "--help")
    assert helped.returncode == 0
    assert "--executor" in helped.stdout
