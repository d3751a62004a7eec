"""What ``cairn pipeline run`` prints, and the command itself where stderr is not a terminal.

A run from CI, cron or the scheduler (stderr a pipe or a file) is parsed here and run
without Typer or rich, which would cost it a third of a cached run; it prints the same lines
as the full command (without colours), and anything this parser does not know (``--help``, a
misspelt option) goes to the Typer command, which says what is wrong.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cairn.pipelines import PipelineResult, StepOutcome

MARKS = {"finished": "✓", "cached": "≡", "failed": "✗", "skipped": "-", "killed": "!"}
COLOURS = {"finished": "green", "cached": "cyan", "failed": "red", "skipped": "yellow"}
INTERRUPTED = (
    "the pipeline run and its running steps were recorded as killed; the steps that "
    "finished are kept (cairn pipeline ls, then cairn pipeline resume RUN)"
)
_REPEATED = {"--set": "sets", "--force": "force", "--tag": "tags"}
_SINGLE = {"--executor": "executor", "--only": "only", "--workers": "workers"}


def step_line(outcome: StepOutcome) -> tuple[str, str]:
    """A step's line as it ends: its mark, and the rest (node, status, time, detail)."""
    took = f"{outcome.duration_s:.2f}s" if outcome.status == "finished" else ""
    detail = outcome.error or (
        f"from run {outcome.cached_from}" if outcome.cached_from else outcome.reason
    )
    rest = f"{outcome.node:<24} {outcome.status:<8} {took:>7}  {detail or ''}"
    return MARKS.get(outcome.status, "?"), rest.rstrip()


def summary_lines(result: PipelineResult) -> list[str]:
    """The closing lines: how the run ended with its step counts, and what to do on failure."""
    counts: dict[str, int] = {}
    for outcome in result.steps:
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    lines = [f"pipeline run {result.run_id} {result.status} ({summary})"]
    if result.status != "finished":
        lines.append(
            f"see what failed: cairn runs show {result.run_id}; run the rest once fixed: "
            f"cairn pipeline resume {result.run_id}"
        )
    return lines


def parse_tags(items: list[str] | None) -> dict[str, str]:
    """``--tag KEY=VALUE`` items as a mapping."""
    from cairn.core.errors import InvalidInputError

    tags: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InvalidInputError(f"--tag takes KEY=VALUE, got {item!r:.80}")
        tags[key.strip()] = value
    return tags


def _parse(args: list[str]) -> dict[str, Any] | None:
    """The options of ``pipeline run`` (after ``run``), or None for anything else."""
    found: dict[str, Any] = {"sets": [], "force": [], "tags": [], "executor": "processes"}
    target = None
    items = iter(args)
    for item in items:
        name, eq, value = item.partition("=") if item.startswith("--") else (item, "", "")
        if name in _REPEATED or name in _SINGLE:
            if not eq:
                value = next(items, None)  # type: ignore[assignment]
                if value is None:
                    return None
            if name in _REPEATED:
                found[_REPEATED[name]].append(value)
            else:
                found[_SINGLE[name]] = value
        elif item.startswith("-") or target is not None:
            return None  # --help, an unknown option, a second target: Typer answers
        else:
            target = item
    if target is None:
        return None
    workers = found.get("workers")
    if workers is not None:
        if not workers.isdigit() or not 1 <= int(workers) <= 1024:
            return None
        found["workers"] = int(workers)
    found["target"] = target
    return found


def quick_run(args: list[str]) -> int | None:
    """Run ``cairn pipeline run ARGS`` without Typer when stderr is not a terminal; return
    the exit status, or None when the full command should answer instead."""
    if sys.stderr.isatty():
        return None  # a person watching: the full command draws a progress bar
    parsed = _parse(args)
    if parsed is None:
        return None
    from cairn.core.errors import CairnError

    def show(outcome: StepOutcome) -> None:
        mark, rest = step_line(outcome)
        sys.stderr.write(f"{mark} {rest}\n")
        sys.stderr.flush()

    try:
        from cairn import pipelines
        from cairn.tracking import parse_overrides

        result = pipelines.run_pipeline(
            parsed["target"],
            parse_overrides(parsed["sets"]),
            executor=parsed["executor"],
            force=parsed["force"],
            only=parsed.get("only"),
            workers=parsed.get("workers"),
            on_step=show,
            tags=parse_tags(parsed["tags"]),
        )
    except CairnError as exc:
        from cairn.cli._render import fail

        fail(exc)
    except KeyboardInterrupt:
        from cairn.cli._interrupt import interrupted

        interrupted(INTERRUPTED)
    for line in summary_lines(result):
        sys.stderr.write(line + "\n")
    return 0 if result.status == "finished" else 1
