"""The runs table (``/runs``): a page of runs with chosen param, metric and tag columns,
filtered and sorted in the database (cairn's filter language), paged, exported as CSV, with
bulk delete and restore for admins. Everything the table shows is named by the URL's query."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from datetime import datetime, timezone
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse

from cairn import tracking
from cairn.core.errors import FilterError, InvalidInputError
from cairn.server.api import audited
from cairn.ui.page import Admin, Viewer, local_path, render
from cairn.ui.views.runs_table import (
    KINDS,
    Query,
    build_table,
    fixed_columns,
    ident,
    read_query,
    row,
)

router = APIRouter(include_in_schema=False)
MAX_SELECTED = 1000
_POSITION = re.compile(r" at position (\d+)")
_SNIPPET = 80  # characters of the filter shown around an error


def _filter_error(text: str, message: str) -> dict[str, Any]:
    """The error, and the part of the filter it is in with a caret under the position."""
    found = _POSITION.search(message)
    position = int(found.group(1)) if found else None
    error: dict[str, Any] = {"message": message, "position": position, "text": "", "caret": ""}
    if position is not None:
        start = max(0, position - _SNIPPET // 2)
        shown = "".join(" " if c.isspace() else c for c in text[start : start + _SNIPPET])
        error["text"] = ("…" if start else "") + shown
        error["caret"] = " " * (position - start + (1 if start else 0)) + "^"
    return error


def _search(query: Query) -> tuple[tracking.RunsPage | None, dict[str, Any] | None]:
    """The page of runs, or (None, the error) for a filter or order the language refuses."""
    try:
        page = tracking.runs_page(
            query.filter or None,
            query.order or None,
            query.experiment,
            query.offset,
            query.limit,
            query.deleted,
        )
    except FilterError as exc:
        message = str(exc)
        if message.startswith("invalid filter"):
            return None, {"filter": _filter_error(query.filter, message), "order": None}
        return None, {"filter": None, "order": message}
    return page, None


def _context(request: Request) -> tuple[dict[str, Any], int]:
    query = read_query(request.query_params)
    page, error = _search(query)
    records = page.records if page else []
    table = build_table(query, records)
    keys = {
        "params": page.param_keys if page else [],
        "metrics": page.metric_keys if page else [],
        "tags": page.tag_keys if page else [],
    }
    shown = {c.ident for c in table.columns} | set(table.same)
    chooser = {
        kind: [
            {"key": key, "ident": ident(kind, key), "checked": ident(kind, key) in shown}
            for key in keys[kind]
        ]
        for kind in KINDS
    }
    chosen = query.columns or []
    context = {
        "query": query,
        "error": error,
        "total": page.total if page else 0,
        "fixed": fixed_columns(query.order),
        "columns": table.columns,
        "same": table.same,
        "keys": keys,
        "chooser": chooser,
        "columns_text": ",".join(ident(kind, key) for kind, key in chosen),
        "runs": [row(record, table) for record in records],
        "csv": f"/runs.csv?{request.url.query}" if request.url.query else "/runs.csv",
        "here": local_path(f"/runs?{request.url.query}" if request.url.query else "/runs"),
    }
    return context, 400 if error else 200


@router.get("/runs")
@router.get("/runs.json")
def runs_table(request: Request, caller: Viewer) -> Response:
    """A page of runs: filter, order, columns, paging and "only what differs" in the URL."""
    context, status = _context(request)
    return render(request, "runs.html", context, status)


def _cell(value: Any) -> str:
    """A value as CSV text: numbers in full (repr), JSON for lists and mappings."""
    if value is None:
        return ""
    if isinstance(value, (bool, dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _iso(ms: int | None) -> str:
    return "" if ms is None else datetime.fromtimestamp(ms / 1000, tz=timezone.utc).isoformat()


@router.get("/runs.csv")
def runs_csv(request: Request, caller: Viewer) -> Response:
    """Every matching run (not only the page) with the page's columns, as CSV, streamed."""
    query = read_query(request.query_params)
    page, error = _search(query)
    if page is None:
        assert error is not None
        raise FilterError(error["order"] or error["filter"]["message"])
    table = build_table(query, page.records)
    runs = tracking.iter_runs(
        query.filter or None, query.order or None, query.experiment, query.deleted
    )
    fixed = ["run_id", "run_name", "experiment", "status", "user", "start_time", "end_time"]
    header = [*fixed, "duration_s", *(c.ident for c in table.columns)]

    def lines() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
        writer.writerow(header)
        for record in runs:
            writer.writerow(
                [
                    record.id,
                    record.name,
                    record.experiment,
                    record.status,
                    record.user or "",
                    _iso(record.start_ms),
                    _iso(record.end_ms),
                    _cell(record.duration_s),
                    *(_cell(getattr(record, c.kind).get(c.key)) for c in table.columns),
                ]
            )
            if buffer.tell() > 64_000:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    return StreamingResponse(
        lines(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="runs.csv"'},
    )


def _selected(runs: list[str] | None) -> list[str]:
    ids = [part.strip() for item in runs or [] for part in item.split(",") if part.strip()]
    if not ids:
        raise InvalidInputError("select at least one run (tick its box in the table) first")
    if len(ids) > MAX_SELECTED:
        raise InvalidInputError(f"{len(ids)} runs were selected; change at most {MAX_SELECTED}")
    return ids


def _back(next_url: str) -> str:
    target = local_path(next_url)
    return target if target == "/runs" or target.startswith("/runs?") else "/runs"


RunsField = Annotated[list[str] | None, Form()]
NextField = Annotated[str, Form()]


@router.post("/runs/delete")
def delete_selected(
    request: Request, caller: Admin, runs: RunsField = None, next: NextField = "/runs"
) -> Response:
    """Delete the selected runs (restorable until ``cairn gc``); audited like the API's."""
    ids = _selected(runs)
    audited(request, caller, partial(tracking.delete_runs, ids), _event("runs.delete"))
    return RedirectResponse(_back(next), status_code=303)


@router.post("/runs/restore")
def restore_selected(
    request: Request, caller: Admin, runs: RunsField = None, next: NextField = "/runs"
) -> Response:
    """Restore the selected deleted runs; audited like the API's."""
    ids = _selected(runs)
    audited(request, caller, partial(tracking.restore_runs, ids), _event("runs.restore"))
    return RedirectResponse(_back(next), status_code=303)


def _event(action: str) -> Any:
    return lambda uids: (action, ",".join(uids), {"runs": uids})
