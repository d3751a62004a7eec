"""Inline SVG charts for the monitoring report, drawn in Python (no script, no library).

Every text that reaches a chart goes through ``text`` (HTML-escaped, control characters and
lone surrogates replaced), so a column named ``<script>`` draws as those characters.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Sequence
from datetime import datetime, timezone

__all__ = ["bars", "histogram", "number", "series", "text", "when"]

WIDTH = 640
_PAD_LEFT, _PAD_RIGHT, _PAD_TOP, _PAD_BOTTOM = 48, 12, 12, 30
# C0/C1 controls (bar tab, newline, return) and UTF-16 halves: not valid in an HTML page.
_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def text(value: object, limit: int | None = None) -> str:
    """``value`` as safe HTML text: escaped, with characters a page cannot hold replaced by
    U+FFFD and cut to ``limit`` characters (with an ellipsis)."""
    shown = _UNSAFE.sub("\ufffd", str(value))
    if limit is not None and len(shown) > limit:
        shown = shown[: limit - 1] + "…"
    return html.escape(shown, quote=True)


def number(value: float | None, digits: int = 3) -> str:
    """A number in ``digits`` significant digits, "-" for none or not finite."""
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:.{digits}g}"


def when(ms: int) -> str:
    """A UTC time from epoch milliseconds, to the minute."""
    try:
        return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%d %H:%M")
    except (OverflowError, OSError, ValueError):
        return str(ms)


def histogram(
    edges: Sequence[float],
    reference: Sequence[float] | None,
    current: Sequence[float] | None,
    height: int = 200,
) -> str:
    """Overlaid histograms (shares per bin) of the reference and the current data on common
    ``edges``."""
    sides = [(s, css) for s, css in ((reference, "ref"), (current, "cur")) if s is not None]
    top = max((max(s, default=0.0) for s, _ in sides), default=0.0) or 1.0
    left, right = _PAD_LEFT, WIDTH - _PAD_RIGHT
    bottom = height - _PAD_BOTTOM
    bins = len(edges) - 1
    step = (right - left) / max(bins, 1)
    parts = [_frame(height), _y_axis(0.0, top, height, percent=True)]
    for shares, css in sides:
        for i, share in enumerate(shares):
            if share <= 0:
                continue
            h = (bottom - _PAD_TOP) * share / top
            parts.append(
                f'<rect class={css} x="{left + i * step:.1f}" y="{bottom - h:.1f}" '
                f'width="{max(step - 1, 0.5):.1f}" height="{h:.1f}">'
                f"<title>{number(edges[i])} to {number(edges[i + 1])}: {share:.1%}</title></rect>"
            )
    for x, value in ((left, edges[0]), ((left + right) / 2, None), (right, edges[-1])):
        shown = number(value) if value is not None else number((edges[0] + edges[-1]) / 2)
        parts.append(f'<text x="{x:.1f}" y="{height - 10}" text-anchor=middle>{shown}</text>')
    return _svg(height, parts)


def bars(
    levels: Sequence[str],
    reference: Sequence[float] | None,
    current: Sequence[float] | None,
) -> str:
    """Grouped horizontal bars: each level's share in the reference and the current data."""
    row = 26
    height = _PAD_TOP + row * len(levels) + _PAD_BOTTOM
    label_width = 170
    left, right = label_width, WIDTH - 60
    top = max(max(reference or [0.0], default=0.0), max(current or [0.0], default=0.0)) or 1.0
    parts: list[str] = []
    for i, level in enumerate(levels):
        y = _PAD_TOP + i * row
        parts.append(
            f'<text x="{label_width - 6}" y="{y + 16}" text-anchor=end>'
            f"<title>{text(level, 500)}</title>{text(level, 24)}</text>"
        )
        for j, (shares, css) in enumerate(((reference, "ref"), (current, "cur"))):
            if shares is None:
                continue
            w = (right - left) * shares[i] / top
            parts.append(
                f'<rect class={css} x="{left}" y="{y + 3 + j * 10}" width="{max(w, 0.5):.1f}" '
                f'height="9"><title>{shares[i]:.1%}</title></rect>'
                f'<text x="{left + w + 4:.1f}" y="{y + 11 + j * 10}" class=small>'
                f"{shares[i]:.1%}</text>"
            )
    return _svg(height, parts)


def series(
    times: Sequence[int],
    values: Sequence[float | None],
    marked: Sequence[bool],
    threshold: float | None,
    *,
    label: str,
    baseline_label: str = "threshold",
    height: int = 170,
) -> str:
    """A time series (``values`` at ``times``, gaps where None), ``marked`` points in red,
    and a dashed line at ``threshold``."""
    left, right = _PAD_LEFT, WIDTH - _PAD_RIGHT
    bottom = height - _PAD_BOTTOM
    finite = [v for v in values if v is not None and math.isfinite(v)]
    low = min([0.0, *finite, *([threshold] if threshold is not None else [])])
    high = max([*finite, *([threshold] if threshold is not None else []), low + 1e-9])
    high += (high - low) * 0.1
    start, end = (times[0], times[-1]) if times else (0, 1)
    span = end - start

    def x_of(i: int) -> float:
        share = (times[i] - start) / span if span else (i / max(len(times) - 1, 1))
        return left + (right - left) * share

    def y_of(value: float) -> float:
        return bottom - (bottom - _PAD_TOP) * (value - low) / (high - low)

    parts = [_frame(height), _y_axis(low, high, height)]
    if threshold is not None:
        y = y_of(threshold)
        parts.append(
            f'<line class=limit x1="{left}" x2="{right}" y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text x="{right}" y="{y - 3:.1f}" text-anchor=end class=small>'
            f"{text(baseline_label)} {number(threshold)}</text>"
        )
    run: list[str] = []
    lines: list[str] = []
    for i, value in enumerate(values):
        if value is None or not math.isfinite(value):
            if len(run) > 1:
                lines.append(" ".join(run))
            run = []
            continue
        run.append(f"{x_of(i):.1f},{y_of(value):.1f}")
    if len(run) > 1:
        lines.append(" ".join(run))
    parts.extend(f'<polyline class=line points="{points}"/>' for points in lines)
    for i, value in enumerate(values):
        # Only marked points get a dot (and a tooltip): 500 of each would triple the page.
        if value is None or not math.isfinite(value) or not marked[i]:
            continue
        parts.append(
            f'<circle class=hit cx="{x_of(i):.1f}" cy="{y_of(value):.1f}" r="3">'
            f"<title>{when(times[i])}: {text(label)} {number(value)}</title></circle>"
        )
    if len(values) == 1 and values[0] is not None and not marked[0]:  # no line to draw
        parts.append(f'<circle class=dot cx="{x_of(0):.1f}" cy="{y_of(values[0]):.1f}" r="3"/>')
    if times:
        parts.append(f'<text x="{left}" y="{height - 10}">{when(times[0])}</text>')
        parts.append(
            f'<text x="{right}" y="{height - 10}" text-anchor=end>{when(times[-1])}</text>'
        )
    return _svg(height, parts)


def _frame(height: int) -> str:
    bottom = height - _PAD_BOTTOM
    return (
        f'<line class=axis x1="{_PAD_LEFT}" x2="{WIDTH - _PAD_RIGHT}" y1="{bottom}" y2="{bottom}"/>'
    )


def _y_axis(low: float, high: float, height: int, *, percent: bool = False) -> str:
    bottom = height - _PAD_BOTTOM
    out = []
    for share in (0.0, 0.5, 1.0):
        value = low + (high - low) * share
        y = bottom - (bottom - _PAD_TOP) * share
        shown = f"{value:.0%}" if percent else number(value, 2)
        out.append(f'<text x="{_PAD_LEFT - 4}" y="{y + 4:.1f}" text-anchor=end>{shown}</text>')
    return "".join(out)


def _svg(height: int, parts: list[str]) -> str:
    return (
        f'<svg viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" role=img>'
        f"{''.join(parts)}</svg>"
    )
