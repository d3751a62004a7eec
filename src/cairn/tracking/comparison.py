"""Putting runs side by side: several runs by id at once, the params and metrics that differ
among them, and a metric averaged over groups of runs (mean ± standard deviation per x).

``grouped_series`` splits runs by the value of one param and, for each group, aligns the
runs' series on a common x (each run's line interpolated linearly inside its own x range, so
runs logged at other steps or times still line up) and takes the mean and the population
standard deviation of the runs present at each x.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from cairn.core.checks import check_int, check_name, check_text, show
from cairn.core.errors import InvalidInputError, NotFoundError
from cairn.tracking.query import find_runs, get_run
from cairn.tracking.record import RunRecord
from cairn.tracking.series import DEFAULT_POINTS, MAX_POINTS, check_x_axis, metric_series

if TYPE_CHECKING:
    import numpy as np

#: The most runs compared at once.
MAX_COMPARED = 200
_FIELDS = ("params", "metrics", "tags")


@dataclass(frozen=True)
class GroupedSeries:
    """One metric averaged over the runs whose param ``by`` has ``value`` (None: runs without
    it): at each ``x``, the ``mean`` and population standard deviation ``std`` of the
    ``count`` runs that have a value there."""

    key: str
    by: str
    value: Any
    label: str
    run_ids: tuple[str, ...]
    x: list[float]
    mean: list[float]
    std: list[float]
    count: list[int]


def get_runs(run_ids: Sequence[str], *, limit: int = MAX_COMPARED) -> list[RunRecord]:
    """The runs ``run_ids`` (ids or unique id prefixes; repeats once) in that order, with
    params, tags and latest metrics (no metric history); at most ``limit`` of them."""
    if isinstance(run_ids, str) or not isinstance(run_ids, Sequence):
        raise InvalidInputError(f"run ids must be a list of texts, not {show(run_ids)}")
    limit = check_int(limit, "limit (a number of runs)", minimum=1)
    if len(run_ids) > limit:
        raise InvalidInputError(
            f"{len(run_ids):,} runs are too many to compare (at most {limit}); pick fewer runs "
            "or narrow the filter"
        )
    wanted = list(dict.fromkeys(check_name(r, "run id", max_length=None) for r in run_ids))
    # Whole ids are read in one search; prefixes and unknown ids one at a time (get_run says
    # clearly which id names no run).
    whole = [r.lower() for r in wanted if len(r) == 26 and r.isascii() and r.isalnum()]
    found: dict[str, RunRecord] = {}
    if whole:
        listed = ", ".join(f"'{r}'" for r in whole)
        for record in find_runs(filter=f"run_id IN ({listed})", include_deleted=True):
            found[record.id] = record
    records: dict[str, RunRecord] = {}
    for ref in wanted:
        hit = found.get(ref.lower())
        # A prefix or an id the search missed: get_run names it or says no run has it.
        record = hit if hit is not None else replace(get_run(ref, history=False), artifacts=[])
        records.setdefault(record.id, record)
    return list(records.values())


def differing_keys(records: Sequence[RunRecord], field: str) -> list[str]:
    """The keys of ``field`` (``params``, ``metrics`` or ``tags``) whose values are not the
    same in every run (a run without the key differs from one with it), sorted."""
    if field not in _FIELDS:
        raise InvalidInputError(f"the field is one of {', '.join(_FIELDS)}, not {show(field)}")
    maps: list[dict[str, Any]] = [getattr(r, field) for r in records]
    keys = sorted({k for m in maps for k in m})
    return [k for k in keys if len({_identity(m[k]) if k in m else None for m in maps}) > 1]


def _identity(value: Any) -> tuple[str, str]:
    """What makes two values alike: their type and value (1, 1.0 and True differ; NaN = NaN)."""
    if isinstance(value, float) and math.isnan(value):
        return ("float", "nan")
    try:
        text = json.dumps(value, sort_keys=True, default=str)
    except ValueError:  # a circular structure; never stored, but be safe
        text = repr(value)
    return (type(value).__name__, text)


def grouped_series(
    run_ids: Sequence[str],
    key: str,
    by: str,
    *,
    x: str = "step",
    points: int | None = DEFAULT_POINTS,
) -> list[GroupedSeries]:
    """Metric ``key`` of the runs ``run_ids`` grouped by the value of param ``by``: per group
    the mean and standard deviation over its runs at each x (``step``, ``time`` or
    ``metric:<name>``), on at most about ``points`` x values. Runs without the metric are left
    out; groups are ordered by their value's text."""
    import numpy as np

    check_text(key, "metric key", empty=False)
    check_text(by, "param to group by", empty=False)
    check_x_axis(x)
    if points is not None:
        points = check_int(points, "points", minimum=4, maximum=MAX_POINTS)
    records = get_runs(run_ids)
    if not any(by in r.params for r in records):
        raise InvalidInputError(
            f"no run of these {len(records)} has a param {show(by)}; group by one of: "
            f"{', '.join(sorted({k for r in records for k in r.params})[:20]) or 'none'}"
        )
    with_metric = [r for r in records if key in r.metrics]
    if not with_metric:
        raise NotFoundError(f"none of these {len(records)} runs has a metric {show(key)}")
    groups: dict[tuple[str, str], list[RunRecord]] = {}
    for record in with_metric:
        value = record.params.get(by)
        groups.setdefault(_identity(value) if by in record.params else ("", ""), []).append(record)
    answers = []
    for _, members in sorted(groups.items(), key=lambda item: _sort_key(item[1][0], by)):
        series = [metric_series(r.id, key, x=x, points=points) for r in members]
        grid, mean, std, count = _aligned(
            [(np.asarray(s.x), np.asarray(s.y)) for s in series], points
        )
        value = members[0].params.get(by)
        shown = "(unset)" if by not in members[0].params else _text(value)
        answers.append(
            GroupedSeries(
                key,
                by,
                value,
                f"{by}={shown} ({len(members)} run{'s' if len(members) != 1 else ''})",
                tuple(r.id for r in members),
                grid.tolist(),
                mean.tolist(),
                std.tolist(),
                count.tolist(),
            )
        )
    return answers


def _sort_key(record: RunRecord, by: str) -> tuple[int, str]:
    if by not in record.params:
        return (1, "")
    value = record.params[by]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (0, f"{float(value):+030.10f}" if math.isfinite(value) else str(value))
    return (0, _text(value))


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _aligned(
    lines: list[tuple[np.ndarray, np.ndarray]], points: int | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The common x of ``lines`` (each sorted by x) and the mean, std and count of their
    values there; a line counts only inside its own x range (interpolated between points)."""
    import numpy as np

    lines = [(xs, ys) for xs, ys in lines if len(xs)]
    if not lines:
        empty = np.zeros(0)
        return empty, empty, empty, np.zeros(0, dtype="int64")
    grid = np.unique(np.concatenate([xs for xs, _ in lines]))
    if points is not None and len(grid) > points:
        # Thin the common x evenly by rank: dense where the runs logged densely.
        grid = grid[np.unique(np.linspace(0, len(grid) - 1, points).round().astype("int64"))]
    table = np.full((len(lines), len(grid)), np.nan)
    for row, (raw_x, raw_y) in enumerate(lines):
        xs, first = np.unique(raw_x, return_index=True)  # one value per x (the first)
        ys = raw_y[first]
        inside = (grid >= xs[0]) & (grid <= xs[-1])
        table[row, inside] = np.interp(grid[inside], xs, ys)
    present = ~np.isnan(table)
    count = present.sum(axis=0)
    total = np.where(present, table, 0.0).sum(axis=0)
    mean = total / np.maximum(count, 1)
    spread = np.where(present, (table - mean) ** 2, 0.0).sum(axis=0)
    std = np.sqrt(spread / np.maximum(count, 1))
    keep = count > 0
    return grid[keep], mean[keep], std[keep], count[keep].astype("int64")
