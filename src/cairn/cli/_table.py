"""Listings as aligned plain-text tables, on the standard library.

rich lays out a 1,000-row table in about a second, longer than the rest of ``cairn runs ls``
together; listings are plain columns, so this writes them directly (milliseconds). A value is
never cut: on a terminal too narrow for every column, whole columns are left out from the right
and a note on stderr names them (``--format csv`` or ``json`` shows everything); piped output
keeps every column.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TextIO

GAP = "  "


@dataclass(frozen=True)
class Column:
    """A column's title, whether its values are right-aligned (numbers), and whether it must
    stay when the terminal is too narrow."""

    title: str
    right: bool = False
    keep: bool = False


def write_table(
    columns: Sequence[Column],
    rows: Sequence[Sequence[str]],
    *,
    out: TextIO | None = None,
    err: TextIO | None = None,
    width: int | None = None,
) -> None:
    """Write ``rows`` under ``columns``, aligned; leave out the rightmost columns (never part of
    a value) that do not fit ``width`` (default: the terminal's, unlimited when piped)."""
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    if width is None:
        width = _terminal_width(out)
    widths = [len(c.title) for c in columns]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    shown = _fitting(columns, widths, width)
    left_out = [c.title for i, c in enumerate(columns) if i not in shown]
    bold = _is_terminal(out) and "NO_COLOR" not in os.environ
    header = _line([c.title for c in columns], columns, widths, shown)
    lines = [f"\033[1m{header}\033[0m" if bold else header]
    lines.extend(_line(row, columns, widths, shown) for row in rows)
    out.write("\n".join(lines) + "\n")
    out.flush()
    if left_out:
        err.write(
            f"{len(left_out)} column(s) left out to fit the terminal: {', '.join(left_out)} "
            "(--format csv or json shows every column)\n"
        )


def _line(
    cells: Sequence[str], columns: Sequence[Column], widths: Sequence[int], shown: Sequence[int]
) -> str:
    parts = []
    for i in shown:
        cell = cells[i]
        parts.append(cell.rjust(widths[i]) if columns[i].right else cell.ljust(widths[i]))
    return GAP.join(parts).rstrip()


def _fitting(columns: Sequence[Column], widths: Sequence[int], width: int) -> list[int]:
    """The indexes of the columns shown: every kept column, then others left to right while
    they fit."""
    shown = [i for i, c in enumerate(columns) if c.keep]
    used = sum(widths[i] for i in shown) + len(GAP) * max(0, len(shown) - 1)
    for i, column in enumerate(columns):
        if column.keep:
            continue
        need = widths[i] + (len(GAP) if shown else 0)
        if used + need > width:
            break  # later columns stay out too: the table keeps its order
        shown.append(i)
        used += need
    return sorted(shown)


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _terminal_width(stream: TextIO) -> int:
    if not _is_terminal(stream):
        return sys.maxsize  # piped: a script reads every column
    return terminal_columns()


def terminal_columns() -> int:
    """The terminal's width: $COLUMNS, else the terminal's own, else 80 (shutil's rule, without
    importing shutil and the compression modules it pulls in)."""
    try:
        return int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        pass
    try:
        return os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
    except (AttributeError, ValueError, OSError):
        return 80
