"""The model server: ``create_app`` builds a FastAPI app for one or more models.

Routes: ``POST /v1/models/{name}/predict`` (and ``POST /predict`` when one model is served),
``GET /healthz`` (alive), ``GET /readyz`` (every model loaded and warmed up), ``GET /metrics``
(Prometheus), ``/docs`` (each model's request schema, from its signature). Bodies are read
and checked by hand (orjson, one pass per row) rather than by a pydantic model per request:
that is most of a request's CPU at these rates. A model served by alias (or ``latest``) is
watched: when the alias moves, the new version is loaded and warmed up in the background and
swapped in between two batches, so no request fails. While the same model's alias ``shadow``
points at another version, that version scores a copy of the traffic (logged, not returned).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from cairn.core.errors import CairnError, InvalidInputError, ModelNotFoundError
from cairn.core.logging import logger
from cairn.core.uris import SHADOW_ALIAS
from cairn.registry import LoadedModel, Signature, get_model_version, load_model
from cairn.serving._announce import announce, log_config, run_announced
from cairn.serving._asgi import (
    PredictionServer,
    Reply,
    RequestIds,
    ServerState,
    dumps,
    handle,
)
from cairn.serving._drift_gauges import DriftGauges
from cairn.serving._log_privacy import check_log_privacy, request_id_problem
from cairn.serving.batching import Batcher, BatchOptions, Served
from cairn.serving.metrics import ServerMetrics
from cairn.serving.prediction_log import PredictionLog


@dataclass(frozen=True)
class ModelSpec:
    """One model a server answers for."""

    name: str  # the route name: /v1/models/{name}/predict
    uri: str  # models:/churn@champion, models:/churn/3, runs:/..., or an exported folder
    fallback: str | None = None  # a model URI answering when the primary cannot
    batching: BatchOptions = field(default_factory=BatchOptions)
    suite: str | None = None  # a validation suite every request's rows must also pass


@dataclass(frozen=True)
class ServerOptions:
    """Limits and switches of the whole server."""

    max_body_bytes: int = 4 << 20
    max_rows_per_request: int = 10_000
    log_predictions: bool = True
    swap_poll_s: float = 5.0  # how often a served alias is checked for a move (0: never)
    log_redact: dict[str, str] = field(default_factory=dict)  # column -> "hash" | "drop"
    log_retention_s: float | None = None  # prediction log rows older than this are removed
    drift_refresh_s: float = 30.0  # how long /metrics keeps a model's latest drift (0: not shown)
    log_seal_s: float = 300.0  # logged rows are sealed into the store (monitoring reads them)


def create_app(models: Sequence[ModelSpec], options: ServerOptions | None = None) -> Any:
    """A FastAPI app serving ``models``; they are loaded (and warmed up) at startup."""
    from fastapi import FastAPI, Request
    from fastapi.responses import Response

    if not models:
        raise InvalidInputError("give at least one model to serve, e.g. models:/churn@champion")
    names = [m.name for m in models]
    if len(set(names)) != len(names):
        raise InvalidInputError(f"model names must differ; got {', '.join(names)}")
    opts = options or ServerOptions()
    metrics = ServerMetrics()
    state = ServerState(suites={m.name: _row_suite(m.suite) for m in models if m.suite})
    # Loaded now (not at startup) so /docs can show each model's real request schema.
    primaries = {m.name: _served(load_model(m.uri), m.uri) for m in models}
    fallbacks = {m.name: _served(load_model(m.fallback), m.fallback) for m in models if m.fallback}
    for name, served in primaries.items():
        if served.model.signature is None:
            _warn_unchecked(name, served.model)
    if opts.log_predictions:
        check_log_privacy({n: s.model for n, s in primaries.items()}, opts.log_redact)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        await _start(models, opts, state, metrics, primaries, fallbacks)
        try:
            yield
        finally:
            await _stop(state)

    app = FastAPI(
        title="cairn model server",
        summary="Predictions from registered models",
        lifespan=lifespan,
    )
    app.state.cairn = state
    ids = RequestIds()

    async def respond(name: str, body: bytes, request_id: str | None) -> Reply:
        """One prediction request, from its body to its answer (both paths below use it)."""
        started = time.perf_counter()
        problem = request_id_problem(request_id)
        if problem is not None:
            return 431, dumps({"error": problem}), {}
        request_id = request_id or ids.next()
        status, payload, headers = await handle(
            name, body, request_id, state, (opts.max_body_bytes, opts.max_rows_per_request), metrics
        )
        metrics.observe_request(name, status, time.perf_counter() - started, len(body))
        headers["X-Request-ID"] = request_id
        return status, dumps(payload), headers

    async def answer(name: str, request: Request) -> Response:
        status, content, headers = await respond(
            name, await request.body(), request.headers.get("x-request-id")
        )
        return Response(content, status, headers, media_type="application/json")

    # FastAPI documents the prediction routes (their schema at /docs) and answers them when its
    # app is mounted elsewhere; PredictionServer answers them directly otherwise.
    routes = {f"/v1/models/{spec.name}/predict": spec.name for spec in models}
    for spec in models:
        _add_route(app, spec, primaries[spec.name].model.signature, answer, opts)
    if len(models) == 1:
        only = models[0].name
        routes["/predict"] = only

        async def predict_only(request: Request) -> Response:
            return await answer(only, request)

        app.add_api_route(
            "/predict",
            _resolved(predict_only),
            methods=["POST"],
            summary=f"Predict with {only} (the only model served)",
            openapi_extra=_openapi(primaries[only].model.signature, opts),
        )

    drift = DriftGauges(
        lambda: {n: b.slot.model.name or n for n, b in state.batchers.items()},
        metrics.drift_failures,
        opts.drift_refresh_s,
    )
    metrics.registry.register(drift)
    _add_probes(app, state, metrics, drift)
    return PredictionServer(app, routes, respond, opts.max_body_bytes)


async def _start(
    models: Sequence[ModelSpec],
    opts: ServerOptions,
    state: ServerState,
    metrics: ServerMetrics,
    primaries: dict[str, Served],
    fallbacks: dict[str, Served],
) -> None:
    """Start the log, warm the models up, start their batchers and alias watchers."""
    loop = asyncio.get_running_loop()
    if opts.log_predictions:
        state.log = PredictionLog(
            redact=opts.log_redact,
            retention_s=opts.log_retention_s,
            models=[m.name for m in models],
            on_dropped=lambda model, rows: metrics.log_dropped.labels(model).inc(rows),
            seal_after_s=opts.log_seal_s,
        )
        await loop.run_in_executor(None, state.log.start)
    for spec in models:
        served = primaries[spec.name]
        await loop.run_in_executor(None, _warm_up, served.model)
        if spec.name in fallbacks:
            await loop.run_in_executor(None, _warm_up, fallbacks[spec.name].model)
        batcher = Batcher(
            spec.name, served, fallbacks.get(spec.name), spec.batching, metrics, state.log
        )
        batcher.swap(served)
        batcher.start()
        state.batchers[spec.name] = batcher
        if opts.swap_poll_s > 0 and _follows(spec.uri):
            state.watchers.append(loop.create_task(_watch(spec, batcher, opts.swap_poll_s)))
    state.ready = True
    logger.info("serving %s", ", ".join(f"{n} ({b.slot.label})" for n, b in state.batchers.items()))


async def _stop(state: ServerState) -> None:
    """Stop following aliases, answer what is queued, write and seal the log."""
    state.ready = False
    for task in state.watchers:
        task.cancel()
    for batcher in state.batchers.values():
        await batcher.stop()
    if state.log is not None:
        await asyncio.get_running_loop().run_in_executor(None, state.log.close)


def _add_probes(app: Any, state: ServerState, metrics: ServerMetrics, drift: DriftGauges) -> None:
    """``/healthz``, ``/readyz`` and ``/metrics`` (with the models' latest drift)."""
    from fastapi.responses import Response

    async def healthz() -> Response:
        return Response(dumps({"status": "ok"}), 200, media_type="application/json")

    async def readyz() -> Response:
        log_problem = state.log.health if state.log is not None else None
        ready = state.ready and log_problem is None
        body = {
            "ready": ready,
            "models": {
                name: {"version": b.slot.version, "serving": b.slot.label}
                | ({"shadow": b.shadow.label} if b.shadow is not None else {})
                for name, b in state.batchers.items()
            },
        }
        if state.log is not None:
            body["prediction_log"] = {
                "problem": log_problem,
                "failures": state.log.failures,
                "dropped_rows": state.log.dropped_rows,
            }
        return Response(dumps(body), 200 if ready else 503, media_type="application/json")

    async def prometheus() -> Response:
        await drift.refresh()
        text, content_type = metrics.render()
        return Response(text, 200, media_type=content_type)

    for path, endpoint, summary in (
        ("/healthz", healthz, "The process is alive"),
        ("/readyz", readyz, "Every model is loaded and warmed up"),
        ("/metrics", prometheus, "Prometheus metrics"),
    ):
        app.add_api_route(path, _resolved(endpoint), methods=["GET"], summary=summary)


def _row_suite(ref: str) -> Any:
    """The suite ``ref`` without its table-level expectations (a request is a few rows, not
    a batch: row counts and uniqueness across a table do not apply)."""
    from cairn import validation

    suite, _ = validation.load_suite(ref)
    suite.expectations = [e for e in suite.expectations if e.kind not in ("row_count", "unique")]
    suite.extra_columns = "allow"
    return suite


def _served(model: LoadedModel, uri: str) -> Served:
    label = f"{model.name}/{model.version}" if model.version is not None else uri
    return Served(model, label)


def _warn_unchecked(name: str, model: LoadedModel) -> None:
    """Say at start that a model without a signature takes its requests unchecked."""
    logger.warning(
        "%s (%s) has no signature, so its requests' inputs are not checked: missing columns, "
        "wrong types and out-of-range values reach the model, and what it raises on them is "
        "all a client is told (422). To add one, log the model again with an example of its "
        "input: cairn.log_model(model, %r, input_example=X.head(5)), and serve that version.",
        name,
        model.uri,
        model.name or name,
    )


def _warm_up(model: LoadedModel) -> None:
    """One prediction on the logged input example, so the first request pays no first-call
    costs (lazy imports, caches)."""
    example = model.input_example
    if not example:
        return
    try:
        model.predict(example)
        if model.has_proba:
            model.predict_proba(example)
    except Exception as exc:  # a model that cannot predict its own example still serves
        logger.warning("warming up %s failed: %s", model.uri, exc)


def _follows(uri: str) -> bool:
    """Whether ``uri`` names a moving target (an alias or latest)."""
    text = uri.removeprefix("models:/").removeprefix("models:")
    if not uri.startswith("models:") and "@" not in text:
        return False
    return "@" in text or not text.rsplit("/", 1)[-1].isdigit()


async def _watch(spec: ModelSpec, batcher: Batcher, every_s: float) -> None:
    """Swap in the version an alias points at when it moves: loaded and warmed up first."""
    loop = asyncio.get_running_loop()
    ref = spec.uri.removeprefix("models:/").removeprefix("models:")
    shadow_ref = f"{ref.split('@', 1)[0]}@{SHADOW_ALIAS}" if "@" in ref else None
    refused: set[int] = set()  # shadow versions that failed to load (not tried again)
    while True:
        await asyncio.sleep(every_s)
        try:
            current = await loop.run_in_executor(None, get_model_version, ref)
            if current.version != batcher.slot.version:
                model = await loop.run_in_executor(
                    None, load_model, f"models:/{current.name}/{current.version}"
                )
                await loop.run_in_executor(None, _warm_up, model)
                before = batcher.slot.label
                batcher.swap(_served(model, spec.uri))
                logger.info(
                    "%s: %s now serves %s (was %s)",
                    spec.name,
                    spec.uri,
                    batcher.slot.label,
                    before,
                )
        except asyncio.CancelledError:
            raise
        except CairnError as exc:
            logger.warning("%s: cannot follow %s: %s", spec.name, spec.uri, exc)
        except Exception as exc:
            logger.error("%s: swapping in a new version failed: %s", spec.name, exc)
        if shadow_ref is None:
            continue
        try:  # apart: a shadow that cannot be followed never holds up a swap
            await _follow_shadow(spec, batcher, shadow_ref, batcher.slot.version, refused)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.warning("%s: cannot follow %s: %s", spec.name, shadow_ref, exc)


async def _follow_shadow(
    spec: ModelSpec, batcher: Batcher, shadow_ref: str, served: int | None, refused: set[int]
) -> None:
    """Shadow the traffic with the version alias ``shadow`` points at (loaded and warmed up
    first), or stop when the alias is gone or points at the version served."""
    loop = asyncio.get_running_loop()
    try:
        found = await loop.run_in_executor(None, get_model_version, shadow_ref)
        version: int | None = found.version
    except ModelNotFoundError:
        version = None
    if version is None or version == served:
        if batcher.shadow is not None:
            logger.info("%s: no longer shadowing with %s", spec.name, batcher.shadow.label)
            batcher.set_shadow(None)
        return
    if (batcher.shadow is not None and batcher.shadow.version == version) or version in refused:
        return
    try:
        model = await loop.run_in_executor(
            None, load_model, f"models:/{found.name}/{found.version}"
        )
        await loop.run_in_executor(None, _warm_up, model)
    except Exception as exc:  # the served model is not affected
        refused.add(version)
        logger.warning("%s: cannot shadow with %s: %s", spec.name, shadow_ref, exc)
        return
    batcher.set_shadow(_served(model, f"models:/{shadow_ref}"))
    logger.info(
        "%s: shadowing %s with %s (its predictions are logged, not returned)",
        spec.name,
        spec.uri,
        batcher.shadow.label if batcher.shadow is not None else "-",
    )


def _add_route(
    app: Any, spec: ModelSpec, signature: Signature | None, answer: Any, opts: ServerOptions
) -> None:
    from fastapi import Request
    from fastapi.responses import Response

    name = spec.name

    async def predict(request: Request) -> Response:
        response: Response = await answer(name, request)
        return response

    app.add_api_route(
        f"/v1/models/{name}/predict",
        _resolved(predict),
        methods=["POST"],
        summary=f"Predict with {name} ({spec.uri})",
        openapi_extra=_openapi(signature, opts),
    )


_JSON_TYPES = {
    "float": "number",
    "integer": "integer",
    "bool": "boolean",
    "string": "string",
    "datetime": "string",
}


def _openapi(signature: Signature | None, opts: ServerOptions) -> dict[str, Any]:
    """The request body's schema in OpenAPI, from the model's signature."""
    if signature is None:
        row: dict[str, Any] = {"type": "object"}
    elif signature.tensor is not None:
        row = {"type": "array", "items": {"type": "number"}}
    else:
        row = {
            "type": "object",
            "properties": {
                c.name: {"type": _JSON_TYPES[c.kind], "title": c.dtype} for c in signature.columns
            },
            "required": [c.name for c in signature.columns],
        }
    schema = {
        "type": "object",
        "properties": {
            "inputs": {
                "type": "array",
                "items": row,
                "minItems": 1,
                "maxItems": opts.max_rows_per_request,
            },
            "dataframe_split": {
                "type": "object",
                "properties": {
                    "columns": {"type": "array", "items": {"type": "string"}},
                    "data": {"type": "array", "items": {"type": "array"}},
                },
            },
            "probabilities": {"type": "boolean", "default": False},
        },
    }
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


CONFIG_ENV = "CAIRN_SERVE_CONFIG"  # where each uvicorn worker process finds what to serve

#: The event loop: asyncio's own, not uvloop. libuv (under uvloop) accepts one connection per
#: loop iteration, so while the loop is saturated new connections wait in the kernel's accept
#: queue for seconds: at 2,000 connections, hundreds sat there, and p99 was 7-10 s against a
#: p50 under 1 s. asyncio accepts every waiting connection when the listening socket is ready
#: (p99 2.3 s, p50 1.4 s at the same load), at the same throughput.
LOOP = "asyncio"


def serve(
    models: Sequence[ModelSpec],
    options: ServerOptions | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 1,
    access_log: bool = False,
) -> None:
    """Run the server (uvicorn) until interrupted; several workers share the port.

    Once it listens, the server's URL and routes are logged; ``access_log`` also logs one
    line per request (uvicorn's access log).
    """
    import dataclasses
    import json
    import os
    import tempfile

    import uvicorn

    _fewer_malloc_arenas()
    _arrow_on_malloc()
    opts = options or ServerOptions()
    if workers < 1:
        raise InvalidInputError(f"--workers must be 1 or more, not {workers}")
    names = [m.name for m in models]
    logging = log_config(access_log)  # stderr only; access lines when asked for
    if workers == 1:
        app = create_app(models, opts)
        run_announced(
            uvicorn.Config(
                app, host=host, port=port, loop=LOOP, log_config=logging, access_log=access_log
            ),
            names,
        )
        return
    # Worker processes are started by uvicorn from an import string: they read the models to
    # serve from a file named in their environment (uvicorn copies the parent's environment).
    config = {
        "models": [dataclasses.asdict(m) for m in models],
        "options": dataclasses.asdict(opts),
    }
    with tempfile.NamedTemporaryFile("w", suffix=".json", prefix="cairn-serve-", delete=False) as f:
        json.dump(config, f)
    os.environ[CONFIG_ENV] = f.name
    # uvicorn's supervisor binds the port before it starts the workers (a port in use fails
    # before this line would be true for long).
    announce(host, port, names)
    try:
        uvicorn.run(
            "cairn.serving.app:app_from_config",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            loop=LOOP,
            log_config=logging,
            access_log=access_log,
        )
    finally:
        os.unlink(f.name)


def _fewer_malloc_arenas() -> None:
    """Cap glibc's malloc arenas at 2 (its default is 8 per core): each thread that allocates
    (event loop, inference, fallback, log writer, executor) would otherwise grow an arena of
    its own, and the server's memory with it. A no-op off glibc."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if not name:
        return
    try:
        libc = ctypes.CDLL(name)
        libc.mallopt(-8, 2)  # M_ARENA_MAX
    except (OSError, AttributeError):
        return


def _arrow_on_malloc() -> None:
    """Let Arrow (the prediction log, pandas' text columns) allocate with malloc rather than
    its bundled mimalloc, unless the user chose a pool (``ARROW_DEFAULT_MEMORY_POOL``):
    mimalloc kept the memory of sealing a spool into Parquet resident, about 17 MB more at
    the peak under load. Worker processes inherit the variable."""
    import os
    import sys

    if "ARROW_DEFAULT_MEMORY_POOL" in os.environ:
        return
    os.environ["ARROW_DEFAULT_MEMORY_POOL"] = "system"
    if "pyarrow" in sys.modules:  # too late for the variable in this process
        import pyarrow as pa

        pa.set_memory_pool(pa.system_memory_pool())


def app_from_config() -> Any:
    """The app a uvicorn worker process builds (see ``serve``)."""
    import json
    import os

    with open(os.environ[CONFIG_ENV]) as f:
        config = json.load(f)
    models = [
        ModelSpec(m["name"], m["uri"], m["fallback"], BatchOptions(**m["batching"]), m["suite"])
        for m in config["models"]
    ]
    return create_app(models, ServerOptions(**config["options"]))


def _resolved(endpoint: Any) -> Any:
    """``endpoint`` with its annotations as objects: FastAPI reads them to inject the request,
    and under ``from __future__ import annotations`` they are strings naming classes this
    module imports only inside functions (FastAPI stays out of ``import cairn.serving``)."""
    from fastapi import Request
    from fastapi.responses import Response

    wanted = endpoint.__annotations__
    endpoint.__annotations__ = {
        **({"request": Request} if "request" in wanted else {}),
        "return": Response,
    }
    return endpoint


def route_name(uri: str) -> str:
    """The name a model is served under: its registered name, or the folder's name."""
    from pathlib import Path

    from cairn.core.checks import check_name
    from cairn.core.uris import ModelUri, parse_model_uri

    check_name(uri, "model URI or folder", max_length=4096)  # longer names no file system
    if not uri.startswith(("models:", "runs:")) and Path(uri).is_dir():
        return Path(uri).resolve().name
    parsed = parse_model_uri(uri)
    return parsed.name if isinstance(parsed, ModelUri) else parsed.path.replace("/", "-")
