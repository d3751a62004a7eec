"""``cairn serve``: serve registered models over HTTP."""

from __future__ import annotations

from typing import Annotated

import typer

from cairn import serving
from cairn.core.errors import InvalidInputError


def serve_command(
    model_uri: Annotated[
        str | None,
        typer.Argument(help="models:/name@alias, models:/name/3, runs:/ID/model or a folder"),
    ] = None,
    model: Annotated[
        list[str] | None,
        typer.Option("--model", help="name=URI, repeatable: several models in one server"),
    ] = None,
    fallback: Annotated[
        str | None, typer.Option("--fallback", help="a model URI answering when the model cannot")
    ] = None,
    suite: Annotated[
        str | None,
        typer.Option("--suite", help="also check every request's rows against this suite"),
    ] = None,
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option("--workers", min=1, help="processes")] = 1,
    max_batch_size: Annotated[int, typer.Option("--max-batch-size", min=1)] = 256,
    max_latency_ms: Annotated[
        float, typer.Option("--max-latency-ms", min=0, help="wait this long for more rows")
    ] = 0.0,
    timeout_ms: Annotated[
        float, typer.Option("--timeout-ms", min=1, help="the model's deadline per batch")
    ] = 5000.0,
    max_queue_rows: Annotated[
        int | None, typer.Option("--max-queue-rows", min=1, help="shed load (503) beyond this")
    ] = None,
    max_body_mb: Annotated[float, typer.Option("--max-body-mb", min=0.001)] = 4.0,
    no_log: Annotated[
        bool, typer.Option("--no-log", help="do not keep the prediction log")
    ] = False,
    swap_poll_s: Annotated[
        float, typer.Option("--swap-poll-s", min=0, help="check served aliases this often")
    ] = 5.0,
) -> None:
    """Serve models with adaptive batching, a fallback, metrics and a prediction log."""
    batching = serving.BatchOptions(max_batch_size, max_latency_ms, timeout_ms, max_queue_rows)
    specs = [
        serving.ModelSpec(name, uri, fallback, batching, suite)
        for name, uri in _models(model_uri, model or [])
    ]
    options = serving.ServerOptions(
        max_body_bytes=int(max_body_mb * (1 << 20)),
        log_predictions=not no_log,
        swap_poll_s=swap_poll_s,
    )
    serving.serve(specs, options, host=host, port=port, workers=workers)


def _models(uri: str | None, named: list[str]) -> list[tuple[str, str]]:
    """(route name, URI) of every model to serve."""
    pairs = []
    if uri is not None:
        pairs.append((serving.route_name(uri), uri))
    for item in named:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise InvalidInputError(
                f"--model takes name=URI (e.g. churn=models:/churn@champion), not {item!r}"
            )
        pairs.append((name.strip(), value.strip()))
    if not pairs:
        raise InvalidInputError(
            "name a model to serve: cairn serve models:/NAME@champion (or --model name=URI)"
        )
    return pairs
