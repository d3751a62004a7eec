"""Changes from the model pages (writers): point an alias at a version, roll an alias back
to the version it pointed to before its last move, promote one alias to another's version
when a rule holds, and describe a version.

Alias moves run through ``cairn.server.api.audited`` and are recorded as the API records them
(``alias.set``, subject ``models:/<name>@<alias>``, detail from/to/reason). An htmx request
is answered with the updated aliases fragment (its problems shown in it, with their 4xx
status); a plain form post with a 303 back to the page, or the error page.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from cairn import registry
from cairn.core.errors import CairnError, InvalidInputError, ModelNotFoundError
from cairn.core.uris import check_alias, check_model_name
from cairn.registry import AliasMove, Promotion
from cairn.server import Caller, status_of
from cairn.server.api import audited, plain
from cairn.ui.page import Editor, error_page, quote, render
from cairn.ui.views.models_data import (
    aliases_context,
    required_reason,
    version_context,
    version_number,
    version_ref,
)

router = APIRouter(include_in_schema=False)
FRAGMENT_HEADER = "X-Cairn-Fragment"


class _Refused(Exception):
    """A promotion whose rule did not hold: nothing moved, nothing to record."""

    def __init__(self, promotion: Promotion) -> None:
        super().__init__(promotion.reason)
        self.promotion = promotion


def _is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def _move_event(name: str, alias: str) -> Any:
    """The audit event of an alias move, as the API records it."""

    def event(move: AliasMove) -> tuple[str, str, dict[str, Any]]:
        detail = {"from": move.from_version, "to": move.to_version, "reason": move.reason}
        return "alias.set", f"models:/{name}@{alias}", detail

    return event


def _aliases_answer(
    request: Request, name: str, caller: Caller, status: int = 200, **extra: Any
) -> Response:
    """The aliases fragment (htmx) or a 303 back to the model page (a plain post)."""
    if not _is_htmx(request) and status < 400:
        return RedirectResponse(f"/models/{quote(name)}#aliases", status_code=303)
    context = {**aliases_context(name, caller), **extra}
    answer = render(request, "models_aliases.html", context, status=status)
    answer.headers[FRAGMENT_HEADER] = "aliases"
    return answer


def _problem(request: Request, name: str, caller: Caller, exc: CairnError) -> Response:
    """A refused change: shown in the fragment for htmx, raised (the error page) otherwise."""
    status = status_of(exc)
    if not _is_htmx(request) or status not in (400, 404, 409):
        raise exc
    try:
        return _aliases_answer(request, name, caller, status, error=str(exc))
    except ModelNotFoundError:
        raise exc from None


@router.post("/models/{name}/aliases")
def set_alias(
    request: Request,
    name: str,
    caller: Editor,
    alias: Annotated[str, Form()] = "",
    version: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    """Point ``alias`` at ``version``, saying why; recorded as ``alias.set``."""
    check_model_name(name)
    try:
        check_alias(alias.strip())
        number = version_number(version)
        why = required_reason(reason)
        move = audited(
            request,
            caller,
            lambda: registry.set_alias(name, alias.strip(), number, reason=why),
            _move_event(name, alias.strip()),
        )
    except CairnError as exc:
        return _problem(request, name, caller, exc)
    notice = f"{move.alias} now points at version {move.to_version}" + (
        f" (it pointed at {move.from_version})" if move.from_version else ""
    )
    return _aliases_answer(request, name, caller, notice=notice)


@router.post("/models/{name}/rollback")
def rollback(
    request: Request,
    name: str,
    caller: Editor,
    alias: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    """Move ``alias`` back to the version it pointed at before its last move, saying why;
    recorded as ``alias.set``."""
    check_model_name(name)
    try:
        target = check_alias(alias.strip())
        why = required_reason(reason)
        move = audited(
            request,
            caller,
            lambda: registry.rollback_alias(name, target, reason=why),
            _move_event(name, target),
        )
    except CairnError as exc:
        return _problem(request, name, caller, exc)
    notice = f"{move.alias} rolled back from version {move.from_version} to {move.to_version}"
    return _aliases_answer(request, name, caller, notice=notice)


@router.post("/models/{name}/promote")
def promote(
    request: Request,
    name: str,
    caller: Editor,
    from_alias: Annotated[str, Form()] = "challenger",
    to_alias: Annotated[str, Form()] = "champion",
    rule: Annotated[str, Form()] = "",
) -> Response:
    """Move ``to_alias`` to ``from_alias``'s version when ``rule`` holds; the checks are
    shown either way, and a move is recorded as ``alias.set``."""
    check_model_name(name)
    source, target, require = from_alias.strip(), to_alias.strip(), rule.strip() or None

    def change() -> Promotion:
        outcome = registry.promote(name, from_alias=source, to_alias=target, require=require)
        if not outcome.moved:
            raise _Refused(outcome)  # rolls the (empty) transaction back: no event
        return outcome

    def event(outcome: Promotion) -> tuple[str, str, dict[str, Any]]:
        why = f"promote from {source}" + (f" with {require}" if require else "")
        detail = {"from": outcome.previous, "to": outcome.from_version, "reason": why}
        return "alias.set", f"models:/{name}@{target}", detail

    try:
        promotion = audited(request, caller, change, event)
    except _Refused as refused:
        promotion = refused.promotion
    except CairnError as exc:
        return _problem(request, name, caller, exc)
    comparison = None
    if promotion.previous is not None:
        try:
            compared = registry.compare_models(
                f"{name}/{promotion.from_version}", f"{name}/{promotion.previous}"
            )
            comparison = plain(compared.rows)
        except CairnError:
            comparison = None
    if not promotion.moved and not _is_htmx(request):
        return error_page(request, 409, "Not promoted", promotion.reason)
    return _aliases_answer(
        request,
        name,
        caller,
        promotion=promotion,
        comparison=comparison,
        notice=promotion.reason if promotion.moved else None,
    )


@router.post("/models/{name}/{version}/description")
def describe(
    request: Request,
    name: str,
    version: str,
    caller: Editor,
    description: Annotated[str, Form()] = "",
) -> Response:
    """Set (or clear, when empty) the description of a version."""
    from cairn.core.user import acting_as

    ref = version_ref(name, version)
    status, problem = 200, None
    try:
        with acting_as(caller.user):
            registry.describe(ref, description)
    except InvalidInputError as exc:
        if not _is_htmx(request):
            raise
        status, problem = status_of(exc), str(exc)
    if not _is_htmx(request):
        return RedirectResponse(f"/models/{quote(name)}/{quote(version)}", status_code=303)
    context = {**version_context(request, name, version, caller), "description_error": problem}
    answer = render(request, "models_description.html", context, status=status)
    answer.headers[FRAGMENT_HEADER] = "description"
    return answer
