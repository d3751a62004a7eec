"""``cairn serve``: serve registered models over HTTP."""

from __future__ import annotations

from typing import Annotated

import typer
from typer import _click
from typer.core import TyperCommand, TyperGroup

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
    log_seal_s: Annotated[
        float,
        typer.Option(
            "--log-seal-s",
            min=1,
            help="seal logged rows into the store (where monitoring reads them) this often",
        ),
    ] = 300.0,
    log_redact: Annotated[
        list[str] | None,
        typer.Option(
            "--log-redact",
            metavar="COLUMN[:hash|:drop]",
            help="store this input column in the prediction log as a keyed hash (or drop it); "
            "repeatable",
        ),
    ] = None,
    log_retention: Annotated[
        str | None,
        typer.Option(
            "--log-retention",
            metavar="DURATION",
            help="remove prediction log rows older than this (30d, 12h, 2w)",
        ),
    ] = None,
    access_log: Annotated[
        bool, typer.Option("--access-log", help="log one line per request (stderr)")
    ] = False,
) -> None:
    """Serve models with adaptive batching, a fallback, metrics and a prediction log.

    `cairn serve log purge MODEL --where COLUMN=VALUE` erases a subject's logged rows.
    """
    from cairn.serving._log_privacy import parse_duration, parse_redact

    batching = serving.BatchOptions(max_batch_size, max_latency_ms, timeout_ms, max_queue_rows)
    specs = [
        serving.ModelSpec(name, uri, fallback, batching, suite)
        for name, uri in _models(model_uri, model or [])
    ]
    options = serving.ServerOptions(
        max_body_bytes=int(max_body_mb * (1 << 20)),
        log_predictions=not no_log,
        swap_poll_s=swap_poll_s,
        log_seal_s=log_seal_s,
        log_redact=parse_redact(log_redact or []),
        log_retention_s=parse_duration(log_retention) if log_retention is not None else None,
    )
    serving.serve(specs, options, host=host, port=port, workers=workers, access_log=access_log)


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


class _ServeGroup(TyperGroup):
    """``cairn serve``: serves models (``cairn serve MODEL_URI ...``), and holds ``cairn serve
    log ...``. A first word that is not a subcommand is the serve command's: the models to
    serve keep their short form."""

    def parse_args(self, ctx: _click.Context, args: list[str]) -> list[str]:
        if not args or args[0] not in self.commands or args[0] == DEFAULT:
            args = [DEFAULT, *args]
        return super().parse_args(ctx, args)


class _DefaultCommand(TyperCommand):
    """The serve command, whose usage reads ``cairn serve [OPTIONS] [MODEL_URI]``."""

    def format_usage(self, ctx: _click.Context, formatter: _click.HelpFormatter) -> None:
        parent = ctx.parent.command_path if ctx.parent is not None else "cairn serve"
        formatter.write_usage(parent, " ".join(self.collect_usage_pieces(ctx)))


DEFAULT = " serve"  # the serve command's name in the group: never typed (it has a space)

app = typer.Typer(
    cls=_ServeGroup,
    help="Serve models with adaptive batching, a fallback, metrics and a prediction log.",
    add_completion=False,
)
app.command(DEFAULT, cls=_DefaultCommand, hidden=True)(serve_command)
log_app = typer.Typer(help="The prediction log: erase a subject's rows, or old rows.")
app.add_typer(log_app, name="log")


@log_app.command("purge")
def purge_command(
    model: Annotated[str, typer.Argument(help="the name the model is served under")],
    request_id: Annotated[
        list[str] | None,
        typer.Option("--request-id", help="erase the rows of this request; repeatable"),
    ] = None,
    where: Annotated[
        list[str] | None,
        typer.Option(
            "--where",
            metavar="COLUMN=VALUE",
            help="erase rows whose column has this value (a subject's id); repeatable",
        ),
    ] = None,
    older_than: Annotated[
        str | None,
        typer.Option("--older-than", metavar="DURATION", help="erase rows older than this (30d)"),
    ] = None,
) -> None:
    """Erase rows from a model's prediction log (a subject's rows, by request id or column
    value; or old rows), rewriting the stored files without them."""
    from cairn.core.ids import now_ms
    from cairn.serving._log_privacy import parse_duration

    pairs: dict[str, list[str]] = {}
    for item in where or []:
        column, sep, value = item.partition("=")
        if not sep or not column.strip():
            raise InvalidInputError(
                f"--where takes COLUMN=VALUE (e.g. --where customer_id=42), not {item!r}"
            )
        pairs.setdefault(column.strip(), []).append(value)
    before = None
    if older_than is not None:
        before = now_ms() - int(parse_duration(older_than) * 1000)
    result = serving.purge_prediction_log(
        model, request_ids=request_id or [], where=pairs, before=before
    )
    typer.echo(
        f"erased {result.rows} row(s) of {model}'s prediction log: "
        f"{result.files_rewritten} file(s) rewritten, {result.files_removed} removed"
    )
    if result.unsealed_spools:
        typer.echo(
            f"{result.unsealed_spools} spool(s) of a running server are not sealed yet (at "
            "most 5 minutes of rows): run this again once they are",
            err=True,
        )
