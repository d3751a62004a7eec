"""Steps run one after another in this process: for debugging (breakpoints work)."""

from __future__ import annotations

from concurrent.futures import Future

from cairn.pipelines._task import StepTask, TaskResult, execute


class InlineExecutor:
    """Runs each step when it is submitted, in the calling thread."""

    def submit(self, task: StepTask) -> Future[TaskResult]:
        """Run ``task`` now; the returned future is already done."""
        future: Future[TaskResult] = Future()
        try:
            future.set_result(execute(task))
        except Exception as exc:  # execute reports the step's own failures; this is cairn's
            future.set_exception(exc)
        return future

    def close(self) -> None:
        """Nothing to stop."""
