"""The processes executor when a step kills the worker that runs it."""

from __future__ import annotations

from pathlib import Path

from tests.pipelines.conftest import WriteModule, by_status, cairn_cli, step_statuses


def test_a_step_that_kills_its_worker_fails_alone(project: Path, write_module: WriteModule) -> None:
    """A step that SIGKILLs its own worker fails after its retries, each in a worker of its own,
    while the steps that shared its pool finish; the message says the worker died."""
    write_module(
        "killing",
        """
        import os, signal, time
        import cairn

        @cairn.step
        def killer() -> int:
            time.sleep(0.3)
            os.kill(os.getpid(), signal.SIGKILL)
            return 0

        @cairn.step
        def innocent(i: int) -> int:
            time.sleep(0.5)
            return i

        @cairn.pipeline
        def p():
            return [killer(), *[innocent(i) for i in range(3)]]
        """,
    )
    done = cairn_cli(project, "pipeline", "run", "killing:p", "--workers", "2")
    assert done.returncode == 1, done.stderr
    statuses = step_statuses(done.stderr)
    assert by_status(statuses, "finished") == {"innocent[0]", "innocent[1]", "innocent[2]"}
    assert statuses["killer"] == "failed"
    assert "worker process died on each of" in done.stderr
    assert "Traceback" not in done.stderr
