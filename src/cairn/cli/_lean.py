"""``cairn runs|models|data ls`` answered without Typer, rich, SQLAlchemy or pydantic where it
can be.

``main`` tries this before building the Typer app: a plain table listing of the default SQLite
store (for runs, ``--limit``, ``--experiment`` and ``--deleted`` allowed) is read by the
capability's lean reader (``find_runs_lean``, ``list_models_lean``, ``list_datasets_lean``) and
printed by the same function the full command uses.
Any other option, a value it cannot parse, another store or any doubt returns False, and the
full command answers (with its own errors).
"""

from __future__ import annotations

from typing import Any

from cairn.cli._listing import print_datasets, print_models, print_runs


def quick_list(args: list[str]) -> bool:
    """Print the listing ``cairn ARGS`` asks for and return True, or return False (nothing
    printed) for the full command to answer."""
    if args[:2] in (["models", "ls"], ["data", "ls"]):
        return _catalog(args[0], args[2:])
    if args[:2] != ["runs", "ls"]:
        return False
    options = _runs_ls_options(args[2:])
    if options is None:
        return False
    from cairn.tracking._lean import find_runs_lean

    records = find_runs_lean(**options)
    if records is None:
        return False
    print_runs(records, filtered=False)
    return True


def _runs_ls_options(args: list[str]) -> dict[str, Any] | None:
    """find_runs_lean's keyword arguments for ``runs ls ARGS``, or None (the full command)."""
    options: dict[str, Any] = {}
    rest = list(args)
    while rest:
        arg = rest.pop(0)
        name, _, inline = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        if name == "--deleted" and not inline:
            options["include_deleted"] = True
            continue
        if name not in ("--limit", "-n", "--experiment", "-e", "--format"):
            return None
        if not inline:
            if not rest:
                return None
            inline = rest.pop(0)
        if name == "--format":
            if inline != "table":
                return None
        elif name in ("--limit", "-n"):
            if not inline.isdigit() or not 0 < int(inline) <= 2**62:
                return None
            options["limit"] = int(inline)
        else:
            if inline.startswith("-") or "experiment" in options:
                return None
            options["experiment"] = inline
    return options


def _catalog(group: str, args: list[str]) -> bool:
    """``cairn models ls`` or ``cairn data ls`` as a table (no option but ``--format table``)."""
    if args not in ([], ["--format", "table"], ["--format=table"]):
        return False
    if group == "models":
        from cairn.registry import list_models_lean

        models = list_models_lean()
        if models is None:
            return False
        print_models(models)
        return True
    from cairn.data import list_datasets_lean

    datasets = list_datasets_lean()
    if datasets is None:
        return False
    print_datasets(datasets)
    return True
