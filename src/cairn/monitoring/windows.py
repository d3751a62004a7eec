"""Monitoring windows over the prediction log: how a window is named and where one begins.

A window is a span of time (``30m``, ``1h``, ``1d``, ``7d``; aligned to the UTC epoch, so the
same rows always fall in the same window whoever computes it) or a number of rows (``10000``:
consecutive rows in the log's order).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from cairn.core.errors import InvalidInputError

__all__ = ["WindowSpec", "parse_window"]

_UNITS_MS = {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_TIME = re.compile(r"(\d{1,9})([smhdw])")
_ROWS = re.compile(r"\d{1,12}")
MIN_WINDOW_MS = 60_000  # shorter windows hold too few rows to say anything
MAX_WINDOW_MS = 366 * 86_400_000


@dataclass(frozen=True)
class WindowSpec:
    """A window of ``size`` milliseconds (``kind="time"``) or ``size`` rows."""

    kind: Literal["time", "rows"]
    size: int
    text: str

    def start_of(self, ts_ms: int) -> int:
        """The start of the time window holding ``ts_ms`` (epoch-aligned)."""
        if self.kind != "time":
            raise ValueError("row windows start where the previous one ended")
        return ts_ms - ts_ms % self.size


def parse_window(text: str | int) -> WindowSpec:
    """``"1h"``, ``"1d"``, ``"30m"``, ``"7d"`` or a row count (``"10000"`` or ``10000``)."""
    if isinstance(text, bool) or not isinstance(text, (str, int)):
        raise InvalidInputError(
            f"a window is a duration like '1h' or '1d', or a row count like 10000; not {text!r}"
        )
    shown = str(text).strip().lower()
    if _ROWS.fullmatch(shown):
        rows = int(shown)
        if rows < 1:
            raise InvalidInputError("a window of rows holds at least 1 row; give e.g. 10000")
        return WindowSpec("rows", rows, shown)
    match = _TIME.fullmatch(shown)
    if match is None:
        raise InvalidInputError(
            f"cannot read the window {str(text)[:40]!r}: give a duration (30m, 1h, 1d, 7d) or a "
            "row count (10000)"
        )
    size = int(match.group(1)) * _UNITS_MS[match.group(2)]
    if not MIN_WINDOW_MS <= size <= MAX_WINDOW_MS:
        raise InvalidInputError(
            f"a time window lasts from 1 minute to 366 days; {shown!r} does not"
        )
    return WindowSpec("time", size, shown)
