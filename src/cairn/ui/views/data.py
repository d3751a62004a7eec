"""The data catalog's list page and its in-place edits: ``/data`` (every dataset, filtered and
sorted by the URL's query) and ``/data/<name>/edit`` (a writer changes the description,
owner, update frequency or source, written with an audit event like the API's changes).

The dataset, version and diff pages are in ``data_pages``.
"""

from __future__ import annotations

import json
import urllib.parse
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response

from cairn import data
from cairn.core.errors import CairnError, InvalidInputError
from cairn.server import Caller, status_of
from cairn.server.api import audited
from cairn.ui.page import Editor, Viewer, fragment, render, wants_json
from cairn.ui.views import data_pages

router = APIRouter(include_in_schema=False)

#: The catalog fields a page edits (``source`` is shown as the dataset's location).
FIELDS = ("description", "owner", "frequency", "source")
EDIT_EVENT = "dataset.edit"  # the audit action of a catalog edit
MAX_BODY = 1_000_000  # bytes of an edit form: four text fields
Sort = Literal[
    "name", "-name", "owner", "-owner", "updated", "-updated", "versions", "-versions", "stale"
]


def _updated(d: data.Dataset) -> int:
    """When the data last changed: its latest live version's time (else the catalog's)."""
    return d.latest.created_ms if d.latest is not None else d.updated_ms


_KEYS: dict[str, Any] = {
    "name": lambda d: d.name.lower(),
    "owner": lambda d: ((d.owner or "\uffff").lower(), d.name.lower()),
    "updated": lambda d: (_updated(d), d.name.lower()),
    "versions": lambda d: (d.version_count, d.name.lower()),
    "stale": lambda d: (not d.stale, d.name.lower()),
}


def _matches(d: data.Dataset, words: list[str]) -> bool:
    """Whether every word of the filter occurs in the dataset's name or catalog fields."""
    text = " ".join(v or "" for v in (d.name, d.description, d.owner, d.frequency, d.source))
    return all(word in text.lower() for word in words)


@router.get("/data")
@router.get("/data.json")
def data_list(
    request: Request,
    caller: Viewer,
    q: Annotated[str, Query(max_length=500)] = "",
    sort: Sort = "name",
    stale: bool = False,
) -> Response:
    """Every dataset with its catalog fields, latest version and whether it is overdue."""
    words = q.lower().split()
    found = [d for d in data.list_datasets() if _matches(d, words) and (d.stale or not stale)]
    found.sort(key=_KEYS[sort.lstrip("-")], reverse=sort.startswith("-"))
    context = {
        "datasets": found,
        "q": q,
        "sort": sort,
        "stale": stale,
        "stale_count": sum(1 for d in found if d.stale),
        "can_edit": caller.may("writer"),
    }
    return render(request, "data.html", context)


@router.get("/data/{name}/row")
def data_row(request: Request, caller: Viewer, name: str) -> Response:
    """One dataset's row of the list (what a cancelled edit swaps back in)."""
    context = {**_row_context(caller, _find(name)), "focus": True}
    return fragment(request, "_data_row.html", context)


@router.get("/data/{name}/edit")
def data_edit_form(request: Request, caller: Editor, name: str) -> Response:
    """The row's fields as a form (a page of its own without htmx)."""
    context = {**_row_context(caller, _find(name)), "error": None, "values": None}
    if request.headers.get("hx-request") == "true":
        return fragment(request, "_data_edit_row.html", context)
    return render(request, "data_edit.html", context)


async def edit_fields(request: Request) -> dict[str, str]:
    """The catalog fields an edit sends: a form (what the page posts) or a JSON object, read
    strictly (text that is not UTF-8 is refused, never patched with replacement marks)."""
    body = await request.body()
    if len(body) > MAX_BODY:
        raise InvalidInputError(f"the edit is {len(body):,} bytes; keep it under {MAX_BODY:,}")
    kind = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    try:
        if kind == "application/json":
            sent = json.loads(body) if body else {}
            if not isinstance(sent, dict):
                raise InvalidInputError("send the fields as a JSON object, e.g. {'owner': 'ana'}")
            pairs = list(sent.items())
        elif kind in ("application/x-www-form-urlencoded", ""):
            text = body.decode("ascii")  # percent-encoded: the decoded bytes are checked next
            pairs = urllib.parse.parse_qsl(text, encoding="utf-8", errors="strict")
        else:
            raise InvalidInputError(
                f"an edit is a form or a JSON object, not {kind[:60]!r}; post the page's form"
            )
    except (UnicodeDecodeError, ValueError) as exc:
        if isinstance(exc, InvalidInputError):
            raise
        raise InvalidInputError(
            "the edit is not valid UTF-8 text (or not valid JSON); send the fields as UTF-8"
        ) from None
    fields: dict[str, str] = {}
    for key, value in pairs:
        if key not in FIELDS:
            continue
        if not isinstance(value, str):
            raise InvalidInputError(f"{key} must be text, not {type(value).__name__}")
        fields[key] = value
    return fields


@router.post("/data/{name}/edit")
@router.post("/data/{name}/edit.json")
def data_edit(
    request: Request,
    caller: Editor,
    name: str,
    fields: Annotated[dict[str, str], Depends(edit_fields)],
) -> Response:
    """Change catalog fields of the dataset (an empty field clears it), with an audit event;
    htmx gets the updated row (or the form with the error), a plain form a redirect."""
    htmx = request.headers.get("hx-request") == "true"
    try:
        edited = audited(
            request,
            caller,
            lambda: data.edit_dataset(
                name,
                description=fields.get("description"),
                owner=fields.get("owner"),
                frequency=fields.get("frequency"),
                source=fields.get("source"),
            ),
            lambda d: (EDIT_EVENT, f"data:{d.name}", {"fields": sorted(fields)}),
        )
    except CairnError as exc:
        if not htmx or wants_json(request) or not isinstance(exc, InvalidInputError):
            raise
        context = {**_row_context(caller, _find(name)), "error": str(exc), "values": fields}
        answer = fragment(request, "_data_edit_row.html", context)
        answer.status_code = status_of(exc)
        return answer
    if wants_json(request):
        return render(request, "data.html", {"dataset": edited})
    if htmx:
        return fragment(request, "_data_row.html", {**_row_context(caller, edited), "focus": True})
    return RedirectResponse(f"/data?q={urllib.parse.quote(edited.name)}", status_code=303)


def _find(name: str) -> data.Dataset:
    """The catalog entry ``name`` (a clear 400 or 404 when there is none)."""
    return data.show_dataset(data_pages.dataset_name(name)).dataset


def _row_context(caller: Caller, dataset: data.Dataset) -> dict[str, Any]:
    return {"d": dataset, "can_edit": caller.may("writer")}


# After the routes above: ``/data/{name}/{version}`` would take ``edit`` and ``row`` too.
router.include_router(data_pages.router)
