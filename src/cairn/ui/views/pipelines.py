"""The pipelines pages: every pipeline that has runs (with its last run and the schedules),
and one pipeline's runs with the selected run's steps drawn as a graph coloured by status."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from cairn import pipelines
from cairn.core.errors import InvalidInputError, NotFoundError
from cairn.ui.page import Viewer, render

router = APIRouter(include_in_schema=False)

RUNS_LOOKED_AT = 500  # newest pipeline runs the list groups by pipeline
RUNS_LISTED = 30  # runs of one pipeline listed on its page
MAX_NAME = 255
MAX_RUN_ID = 100
#: Step statuses as the page names them (a finished step "succeeded").
SHOWN = {"finished": "succeeded"}


def _ran(steps: dict[str, int]) -> int:
    """How many steps of a run did run (everything but cache hits and skipped ones)."""
    return sum(n for status, n in steps.items() if status not in ("cached", "skipped"))


def _run_row(summary: Any) -> dict[str, Any]:
    return {
        "run_id": summary.run_id,
        "name": summary.name,
        "status": summary.status,
        "started": summary.started,
        "took": summary.took,
        "steps": dict(summary.steps),
        "ran": _ran(summary.steps),
        "cached": summary.steps.get("cached", 0),
        "failed": summary.steps.get("failed", 0),
        "skipped": summary.steps.get("skipped", 0),
    }


def _schedule_row(schedule: Any) -> dict[str, Any]:
    return {
        "name": schedule.name,
        "pipeline": schedule.target,
        "trigger": schedule.trigger,
        "enabled": schedule.enabled,
        "next_due_ms": schedule.next_due_ms,
        "last_run_id": schedule.last_run_uid,
        "last_started_ms": schedule.last_started_ms,
        "last_error": schedule.last_error,
    }


@router.get("/pipelines")
@router.get("/pipelines.json")
def pipelines_page(request: Request, caller: Viewer) -> Response:
    """Every pipeline with runs, its newest run, and the schedules."""
    latest: dict[str, dict[str, Any]] = {}
    counts: dict[str, int] = {}
    for summary in pipelines.find_pipeline_runs(limit=RUNS_LOOKED_AT):
        counts[summary.name] = counts.get(summary.name, 0) + 1
        latest.setdefault(summary.name, _run_row(summary))
    rows = [{**row, "runs": counts[name]} for name, row in latest.items()]
    schedules = [_schedule_row(s) for s in pipelines.list_schedules()]
    context = {"pipelines": rows, "schedules": schedules, "looked_at": RUNS_LOOKED_AT}
    return render(request, "pipelines.html", context)


def name_problem(value: str, longest: int) -> str | None:
    """What keeps ``value`` (a name or id typed into a URL) from naming anything, if so."""
    if not value.strip():
        return "is empty"
    if len(value) > longest:
        return f"is {len(value)} characters long, longer than {longest} characters"
    if "\x00" in value:
        return "holds a NUL character ('\\x00')"
    if not value.isprintable():
        return "holds control characters"
    return None


def _checked(value: str, what: str, longest: int) -> str:
    """``value`` if it can name something, else a clear 400."""
    problem = name_problem(value, longest)
    if problem:
        raise InvalidInputError(
            f"{what} {value[:40]!r}{'...' if len(value) > 40 else ''} {problem}; pick one "
            "from the list at /pipelines"
        )
    return value


def _last_line(error: str | None) -> str | None:
    """The line of a step's error (or skip reason) that says what happened: its last."""
    lines = (error or "").strip().splitlines()
    return lines[-1][:300] if lines else None


def _step_row(step: Any) -> dict[str, Any]:
    return {
        "node": step.node,
        "step": step.step,
        "status": SHOWN.get(step.status, step.status),
        "cached": step.cached,
        "cached_from": step.cached_from,
        "run_id": step.run_id,
        "duration_s": step.duration_s,
        "error": _last_line(step.error),
        "upstream": list(step.upstream),
    }


@router.get("/pipelines/{name}")
@router.get("/pipelines/{name}.json")
def pipeline_page(request: Request, caller: Viewer, name: str, run: str | None = None) -> Response:
    """One pipeline's recent runs and the selected run's steps (``?run=<id>``, default the
    newest) as a graph and a table."""
    name = _checked(name, "pipeline name", MAX_NAME)
    recent = pipelines.find_pipeline_runs(name=name, limit=RUNS_LISTED)
    if not recent:
        raise NotFoundError(
            f"no pipeline named {name[:80]!r} has runs; see /pipelines for those that do "
            "(a pipeline shows up here once cairn pipeline run has run it)"
        )
    chosen = recent[0].run_id if run is None else _checked(run, "run id", MAX_RUN_ID)
    graph = pipelines.pipeline_run_graph(chosen)
    if graph.name != name:
        raise NotFoundError(
            f"run {graph.run_id} is a run of pipeline {graph.name[:80]!r}, not of {name[:80]!r}; "
            "pick one of the runs listed on this page"
        )
    steps = [_step_row(s) for s in graph.steps]
    context = {
        "name": name,
        "runs": [_run_row(r) for r in recent],
        "selected": graph.run_id,
        "run": {
            "run_id": graph.run_id,
            "status": graph.status,
            "start_ms": graph.start_ms,
            "end_ms": graph.end_ms,
            "duration_s": None
            if graph.end_ms is None
            else max(0, graph.end_ms - graph.start_ms) / 1000,
        },
        "steps": steps,
        "edges": [{"source": a, "target": b} for a, b in graph.edges],
    }
    return render(request, "pipelines_detail.html", context)
