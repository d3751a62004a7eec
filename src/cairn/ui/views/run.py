"""One run's page: what it was (name, status, times, parent, error), how to run it again (the
command and the seed), its params and tags, its metrics as charts (drawn from a thinned series
each: a million points draw as a few thousand without losing a spike), its artifacts with
previews and downloads, and the texts it captured (git diff, packages, output log).

Routes: ``/runs/<id>`` (and ``.json``), ``/runs/<id>/series.json?key=&x=&points=``,
``/runs/<id>/artifacts/<path>`` (the bytes, as an attachment) and
``/runs/<id>/preview/<path>`` (the preview as a piece of HTML). Run ids may be unique prefixes.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse

from cairn import tracking
from cairn.core.errors import ArtifactNotFoundError, InvalidInputError
from cairn.server.api import plain
from cairn.ui.page import Viewer, quote, render, templates
from cairn.ui.views import run_artifacts as arts

router = APIRouter(include_in_schema=False)

X_AXES = ("step", "time")
SERIES_POINTS = 2000
SYSTEM_PREFIX = "system/"
# Safe headers for bytes a run logged: never run as a page of this site (an SVG's script).
RAW_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; img-src 'self' data:; "
    "style-src 'unsafe-inline'; sandbox",
    "X-Content-Type-Options": "nosniff",
}
# The captured tags, in the order the page shows them: (label, tag).
CAPTURED_TAGS = (
    ("command", "cairn.command"),
    ("seed", "cairn.seed"),
    ("seeded libraries", "cairn.seeded"),
    ("seeds", "cairn.seeds"),
    ("git commit", "cairn.git.commit"),
    ("git branch", "cairn.git.branch"),
    ("git dirty", "cairn.git.dirty"),
    ("git remote", "cairn.git.remote"),
    ("host", "cairn.host"),
    ("platform", "cairn.platform"),
    ("cpu", "cairn.cpu"),
    ("cpu count", "cairn.cpu_count"),
    ("ram (GB)", "cairn.ram_gb"),
    ("gpus", "cairn.gpus"),
    ("python", "cairn.python"),
    ("executable", "cairn.executable"),
    ("entry point", "cairn.entry_point"),
    ("notebook", "cairn.notebook"),
    ("cwd", "cairn.cwd"),
)


def check_x(x: str) -> str:
    """``x`` if the charts can be drawn against it."""
    if x not in X_AXES:
        shown = x if len(x) <= 40 else x[:40] + "…"
        raise InvalidInputError(
            f"x is 'step' or 'time' (seconds since the run started), not {shown!r}"
        )
    return x


def is_on(flag: str) -> bool:
    """Whether a checkbox in the query is ticked (``log=1``)."""
    return flag.lower() in ("1", "true", "on", "yes")


def _captured(tags: dict[str, str]) -> list[dict[str, str]]:
    known = [(label, key) for label, key in CAPTURED_TAGS if key in tags]
    listed = {key for _, key in known}
    rest = sorted((key.removeprefix("cairn."), key) for key in tags if key.startswith("cairn."))
    known += [(label, key) for label, key in rest if key not in listed]
    return [{"label": label, "key": key, "value": tags[key]} for label, key in known]


def _metrics(record: Any, counts: dict[str, int], system: bool) -> list[dict[str, Any]]:
    keys = sorted(k for k in record.metrics if k.startswith(SYSTEM_PREFIX) == system)
    return [
        {"key": key, "value": record.metrics[key], "points": counts.get(key, 0)} for key in keys
    ]


# Decorators apply from the bottom: the .json route must be registered (and tried) first.
@router.get("/runs/{run_id}")
@router.get("/runs/{run_id}.json")
def run_page(
    request: Request,
    caller: Viewer,
    run_id: str,
    x: str = "step",
    log: str = "",
    artifact: str | None = None,
) -> Response:
    """Everything about one run; ``artifact`` picks the artifact to preview."""
    record = tracking.get_run(run_id, history=False)  # the charts ask for their points
    counts = tracking.metric_counts(record.id)
    check_x(x)
    uid = record.id
    tags = record.tags
    preview = None
    if artifact is not None:
        preview = arts.preview(uid, arts.find(record.artifacts, uid, artifact))
    context = {
        "run": {
            "id": uid,
            "name": record.name,
            "experiment": record.experiment,
            "status": record.status,
            "user": record.user,
            "start_ms": record.start_ms,
            "end_ms": record.end_ms,
            "duration_s": record.duration_s,
            "parent_id": record.parent_id,
            "error": record.error,
            "deleted": record.deleted,
        },
        "links": {
            "lineage": f"/lineage?of={quote('runs:/' + uid)}",
            "compare": f"/compare?runs={quote(uid)}",
            "series": f"/runs/{quote(uid)}/series.json",
            "parent": f"/runs/{quote(record.parent_id)}" if record.parent_id else None,
        },
        "command": tags.get("cairn.command"),
        "seed": tags.get("cairn.seed"),
        "seeded": tags.get("cairn.seeded"),
        "params": sorted(record.params.items()),
        "tags": sorted((k, v) for k, v in tags.items() if not k.startswith("cairn.")),
        "captured": _captured(tags),
        "metrics": _metrics(record, counts, system=False),
        "system_metrics": _metrics(record, counts, system=True),
        "x": x,
        "log": is_on(log),
        "artifact_count": len(record.artifacts),
        "folders": arts.folders(uid, record.artifacts),
        "selected": artifact,
        "preview": preview,
        "texts": arts.captured_texts(uid, record.artifacts),
    }
    return render(request, "run.html", context)


@router.get("/runs/{run_id}/series.json")
def series(
    caller: Viewer, run_id: str, key: str, x: str = "step", points: int = SERIES_POINTS
) -> Response:
    """One metric's points against ``x``, thinned to about ``points`` (spikes kept)."""
    check_x(x)
    found = tracking.metric_series(run_id, key, x=x, points=points)
    body = {**plain(found), "thinned": found.is_thinned}
    return JSONResponse(body)


@router.get("/runs/{run_id}/artifacts/{path:path}")
def download(caller: Viewer, run_id: str, path: str) -> Response:
    """The bytes of one artifact, as a file to save (never shown as a page of this site)."""
    record = tracking.get_run(run_id, history=False)
    entry = arts.find(record.artifacts, record.id, path)
    if not arts.exists(entry):
        raise ArtifactNotFoundError(
            f"the stored object of artifact {entry.path!r} is missing from the artifact store; "
            "log the artifact again"
        )
    headers = {
        **RAW_HEADERS,
        "Content-Disposition": arts.attachment(entry.path),
        "Content-Length": str(entry.size),
    }
    return StreamingResponse(
        arts.chunks(entry), media_type=arts.content_type(entry.path), headers=headers
    )


@router.get("/runs/{run_id}/preview/{path:path}")
def preview(request: Request, caller: Viewer, run_id: str, path: str) -> Response:
    """The preview of one artifact as a piece of HTML (what the page shows for it)."""
    record = tracking.get_run(run_id, history=False)
    entry = arts.find(record.artifacts, record.id, path)
    shown = arts.preview(record.id, entry)
    html = templates.get_template("_run_preview.html").render(preview=shown, request=request)
    return HTMLResponse(html)
