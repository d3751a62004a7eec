"""Reference vs current distributions for the monitoring report: numeric columns as
histograms on common bins computed from the summaries' equal-weight points, categorical ones
as the shares of their most frequent levels (the rest as "other")."""

from __future__ import annotations

import math

from cairn.monitoring import _charts
from cairn.monitoring._charts import number
from cairn.monitoring.sketch import (
    CategoricalSketch,
    ColumnSketch,
    NumericSketch,
    _categorical,
    _merge_numeric_parts,
)

__all__ = ["distribution", "merge_parts"]

LEVELS_SHOWN = 12  # categorical levels drawn by name (the rest as "other")
BINS = 30
POINTS = 20_000  # numeric points kept per merged column (plenty for 30 bins)


def distribution(kind: str, ref: ColumnSketch | None, cur: ColumnSketch | None) -> str:
    """The reference and current distributions of a column as a chart (HTML)."""
    if kind == "numeric":
        sides = [s if isinstance(s, NumericSketch) and len(s.values) else None for s in (ref, cur)]
        if sides == [None, None]:
            return "<p class=muted>No values to draw.</p>"
        return _numeric(sides[0], sides[1]) + _missing_note(ref, cur)
    if kind == "categorical":
        shown = [s if isinstance(s, CategoricalSketch) and s.count else None for s in (ref, cur)]
        if shown == [None, None]:
            return "<p class=muted>No values to draw.</p>"
        return _levels(shown[0], shown[1]) + _missing_note(ref, cur)
    return "<p class=muted>Not drawn: drift is not computed for this type.</p>"


def _numeric(ref: NumericSketch | None, cur: NumericSketch | None) -> str:
    """Histograms of both sides on common bins (0.5th to 99.5th percentile of either side;
    values beyond are counted in the end bins)."""
    import numpy as np

    sides = [s for s in (ref, cur) if s is not None]
    with np.errstate(over="ignore", invalid="ignore"):  # values near ±1e308
        low = min(float(np.quantile(s.values, 0.005)) for s in sides)
        high = max(float(np.quantile(s.values, 0.995)) for s in sides)
    if not high > low:  # a constant column: one bin around it
        low, high = low - 0.5, high + 0.5
    if not math.isfinite(high - low):  # e.g. -1e308 to 1e308: no bins in float64
        return f"<p class=muted>Values from {number(low)} to {number(high)}: too wide to bin.</p>"
    edges = np.linspace(low, high, BINS + 1)

    def shares(side: NumericSketch | None) -> list[float] | None:
        if side is None:
            return None
        counts, _ = np.histogram(np.clip(side.values, low, high), edges)
        return [float(c) / len(side.values) for c in counts]

    return _charts.histogram([float(e) for e in edges], shares(ref), shares(cur)) + (
        "<p class=muted>Share of non-missing values per bin; values beyond the 0.5th to 99.5th "
        "percentiles fall in the end bins.</p>"
    )


def _levels(ref: CategoricalSketch | None, cur: CategoricalSketch | None) -> str:
    """Bars of the most frequent levels' shares on each side, the rest as "other"."""
    ref_shares = {k: n / ref.count for k, n in ref.counts.items()} if ref else {}
    cur_shares = {k: n / cur.count for k, n in cur.counts.items()} if cur else {}
    ranked = sorted(
        set(ref_shares) | set(cur_shares),
        key=lambda k: (-max(ref_shares.get(k, 0.0), cur_shares.get(k, 0.0)), k),
    )
    top = ranked[:LEVELS_SHOWN]
    levels = list(top)
    values = [
        [side.get(k, 0.0) for k in top] if sketch else None
        for side, sketch in ((ref_shares, ref), (cur_shares, cur))
    ]
    rest = [max(0.0, 1.0 - sum(v)) if v is not None else 0.0 for v in values]
    if max(rest) > 0.0005:
        levels.append(f"other ({len(ranked) - len(top):,} more levels)")
        values = [[*v, r] if v is not None else None for v, r in zip(values, rest, strict=True)]
    return _charts.bars(levels, values[0], values[1]) + (
        "<p class=muted>Share of non-missing values per level.</p>"
    )


def _missing_note(ref: ColumnSketch | None, cur: ColumnSketch | None) -> str:
    def share(side: ColumnSketch | None) -> str:
        if isinstance(side, (NumericSketch, CategoricalSketch)) and side.rows:
            return f"{side.missing / side.rows:.1%}"
        return "-"

    return f"<p class=muted>Missing: reference {share(ref)}, current {share(cur)}.</p>"


def merge_parts(parts: list[ColumnSketch]) -> ColumnSketch | None:
    """One summary of a column's window summaries (those of the newest window's kind)."""
    kind = parts[-1].kind
    same = [p for p in parts if p.kind == kind]
    if kind == "numeric":
        return _merge_numeric_parts([p for p in same if isinstance(p, NumericSketch)], POINTS)
    if kind == "categorical":
        levels: dict[str, int] = {}
        missing = other = 0
        for part in same:
            assert isinstance(part, CategoricalSketch)
            missing, other = missing + part.missing, other + part.other
            for level, n in part.counts.items():
                levels[level] = levels.get(level, 0) + n
        return _categorical(levels, missing, other)
    return None
