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


def test_a_process_with_native_threads_gets_workers_that_do_not_hang(
    project: Path, write_module: WriteModule
) -> None:
    """run_pipeline in a process where pyarrow already started its threads (a notebook that
    loaded data) finishes: its workers come from a forkserver, not a fork that would copy a
    lock held by one of those threads."""
    write_module(
        "reading",
        """
        import cairn

        @cairn.step
        def read(name):
            return len(cairn.data.load(name))

        @cairn.pipeline
        def p():
            return read("t")
        """,
    )
    (project / "driver.py").write_text(
        "import cairn\n"
        "if __name__ == '__main__':\n"
        "    with open('t.csv', 'w') as f:\n"
        "        f.write('a,b\\n' + ''.join(f'{i},{i}\\n' for i in range(50000)))\n"
        "    cairn.data.add('t.csv', name='t')\n"
        "    cairn.data.load('t')\n"
        "    result = cairn.pipelines.run_pipeline('reading:p', executor='processes')\n"
        "    print(result.status, result.output())\n"
    )
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "driver.py"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "finished 50000"
