"""Rendering for the CLI: errors without tracebacks, values, CSV and JSON (rich on first use)."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from cairn.core.errors import CairnError

if TYPE_CHECKING:
    from rich.console import Console

    console: Console
    err_console: Console

_consoles: dict[str, Any] = {}


def __getattr__(name: str) -> Any:
    # rich's consoles are made on first use: listings print without importing rich at all.
    if name not in ("console", "err_console"):
        raise AttributeError(f"module 'cairn.cli._render' has no attribute {name!r}")
    if name not in _consoles:
        from rich.console import Console

        made = Console(stderr=name == "err_console")
        if name == "console" and not made.is_terminal:  # piped: don't squeeze into 80 columns
            made.width = max(made.width, 160)
        _consoles[name] = made
    return _consoles[name]


def fail(error: CairnError | str) -> NoReturn:
    """Print the error's message (no traceback) and exit with status 1."""
    from rich.markup import escape

    # The message holds the user's own text (names, paths): never read it as markup.
    __getattr__("err_console").print(
        f"[bold red]error:[/] {escape(str(error))}", highlight=False, markup=True, soft_wrap=True
    )
    raise SystemExit(1)


def fmt_value(value: Any) -> str:
    """Format a param or metric value compactly for a table cell."""
    if value is None:
        return "-"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return f"{value:.6g}"
    if isinstance(value, (list, dict, bool)):
        return json.dumps(value)
    return str(value)


def write_csv(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Write rows as CSV to standard output."""
    import csv

    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if v is None else v for v in row])


def write_json(data: Any) -> None:
    """Write data as indented JSON to standard output."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def human_size(size: int) -> str:
    """Bytes for people: 512 B, 61.1 KiB, 3.2 GiB."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")
