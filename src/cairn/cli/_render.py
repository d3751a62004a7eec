"""Rendering for the CLI: errors without tracebacks, tables, CSV and JSON."""

from __future__ import annotations

import csv
import json
import math
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from rich.console import Console
from rich.markup import escape

from cairn.core.errors import CairnError

console = Console()
err_console = Console(stderr=True)
if not console.is_terminal:  # piped output: don't squeeze tables into 80 columns
    console.width = max(console.width, 160)


def fail(error: CairnError | str) -> NoReturn:
    """Print the error's message (no traceback) and exit with status 1."""
    # The message holds the user's own text (names, paths): never read it as markup.
    err_console.print(
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
