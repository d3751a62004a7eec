"""``cairn data``: add, get, list, show, diff, edit, remove and check datasets."""

from __future__ import annotations

import shlex
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from cairn import data
from cairn.cli._interrupt import interrupted
from cairn.cli._listing import print_datasets
from cairn.cli._project import require_project
from cairn.cli._render import console, err_console, human_size, write_csv, write_json
from cairn.core.errors import InvalidInputError
from cairn.core.ids import describe_time
from cairn.data import Dataset, DatasetDetail, DatasetVersion, VersionDiff

app = typer.Typer(
    help="Version datasets and keep their catalog: owners, frequencies, lineage.",
    no_args_is_help=True,
)

TagOption = Annotated[
    list[str] | None,
    typer.Option("--tag", help="key=value (repeatable)", show_default=False),
]
DescriptionOption = Annotated[str | None, typer.Option("--description", help="what the data is")]
OwnerOption = Annotated[str | None, typer.Option("--owner", help="who answers for it")]
FrequencyOption = Annotated[
    str | None,
    typer.Option("--frequency", help="hourly, daily, weekly, monthly or a cron expression"),
]
SourceOption = Annotated[str | None, typer.Option("--source", help="where the data comes from")]


class Format(str, Enum):
    """Output formats of listings."""

    table = "table"
    csv = "csv"
    json = "json"


def parse_tags(values: list[str] | None) -> dict[str, str]:
    """``["k=v", ...]`` as a dict; a value without '=' is refused."""
    tags: dict[str, str] = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InvalidInputError(f"--tag takes key=value (e.g. --tag team=growth), not {item!r}")
        tags[key.strip()] = value
    return tags


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


@app.command("add")
def add_command(
    path: Annotated[str, typer.Argument(help="a file or folder, or an s3:// URL")],
    name: Annotated[str, typer.Option("--name", "-n", help="the dataset's name")],
    description: DescriptionOption = None,
    owner: OwnerOption = None,
    frequency: FrequencyOption = None,
    source: SourceOption = None,
    tag: TagOption = None,
    suite: Annotated[
        str | None, typer.Option("--suite", help="refuse a version failing this suite")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="add even if the suite fails (recorded)")
    ] = False,
) -> None:
    """Add a file or folder as the next version of a dataset (unchanged content: no version)."""
    tags = parse_tags(tag)
    try:
        result = data.add(
            path,
            name,
            description=description,
            owner=owner,
            frequency=frequency,
            source=source,
            tags=tags,
            suite=suite,
            force=force,
        )
    except KeyboardInterrupt:
        # A version is recorded in one transaction after every object is stored, so an
        # interrupted add made none; objects it stored are unreferenced and gc frees them.
        interrupted(f"no version of {name} was added")
    if result.suite_report:
        # The suite's warnings (and, with --force, its errors) matter even when it passed.
        err_console.print(
            Text(f"suite {suite}: {result.suite_report}".replace("\n", "\n  ")),
            soft_wrap=True,
        )
    v = result.version
    if not result.created:
        console.print(
            f"{v.dataset} is unchanged: same content as {v.ref}", markup=False, highlight=False
        )
        return
    console.print(
        f"added {v.ref}: {_plural(result.files, 'file')}, {human_size(v.size)} "
        f"({result.hashed} hashed, {_plural(result.stored, 'new object')})",
        markup=False,
        highlight=False,
    )


@app.command("get")
def get_command(
    ref: Annotated[str, typer.Argument(help="name, name@v2 or name@latest")],
    dest: Annotated[Path, typer.Argument(help="the folder to copy the files into")],
    force: Annotated[bool, typer.Option("--force", help="replace files already there")] = False,
) -> None:
    """Copy a version's files into a folder (digests verified)."""
    require_project()
    found = data.version(ref)
    target = data.get(found.ref, dest, force=force)  # the version just named, not a newer one
    console.print(
        f"copied {found.ref} ({_plural(found.file_count, 'file')}, {human_size(found.size)}) "
        f"to {target}",
        markup=False,
        highlight=False,
    )


LIST_FIELDS = [
    "name",
    "description",
    "owner",
    "frequency",
    "source",
    "tags",
    "latest",
    "versions",
    "last_updated",
    "size",
    "files",
    "stale",
]


def _dataset_dict(d: Dataset) -> dict[str, Any]:
    latest = d.latest
    return {
        "name": d.name,
        "description": d.description,
        "owner": d.owner,
        "frequency": d.frequency,
        "source": d.source,
        "tags": d.tags,
        "latest": latest.ref if latest else None,
        "versions": d.version_count,
        "last_updated": describe_time(latest.created_ms) if latest else None,
        "size": latest.size if latest else None,
        "files": latest.file_count if latest else None,
        "stale": d.stale,
    }


@app.command("ls")
def list_command(
    output: Annotated[Format, typer.Option("--format", help="table, csv or json")] = Format.table,
) -> None:
    """List datasets with owner, frequency, latest version and whether it is overdue."""
    require_project()
    datasets = data.list_datasets()
    if output is Format.json:
        write_json([_dataset_dict(d) for d in datasets])
        return
    if output is Format.csv:
        rows = [_dataset_dict(d) for d in datasets]
        write_csv(LIST_FIELDS, [[_cell(r[k]) for k in LIST_FIELDS] for r in rows])
        return
    print_datasets(datasets)


def _cell(value: Any) -> Any:
    if isinstance(value, dict):
        return ";".join(f"{k}={v}" for k, v in value.items())
    return value


@app.command("show")
def show_command(name: Annotated[str, typer.Argument(help="the dataset's name")]) -> None:
    """Show a dataset: catalog fields, tags, versions, tables, the runs that used it, history."""
    require_project()
    _print_detail(data.show_dataset(name))


def _print_detail(detail: DatasetDetail) -> None:
    # Every value here is the user's text: escaped or wrapped in Text, never markup.
    d = detail.dataset
    console.print(f"[bold]{escape(d.name)}[/]" + (" [bold red](overdue)[/]" if d.stale else ""))
    facts = [
        ("description", d.description),
        ("owner", d.owner),
        ("frequency", d.frequency),
        ("source", d.source),
        ("created", describe_time(d.created_ms) + " UTC"),
    ]
    for label, value in facts:
        console.print(f"  [dim]{label:>11}[/]  {escape(value or '-')}", highlight=False)
    if d.tags:
        tags = ", ".join(f"{k}={v}" for k, v in d.tags.items())
        console.print(f"  [dim]{'tags':>11}[/]  {escape(tags)}", highlight=False)
    table = Table(box=None, header_style="bold", title="versions", title_justify="left")
    for column in ("version", "added", "by", "run", "size", "files", "from"):
        table.add_column(column, no_wrap=column != "from")
    for v in detail.versions:
        table.add_row(
            Text(
                f"v{v.number}" + (" (deleted)" if v.deleted else ""),
                style="dim" if v.deleted else "",
            ),
            describe_time(v.created_ms),
            Text(v.user or "-"),
            v.run_id or "-",
            human_size(v.size),
            str(v.file_count),
            Text(v.location or "-"),
        )
    console.print()
    console.print(table)
    _print_tables(detail)
    _print_uses(detail)
    _print_models(detail)
    if detail.events:
        table = Table("when", "by", "field", "old", "new", box=None, header_style="bold")
        table.title, table.title_justify = "history", "left"
        for e in detail.events:
            table.add_row(
                describe_time(e.ts_ms),
                Text(e.user or "-"),
                Text(e.field),
                Text(e.old or "-"),
                Text(e.new or "-"),
            )
        console.print()
        console.print(table)


def _print_tables(detail: DatasetDetail) -> None:
    if not detail.tables:
        return
    table = Table("version", "file", "rows", "columns", box=None, header_style="bold")
    table.title, table.title_justify = "tables", "left"
    for number, files in detail.tables.items():
        for path, facts in files.items():
            columns = ", ".join(f"{c}: {t}" for c, t in facts.columns)
            table.add_row(f"v{number}", Text(path), f"{facts.rows:,}", Text(columns))
    console.print()
    console.print(table)


def _print_models(detail: DatasetDetail) -> None:
    if not detail.models:
        return
    table = Table("version", "model", "via run", box=None, header_style="bold")
    table.title, table.title_justify = "models made from it", "left"
    for number, uses in sorted(detail.models.items()):
        for use in uses:
            table.add_row(f"v{number}", Text(use.model_version), use.run_id or "-")
    console.print()
    console.print(table)


def _print_uses(detail: DatasetDetail) -> None:
    if not detail.uses:
        return
    table = Table("version", "run", "name", "relation", "when", box=None, header_style="bold")
    table.title, table.title_justify = "used by runs", "left"
    for number, uses in detail.uses.items():
        for use in uses:
            relation = "read by" if use.relation == "input" else "written by"
            table.add_row(
                f"v{number}",
                use.run_id,
                Text(use.run_name),
                relation,
                describe_time(use.created_ms),
            )
    console.print()
    console.print(table)


@app.command("diff")
def diff_command(
    ref_a: Annotated[str, typer.Argument(help="version A, e.g. customers@v1")],
    ref_b: Annotated[str, typer.Argument(help="version B, e.g. customers@v2")],
) -> None:
    """Show the files and tables that differ between two versions."""
    require_project()
    _print_diff(data.diff_versions(ref_a, ref_b))


def _print_diff(diff: VersionDiff) -> None:
    def header(label: str, v: DatasetVersion) -> str:
        return f"{label}  {v.ref}  {_plural(v.file_count, 'file')}, {human_size(v.size)}"

    console.print(header("A", diff.a), markup=False, highlight=False)
    console.print(header("B", diff.b), markup=False, highlight=False)
    if diff.same:
        console.print(f"{diff.a.ref} and {diff.b.ref} hold the same files", markup=False)
        return
    lines = Text()
    for f in diff.added:
        lines.append(f"+ {f.path}  ({human_size(f.size)})\n", style="green")
    for f in diff.removed:
        lines.append(f"- {f.path}  ({human_size(f.size)})\n", style="red")
    for c in diff.changed:
        lines.append(
            f"~ {c.path}  ({human_size(c.size_a)} → {human_size(c.size_b)})\n", style="yellow"
        )
    console.print()
    console.print(lines, end="", highlight=False)
    for t in diff.tables:
        name = t.path_a if t.path_a == t.path_b else f"{t.path_a} → {t.path_b}"
        text = Text(f"\ntable {name}\n", style="bold")
        delta = t.rows_b - t.rows_a
        text.append(f"  rows: {t.rows_a:,} → {t.rows_b:,} ({delta:+,})\n")
        for column, dtype in t.columns_added:
            text.append(f"  + column {column}: {dtype}\n", style="green")
        for column, dtype in t.columns_removed:
            text.append(f"  - column {column}: {dtype}\n", style="red")
        for column, old, new in t.types_changed:
            text.append(f"  ~ column {column}: {old} → {new}\n", style="yellow")
        console.print(text, end="", highlight=False)
    console.print(
        f"\n{len(diff.added)} added, {len(diff.removed)} removed, {len(diff.changed)} changed",
        markup=False,
        highlight=False,
    )


@app.command("stale")
def stale_command() -> None:
    """List datasets whose latest version is overdue; exit status 1 when there is any."""
    require_project()
    overdue = data.stale_datasets()
    if not overdue:
        console.print("no dataset is overdue")
        return
    for d in overdue:
        latest = d.latest
        when = describe_time(latest.created_ms) if latest else "-"
        console.print(
            f"{d.name}: {d.frequency}, last updated {when} UTC"
            + (f" ({latest.ref})" if latest else "")
            + (f", owner {d.owner}" if d.owner else ""),
            markup=False,
            highlight=False,
        )
    raise typer.Exit(code=1)


@app.command("edit")
def edit_command(
    name: Annotated[str, typer.Argument(help="the dataset's name")],
    description: DescriptionOption = None,
    owner: OwnerOption = None,
    frequency: FrequencyOption = None,
    source: SourceOption = None,
    tag: TagOption = None,
) -> None:
    """Edit catalog fields (each change recorded; versions are never touched; '' clears)."""
    require_project()
    tags = parse_tags(tag)
    d = data.edit_dataset(
        name, description=description, owner=owner, frequency=frequency, source=source, tags=tags
    )
    given = {"description": description, "owner": owner, "frequency": frequency, "source": source}
    now = {
        "description": d.description,
        "owner": d.owner,
        "frequency": d.frequency,
        "source": d.source,
    }
    shown = [f"{k}={now[k] or '-'}" for k, v in given.items() if v is not None]
    shown += [f"tag {k}={d.tags.get(k, '')}" for k in tags]
    console.print(f"edited {d.name}: {', '.join(shown)}", markup=False, highlight=False)


@app.command("rm")
def remove_command(
    ref: Annotated[str, typer.Argument(help="one version: name@vN")],
    force: Annotated[
        bool, typer.Option("--force", help="remove it even though model versions depend on it")
    ] = False,
) -> None:
    """Mark a version deleted (undo with 'cairn data restore'); refused while models use it."""
    require_project()
    v = data.remove_version(ref, force=force)
    console.print(
        f"deleted {v.ref}; undo with 'cairn data restore {v.ref}'", markup=False, highlight=False
    )


@app.command("restore")
def restore_command(ref: Annotated[str, typer.Argument(help="one version: name@vN")]) -> None:
    """Bring back a version removed with 'cairn data rm'."""
    require_project()
    v = data.restore_version(ref)
    console.print(f"restored {v.ref}", markup=False, highlight=False)


@app.command("status")
def status_command(
    name: Annotated[str, typer.Argument(help="the dataset (or name@vN)")],
    path: Annotated[
        str | None, typer.Argument(help="a local file or folder (default: where it was added from)")
    ] = None,
) -> None:
    """Compare local files with the latest version, recording nothing."""
    require_project()
    result = data.status(name, path)
    if result.unchanged:
        console.print(f"unchanged: {result.path} matches {result.version.ref}", markup=False)
        return
    console.print(f"{result.path} differs from {result.version.ref}:", markup=False)
    lines = Text()
    for rel in result.added:
        lines.append(f"  added    {rel}\n", style="green")
    for rel in result.removed:
        lines.append(f"  removed  {rel}\n", style="red")
    for rel in result.changed:
        lines.append(f"  changed  {rel}\n", style="yellow")
    console.print(lines, end="", highlight=False)
    console.print(
        f"{len(result.added)} added, {len(result.removed)} removed, "
        f"{len(result.changed)} changed; record them with cairn data add "
        f"{shlex.quote(result.path)} --name {result.version.dataset}",
        markup=False,
        highlight=False,
    )
