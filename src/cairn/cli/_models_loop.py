"""``cairn models policy``, ``retrain`` and ``retrainings``: the closed loop's commands (the
scheduler runs the loop; ``cairn models history`` shows its audit trail)."""

from __future__ import annotations

import json
from enum import Enum
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from cairn.cli._project import require_project
from cairn.cli._render import console, fail, write_json
from cairn.cli._schedule_commands import parse_sets
from cairn.core.ids import describe_time


class PolicyFormat(str, Enum):
    """Output formats of a policy."""

    text = "text"
    json = "json"


class ListFormat(str, Enum):
    """Output formats of the retrainings."""

    table = "table"
    json = "json"


def add_loop_commands(app: typer.Typer) -> None:
    """Add ``policy``, ``retrain`` and ``retrainings`` to the ``cairn models`` app."""
    app.command("policy")(policy_command)
    app.command("retrain")(retrain_command)
    app.command("retrainings")(retrainings_command)


def policy_command(
    model: Annotated[str, typer.Argument(help="the model the loop retrains")],
    pipeline: Annotated[
        str | None,
        typer.Option("--pipeline", help="the pipeline that retrains it, MODULE:PIPELINE"),
    ] = None,
    on_alert: Annotated[
        list[str] | None,
        typer.Option("--on-alert", help="retrain when this alert rule fires (repeatable)"),
    ] = None,
    on_data: Annotated[
        list[str] | None,
        typer.Option("--on-data", help="retrain on this dataset's new versions (repeatable)"),
    ] = None,
    cron: Annotated[
        str | None, typer.Option("--cron", help="retrain on a schedule, in UTC: '0 3 * * 1'")
    ] = None,
    dataset: Annotated[
        str | None,
        typer.Option("--dataset", help="the catalog dataset trained on: {dataset_version}"),
    ] = None,
    suite: Annotated[
        str | None,
        typer.Option("--suite", help="the validation suite that dataset must pass first"),
    ] = None,
    window: Annotated[
        str | None,
        typer.Option("--window", help="the data window, 30d: {window_start} and {window_end}"),
    ] = None,
    holdout: Annotated[
        str | None,
        typer.Option("--holdout", help="the catalog dataset both models are scored on"),
    ] = None,
    target: Annotated[str, typer.Option("--target", help="the holdout's label column")] = "target",
    require: Annotated[
        str | None,
        typer.Option(
            "--require",
            help="the promotion rule on held-out scores: "
            "'accuracy >= champion.accuracy - 0.01 and latency_p99_ms <= 50'",
        ),
    ] = None,
    sets: Annotated[
        list[str] | None,
        typer.Option("--set", help="a pipeline param, key=value; may name {dataset_version}"),
    ] = None,
    executor: Annotated[
        str | None, typer.Option("--executor", help="inline, processes or dask[=ADDRESS]")
    ] = None,
    alias: Annotated[str, typer.Option("--alias", help="the alias served")] = "champion",
    on_busy: Annotated[
        str,
        typer.Option("--on-busy", help="a trigger while a retraining runs: queue or drop"),
    ] = "queue",
    allow_signature_change: Annotated[
        bool,
        typer.Option("--allow-signature-change", help="promote a challenger whose inputs differ"),
    ] = False,
    monitor: Annotated[
        str | None,
        typer.Option(
            "--monitor",
            help="the scheduler computes drift windows of this size (1h, or rows: 500) so "
            "the alert rules fire",
        ),
    ] = None,
    monitor_every: Annotated[
        float, typer.Option("--monitor-every", help="how often it monitors, in seconds")
    ] = 60.0,
    shadow_rows: Annotated[
        int | None,
        typer.Option(
            "--shadow-rows",
            help="a shadow period before deciding: the challenger scores a copy of the live "
            "traffic until it logged this many rows (the rule may name shadow_agreement)",
        ),
    ] = None,
    shadow_timeout: Annotated[
        float,
        typer.Option("--shadow-timeout", help="seconds a shadow period may last (then refused)"),
    ] = 600.0,
    remove: Annotated[bool, typer.Option("--rm", help="remove the policy")] = False,
    output: Annotated[PolicyFormat, typer.Option("--format", help="text or json")] = (
        PolicyFormat.text
    ),
) -> None:
    """Set, show or remove how the loop retrains a model: its pipeline, triggers, data gate,
    held-out scoring and promotion rule (without options: show it)."""
    require_project()
    from cairn import loop

    if remove:
        gone = loop.remove_policy(model)
        console.print(Text(f"retraining policy of {gone.policy.model} removed"))
        return
    if pipeline is None and holdout is None and require is None:
        stored = loop.get_policy(model)
    else:
        missing = [
            flag
            for flag, value in (
                ("--pipeline", pipeline),
                ("--holdout", holdout),
                ("--require", require),
            )
            if value is None
        ]
        if missing:
            fail(f"a policy needs {', '.join(missing)} too (cairn models policy --help)")
        assert pipeline is not None and holdout is not None and require is not None
        stored = loop.set_policy(
            model,
            pipeline=pipeline,
            holdout=holdout,
            target=target,
            require=require,
            params=parse_sets(sets or []),
            executor=executor,
            on_alerts=on_alert or [],
            on_data=on_data or [],
            cron=cron,
            dataset=dataset,
            suite=suite,
            window=window,
            alias=alias,
            on_busy=on_busy,
            allow_signature_change=allow_signature_change,
            monitor_window=monitor,
            monitor_every_s=monitor_every,
            shadow_rows=shadow_rows,
            shadow_timeout_s=shadow_timeout,
        )
    if output is PolicyFormat.json:
        write_json(stored.policy.to_dict())
        return
    p = stored.policy
    lines = [
        f"{p.model}: retrained by {p.pipeline} on {', '.join(p.triggers)}",
        f"  data: {p.dataset or '-'}"
        + (f", must pass suite {p.suite}" if p.suite else "")
        + (f", window {p.window}" if p.window else ""),
        f"  scored on: {p.holdout} (label {p.target})",
        f"  promoted to {p.alias} when: {p.require}",
        f"  params: {json.dumps(p.params) if p.params else '-'}; while busy: {p.on_busy}",
    ]
    if p.monitor_window:
        lines.append(f"  monitored every {p.monitor_every_s:g} s in windows of {p.monitor_window}")
    if p.shadow_rows:
        lines.append(
            f"  shadow period: {p.shadow_rows} rows of live traffic "
            f"(at most {p.shadow_timeout_s:g} s) before deciding"
        )
    if stored.next_due_ms is not None:
        lines.append(f"  next cron time: {describe_time(stored.next_due_ms)}")
    lines.append("  cairn scheduler runs it")
    console.print(Text("\n".join(lines)))


def retrain_command(
    model: Annotated[str, typer.Argument(help="the model to retrain now, by its policy")],
    reason: Annotated[str, typer.Option("--reason", help="why, for the audit trail")] = "by hand",
    now: Annotated[
        bool,
        typer.Option("--now", help="run it here and wait (otherwise cairn scheduler takes it)"),
    ] = False,
) -> None:
    """Queue a retraining of a model through its policy (or run it here with --now)."""
    require_project()
    from cairn import loop

    queued = loop.request_retraining(model, reason=reason)
    if queued.state != "queued" or not now:
        console.print(Text(queued.summary()))
        return
    ended = loop.run_retraining(queued.id)
    for line in loop.describe(ended):
        console.print(Text(line))
    if ended.state in ("failed", "blocked"):
        raise typer.Exit(1)


def retrainings_command(
    model: Annotated[str | None, typer.Argument(help="the model (default: every model)")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="the newest N")] = 20,
    output: Annotated[ListFormat, typer.Option("--format", help="table or json")] = (
        ListFormat.table
    ),
) -> None:
    """The loop's retrainings, newest first: trigger, state, challenger, decision."""
    require_project()
    from cairn import loop

    found = loop.list_retrainings(model, limit=limit)
    if output is ListFormat.json:
        write_json([r.to_dict() for r in found])
        return
    if not found:
        console.print(Text("no retraining yet"))
        return
    table = Table("#", "model", "started", "trigger", "state", "challenger", "decision", box=None)
    for r in found:
        table.add_row(
            str(r.id),
            Text(r.model),
            describe_time(r.started_ms or r.created_ms),
            Text(r.trigger),
            r.state + (f" ({r.stage})" if r.state == "running" else ""),
            "-" if r.challenger is None else str(r.challenger),
            Text(r.reason or "-"),
        )
    console.print(table)
