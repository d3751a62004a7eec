"""The prediction path: from a request's ASGI messages to its answer, without FastAPI.

``PredictionServer`` is the ASGI app that is served: it answers the prediction routes itself
and hands everything else (``/docs``, the probes, the lifespan) to the FastAPI app that
``app.create_app`` builds. ``handle`` turns one request body into a status and a payload: the
body parsed and checked against the signature (``requests``), the rows queued for their
model's batcher (``batching``), and every way that can end mapped to its HTTP status.

Who is at fault decides the status: a request the server cannot read, or whose rows the model
refuses (the model raised on them while it answers other rows), is the client's error, 4xx
with the reason, and is never sent to the fallback; trouble on the server's side (a model
that fails on every input, misses its deadline, is not loaded, or too much load) is 503.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from cairn.core.logging import logger
from cairn.serving._log_privacy import headers_problem, without_values
from cairn.serving.batching import Answer, Batcher, ModelUnavailable, Overloaded, RowsRefused
from cairn.serving.metrics import ServerMetrics
from cairn.serving.prediction_log import PredictionLog
from cairn.serving.requests import (
    RequestError,
    check_rows,
    extreme_problems,
    holds_extremes,
    parse_body,
    rows_of,
)

VERSION_HEADER = "X-Cairn-Model-Version"

Reply = tuple[int, bytes, dict[str, str]]  # status, JSON body, headers


@dataclass
class ServerState:
    """What a running server holds: one batcher per model, row suites, the log, watchers."""

    batchers: dict[str, Batcher] = field(default_factory=dict)
    suites: dict[str, Any] = field(default_factory=dict)  # model name -> row-level suite
    ready: bool = False
    log: PredictionLog | None = None
    watchers: list[asyncio.Task[None]] = field(default_factory=list)


class PredictionServer:
    """The ASGI app that is served: prediction requests are answered here, straight from the
    ASGI messages; everything else (``/docs``, the probes, the lifespan) goes to FastAPI.

    FastAPI's layers (middleware, routing, dependency solving, the Request object) cost more
    interpreter time per request than reading, checking and answering the prediction itself,
    and at thousands of requests a second that time is the server's ceiling. Attributes not
    found here are FastAPI's (``app.state``, ``app.router``, ``app.openapi()``).
    """

    def __init__(
        self,
        api: Any,
        routes: dict[str, str],
        respond: Callable[[str, bytes, str | None], Awaitable[Reply]],
        max_body_bytes: int,
    ) -> None:
        self.api = api
        self._routes = routes
        self._respond = respond
        self._max_body = max_body_bytes

    def __getattr__(self, name: str) -> Any:
        return getattr(self.api, name)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            path = scope["path"]
            root = scope.get("root_path", "")
            if root and path.startswith(root):
                path = path[len(root) :]
            name = self._routes.get(path)
            if name is not None:
                await self._predict(name, scope, receive, send)
                return
        await self.api(scope, receive, send)

    async def _predict(self, name: str, scope: dict[str, Any], receive: Any, send: Any) -> None:
        request_id = None
        for key, value in scope["headers"]:
            if key == b"x-request-id":
                request_id = value.decode("latin-1")
        try:
            too_large = headers_problem(scope["headers"])
            body = None if too_large else await read_body(receive, self._max_body)
            if too_large:  # every header may end up in the prediction log or the process
                reply: Reply = 431, dumps({"error": too_large}), {}
            elif body is None:  # the client went away
                return
            else:
                reply = await self._respond(name, body, request_id)
        except Exception as exc:  # never a bare connection reset: a 500 that says what broke
            logger.exception("serving %s: unexpected error", name)
            reply = 500, dumps({"error": f"internal error: {type(exc).__name__}: {exc}"}), {}
        status, content, headers = reply
        raw = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(content)).encode()),
        ]
        raw.extend((k.lower().encode(), v.encode("latin-1")) for k, v in headers.items())
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": content})


async def read_body(receive: Any, limit: int) -> bytes | None:
    """The request body, or None when the client disconnected. Reading stops one byte past
    ``limit``: the handler then refuses the body as too large without it all in memory."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        if chunk:
            chunks.append(chunk)
            size += len(chunk)
        if size > limit or not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


class RequestIds:
    """Request ids for requests that bring none: a random per-server prefix and a counter
    (unique across servers, and far cheaper per request than a UUID)."""

    def __init__(self) -> None:
        import itertools
        import os

        self._prefix = os.urandom(6).hex()
        self._count = itertools.count(1)

    def next(self) -> str:
        """The next id."""
        return f"{self._prefix}{next(self._count):010x}"


async def handle(
    name: str,
    body: bytes,
    request_id: str,
    state: ServerState,
    limits: tuple[int, int],
    metrics: ServerMetrics,
) -> tuple[int, dict[str, Any], dict[str, str]]:
    """One prediction request: status, payload and headers. ``limits`` is (max body bytes,
    max rows per request)."""
    batcher = state.batchers.get(name)
    if batcher is None:
        known = ", ".join(state.batchers) or "none (still starting)"
        return 404 if state.ready else 503, {"error": f"no model {name!r}; served: {known}"}, {}
    max_bytes, max_rows = limits
    try:
        data = parse_body(body, max_bytes)
        rows = check_rows(batcher.slot.model.signature, rows_of(data), max_rows)
        if name in state.suites:
            check_suite(state.suites[name], rows)
        extreme = holds_extremes(rows)
        slot = batcher.slot
        if extreme and slot.beyond_float32 is not None:  # learnt from the model itself
            raise extreme_problems(rows, f"the model {slot.label} cannot score")
        result = await batcher.predict(
            rows, want_proba=bool(data.get("probabilities")), request_id=request_id, alone=extreme
        )
    except RequestError as exc:
        metrics.errors.labels(name, "input").inc()
        return exc.status, {"error": str(exc), "problems": exc.problems}, {}
    except RowsRefused as exc:  # the client's rows, not the server: never the fallback
        metrics.errors.labels(name, "refused").inc()
        message = without_request_text(str(exc), rows)
        return 422, {"error": message, "problems": [message]}, {VERSION_HEADER: exc.served_by}
    except Overloaded as exc:
        metrics.errors.labels(name, "shed").inc()
        return 503, {"error": f"overloaded: {exc}; retry shortly"}, {"Retry-After": "1"}
    except ModelUnavailable as exc:
        return 503, {"error": str(exc)}, {}
    return 200, answer_body(name, result), {VERSION_HEADER: result.served_by}


def check_suite(suite: Any, rows: list[Any]) -> None:
    """Refuse a request whose rows fail an ``error`` expectation of the suite (422), with the
    same function batches and datasets are validated with."""
    import pandas as pd

    from cairn import validation

    result = validation.validate(pd.DataFrame.from_records(rows), suite)
    if not result.passed:
        raise RequestError(
            422,
            [
                f"{f.expectation}: observed {without_values(f.observed)}, expected {f.expected}"
                + (f" (rows {', '.join(map(str, f.rows))})" if f.rows else "")
                for f in result.errors
            ],
        )


def without_request_text(message: str, rows: list[Any]) -> str:
    """The model's message with every text value the request sent replaced by its size: a
    model may quote the value it choked on, and a 422 must not echo personal data back."""
    texts = {
        value
        for row in rows
        for value in (
            row.values() if isinstance(row, dict) else row if isinstance(row, list) else ()
        )
        if isinstance(value, str) and len(value) > 1
    }
    for text in sorted(texts, key=len, reverse=True):
        message = message.replace(text, f"<text ({len(text)} characters)>")
    return message


def answer_body(name: str, result: Answer) -> dict[str, Any]:
    """The JSON payload of a successful answer."""
    out: dict[str, Any] = {
        "predictions": result.predictions,
        "model": name,
        "served_by": result.served_by,
        "fallback": result.fallback,
    }
    if result.probabilities is not None:
        out["probabilities"] = result.probabilities
        out["classes"] = result.classes
    if result.fallback:
        out["fallback_reason"] = result.reason
    return out


def dumps(payload: Any) -> bytes:
    """``payload`` as JSON bytes (NumPy values included)."""
    import orjson

    return orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY)
