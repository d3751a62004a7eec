"""``cairn models``: list, show, register, alias, rollback, history, lineage, compare, promote,
edit, rm, restore."""

from __future__ import annotations

import json
from enum import Enum
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from cairn import registry
from cairn.cli._listing import print_models
from cairn.cli._models_loop import add_loop_commands
from cairn.cli._project import require_project
from cairn.cli._render import console, fail, fmt_value, write_csv, write_json
from cairn.cli.data import Format, parse_tags
from cairn.core.ids import describe_time
from cairn.registry import LineageNode, ModelVersion

app = typer.Typer(
    help="Register model versions, move aliases, trace lineage, promote by rule.",
    no_args_is_help=True,
)


class LineageFormat(str, Enum):
    """Output formats of a lineage map."""

    tree = "tree"
    json = "json"


add_loop_commands(app)

LIST_FIELDS = ("name", "latest_version", "versions", "aliases", "description", "updated")


@app.command("ls")
def list_command(
    output: Annotated[Format, typer.Option("--format", help="table, csv or json")] = Format.table,
) -> None:
    """List registered models with their latest version and aliases."""
    require_project()
    models = registry.list_models()
    rows = [
        {
            "name": m.name,
            "latest_version": m.latest_version,
            "versions": m.version_count,
            "aliases": m.aliases,
            "description": m.description,
            "updated": describe_time(m.updated_ms),
            "tags": m.tags,
        }
        for m in models
    ]
    if output is Format.json:
        write_json(rows)
        return
    if output is Format.csv:
        write_csv(LIST_FIELDS, [[_cell(r[k]) for k in LIST_FIELDS] for r in rows])
        return
    print_models(models)


@app.command("show")
def show_command(
    ref: Annotated[
        str, typer.Argument(help="a model (churn) or one version (churn/3, churn@champion)")
    ],
    deleted: Annotated[bool, typer.Option("--deleted", help="list deleted versions too")] = False,
) -> None:
    """Show a model and its versions, or one version in detail (signature, requirements)."""
    require_project()
    text = ref.removeprefix("models:/")
    if "/" in text or "@" in text:
        _print_version(registry.get_model_version(ref, include_deleted=True))
        return
    model = registry.get_model(text)
    console.print(Text(model.name, style="bold"))
    if model.description:
        console.print(Text(model.description))
    if model.tags:
        console.print(Text("tags: " + ", ".join(f"{k}={v}" for k, v in model.tags.items())))
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("version", "aliases", "flavor", "run", "created", "user", "description"):
        table.add_column(column, no_wrap=column != "description")
    for v in registry.list_versions(model.name, include_deleted=deleted):
        table.add_row(
            str(v.version) + (" (deleted)" if v.deleted else ""),
            Text(", ".join(v.aliases) or "-"),
            v.flavor,
            v.run_id or "-",
            describe_time(v.created_ms),
            Text(v.user or "-"),
            Text(v.description or "-"),
            style="dim" if v.deleted else None,
        )
    console.print(table)


def _print_version(v: ModelVersion) -> None:
    title = f"{v.name}/{v.version}" + (f" ({', '.join(v.aliases)})" if v.aliases else "")
    console.print(Text(title + ("  [deleted]" if v.deleted else ""), style="bold"))
    facts = [
        ("uri", v.uri),
        ("flavor", v.flavor),
        ("run", v.run_id or "-"),
        ("artifacts", v.artifact_path),
        ("created", f"{describe_time(v.created_ms)} by {v.user or '-'}"),
        ("description", v.description or "-"),
    ]
    for key, value in facts:
        console.print(Text(f"{key + ':':<13}{value}"))
    if v.tags:
        console.print(Text("tags:        " + ", ".join(f"{k}={x}" for k, x in v.tags.items())))
    if v.requirements:
        reqs = ", ".join(f"{k}=={x}" for k, x in v.requirements.items())
        console.print(Text(f"requirements: {reqs}"))
    if v.metadata:
        console.print(Text(f"metadata:    {json.dumps(v.metadata, default=str)}"))
    signature = registry.Signature.from_dict(v.signature) if v.signature else None
    if signature is None:
        console.print(Text("signature:   none (log it with input_example= to get one)"))
        return
    table = Table("input", "dtype", box=None, header_style="bold")
    if signature.tensor is not None:
        table.add_row("(array)", f"{signature.tensor.dtype} {list(signature.tensor.shape)}")
    for column in signature.columns:
        table.add_row(Text(column.name), column.dtype)
    console.print()
    console.print(table)
    if signature.outputs:
        console.print(Text(f"output: {json.dumps(signature.outputs)}"))


@app.command("register")
def register_command(
    uri: Annotated[str, typer.Argument(help="the run's model: runs:/<run id>/model")],
    name: Annotated[str, typer.Argument(help="the model it becomes a version of")],
    description: Annotated[
        str | None, typer.Option("--description", help="what this version is")
    ] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="key=value (repeatable)")] = None,
) -> None:
    """Register a model a run saved (autologging saves one per training) as the next version."""
    require_project()
    v = registry.register_model(uri, name, description=description, tags=parse_tags(tag or []))
    console.print(Text(f"{v.name}/{v.version} registered from {uri} ({v.flavor})"))


@app.command("alias")
def alias_command(
    name: Annotated[str, typer.Argument(help="the model")],
    alias: Annotated[str, typer.Argument(help="the alias, e.g. champion")],
    version: Annotated[str | None, typer.Argument(help="the version number it points at")] = None,
    delete: Annotated[bool, typer.Option("--delete", help="remove the alias")] = False,
) -> None:
    """Set or move an alias to a version (or --delete it); every move is kept in the history."""
    require_project()
    if delete:
        move = registry.delete_alias(name, alias)
        console.print(Text(f"{name}@{alias} deleted (it pointed at version {move.from_version})"))
        return
    if version is None:
        fail(
            f"give the version {alias!r} should point at, e.g. cairn models alias {name} {alias} 3"
        )
    move = registry.set_alias(name, alias, version)
    if move.from_version == move.to_version:
        console.print(Text(f"{name}@{alias} already points at version {move.to_version}"))
    elif move.from_version is None:
        console.print(Text(f"{name}@{alias} -> version {move.to_version}"))
    else:
        console.print(
            Text(f"{name}@{alias} moved: version {move.from_version} -> {move.to_version}")
        )


@app.command("rollback")
def rollback_command(
    name: Annotated[str, typer.Argument(help="the model")],
    reason: Annotated[
        str, typer.Option("--reason", help="why it moves back (kept in the history)")
    ],
    alias: Annotated[str, typer.Option("--alias", help="the alias to move back")] = "champion",
) -> None:
    """Move an alias back to the version it pointed at before its last move."""
    require_project()
    move = registry.rollback_alias(name, alias, reason=reason)
    console.print(
        Text(f"{name}@{alias} rolled back: version {move.from_version} -> {move.to_version}")
    )


@app.command("history")
def history_command(
    name: Annotated[str, typer.Argument(help="the model")],
    limit: Annotated[
        int, typer.Option("--limit", min=1, help="the newest N retrainings shown in full")
    ] = 10,
) -> None:
    """Every alias move of a model (when, who, from which version to which, why), then each
    retraining of the closed loop: trigger, drift, data, validation, pipeline run, scores,
    the rule's checks and the decision."""
    require_project()
    from cairn import loop

    found = loop.model_history(name, limit=limit)
    if not found.moves and not found.retrainings:
        console.print(Text(f"no alias of {name} was ever set"))
        return
    table = Table("when", "alias", "from", "to", "who", "why", box=None, header_style="bold")
    for m in found.moves:
        table.add_row(
            describe_time(m.ts_ms),
            Text(m.alias),
            "-" if m.from_version is None else str(m.from_version),
            "(deleted)" if m.to_version is None else str(m.to_version),
            Text(m.user or "-"),
            Text(m.reason or "-"),
        )
    console.print(table)
    for retraining in found.retrainings:
        console.print()
        for line in loop.describe(retraining):
            console.print(Text(line))


@app.command("lineage")
def lineage_command(
    ref: Annotated[str, typer.Argument(help="a version: churn@champion, churn/3 or churn")],
    output: Annotated[LineageFormat, typer.Option("--format", help="tree or json")] = (
        LineageFormat.tree
    ),
) -> None:
    """Walk up from a model version: its run, the data the run read, the runs that made it."""
    require_project()
    root = registry.model_lineage(ref)
    if output is LineageFormat.json:
        write_json(root.to_dict())
        return
    tree = Tree(_node_label(root))
    _grow(tree, root)
    console.print(tree)


def _grow(branch: Tree, node: LineageNode) -> None:
    for parent in node.parents:
        _grow(branch.add(_node_label(parent)), parent)


def _node_label(node: LineageNode) -> Text:
    f = node.facts
    if node.kind == "model_version":
        aliases = f" ({', '.join(f.get('aliases', []))})" if f.get("aliases") else ""
        return Text.assemble(("model ", "bold"), f"{node.ref}{aliases} · {f.get('flavor')}")
    if node.kind == "run":
        if node.seen_above:
            return Text(f"run {node.ref} (shown above)", style="dim")
        if f.get("missing"):
            return Text(f"run {node.ref} (purged)", style="dim")
        commit = (f.get("git_commit") or "no commit")[:12]
        dirty = " dirty" if f.get("git_dirty") == "true" else ""
        metrics = ", ".join(f"{k}={fmt_value(v)}" for k, v in list(f["metrics"].items())[:6])
        params = ", ".join(f"{k}={fmt_value(v)}" for k, v in list(f["params"].items())[:6])
        parts = [
            f"{f.get('name')} [{f.get('status')}]",
            f"seed {f.get('seed') or '-'}",
            f"git {commit}{dirty}",
        ]
        if params:
            parts.append(f"params {params}")
        if metrics:
            parts.append(f"metrics {metrics}")
        return Text.assemble(("run ", "bold"), f"{node.ref} · " + " · ".join(parts))
    label = f"{node.ref} · {f.get('files')} files · {f.get('digest', '')[:19]}"
    if node.seen_above:
        label += " (shown above)"
    return Text.assemble(("data ", "bold"), label)


@app.command("compare")
def compare_command(
    ref_a: Annotated[str, typer.Argument(help="version A, e.g. churn@champion")],
    ref_b: Annotated[str, typer.Argument(help="version B, e.g. churn@challenger")],
) -> None:
    """Two versions side by side: metrics, params, data versions and code commits."""
    require_project()
    comparison = registry.compare_models(ref_a, ref_b)
    table = Table("", "", escape(ref_a), escape(ref_b), box=None, header_style="bold")
    for section, key, a, b in comparison.rows:
        style = "yellow" if a != b and section != "version" else None
        table.add_row(section, Text(key), Text(fmt_value(a)), Text(fmt_value(b)), style=style)
    console.print(table)


@app.command("promote")
def promote_command(
    name: Annotated[str, typer.Argument(help="the model")],
    from_alias: Annotated[str, typer.Option("--from", help="the alias to promote")] = "challenger",
    to_alias: Annotated[str, typer.Option("--to", help="the alias to move")] = "champion",
    require: Annotated[
        str | None,
        typer.Option("--require", help="e.g. 'metrics.auc >= champion.metrics.auc'"),
    ] = None,
) -> None:
    """Move --to to the version --from points at, only when the --require rule holds."""
    require_project()
    result = registry.promote(name, from_alias=from_alias, to_alias=to_alias, require=require)
    if not result.moved:
        fail(result.reason)  # names each clause that does not hold, once
    for check in result.checks:
        mark = Text("ok  ", style="green") if check.ok else Text("no  ", style="red")
        console.print(Text.assemble(mark, Text(f"{check.text}: {check.why}")))
    before = "nothing" if result.previous is None else f"version {result.previous}"
    console.print(
        Text(f"{name}@{to_alias} -> version {result.from_version} (was {before})", style="bold")
    )


@app.command("edit")
def edit_command(
    ref: Annotated[str, typer.Argument(help="a model (churn) or a version (churn/3)")],
    description: Annotated[str | None, typer.Option("--description")] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="key=value (repeatable)")] = None,
) -> None:
    """Set the description or tags of a model or of one version (versions stay immutable)."""
    require_project()
    if description is None and not tag:
        fail("nothing to change: give --description and/or --tag key=value")
    if description is not None:
        registry.describe(ref, description)
    if tag:
        registry.set_model_tags(ref, parse_tags(tag))
    console.print(Text(f"{ref} updated"))


@app.command("rm")
def remove_command(ref: Annotated[str, typer.Argument(help="one version: churn/3")]) -> None:
    """Mark a version deleted (refused while an alias points at it); cairn gc frees its files."""
    require_project()
    v = registry.delete_version(ref)
    console.print(Text(f"{v.name}/{v.version} deleted (cairn models restore {v.name}/{v.version})"))


@app.command("restore")
def restore_command(ref: Annotated[str, typer.Argument(help="one version: churn/3")]) -> None:
    """Bring back a deleted version (until cairn gc has freed its files)."""
    require_project()
    v = registry.restore_version(ref)
    console.print(Text(f"{v.name}/{v.version} restored"))


def _aliases(aliases: dict[str, int]) -> str:
    return ", ".join(f"{a}={n}" for a, n in aliases.items())


def _cell(value: Any) -> Any:
    if isinstance(value, dict):
        return ";".join(f"{k}={v}" for k, v in value.items())
    return value
