"""The compare page: several runs side by side (``/compare?runs=<id>,<id>`` or a whole search
with ``filter=``): overlaid metric charts (optionally averaged per param value), a params and
metrics table with what differs highlighted, parallel coordinates, and the diff of two runs.

The charts read ``/compare/series.json``; every control lives in the URL query.
"""

from __future__ import annotations

import math
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from cairn import tracking
from cairn.core.errors import InvalidInputError, NotFoundError
from cairn.server.api import plain
from cairn.tracking.series import check_x_axis
from cairn.ui.page import Viewer, number_text, render

router = APIRouter(include_in_schema=False)

MAX_RUNS = 200
SYSTEM = "system/"
_ID_CHARS = 8


def _run_ids(runs: str | None) -> list[str]:
    """The ids in ``runs=a,b,c`` (spaces and empty items ignored), at most ``MAX_RUNS``."""
    ids = [part.strip() for part in (runs or "").split(",") if part.strip()]
    if len(ids) > MAX_RUNS:
        raise InvalidInputError(
            f"{len(ids):,} runs are too many to compare (at most {MAX_RUNS}); pick fewer runs "
            "or narrow the filter"
        )
    return ids


def _records(runs: str | None, filter: str | None) -> list[tracking.RunRecord]:
    """The runs named by ``runs=``, then those matching ``filter=`` (at most ``MAX_RUNS``)."""
    records = tracking.get_runs(_run_ids(runs), limit=MAX_RUNS) if runs else []
    if filter and filter.strip():
        found = tracking.find_runs(filter=filter, limit=MAX_RUNS + 1)
        if len(found) > MAX_RUNS:
            raise InvalidInputError(
                f"the filter {filter!r} matches more than {MAX_RUNS} runs, too many to "
                "compare; narrow the filter (e.g. add AND params.lr = 0.01)"
            )
        seen = {r.id for r in records}
        records += [r for r in found if r.id not in seen]
        if len(records) > MAX_RUNS:
            raise InvalidInputError(
                f"{len(records)} runs are too many to compare (at most {MAX_RUNS}); pick fewer "
                "runs or narrow the filter"
            )
    return records


def _group_param(group: str | None, records: list[tracking.RunRecord]) -> str | None:
    """The param named by ``group=params.<key>`` (None when not grouping)."""
    if not group:
        return None
    if not group.startswith("params.") or group == "params.":
        raise InvalidInputError(
            f"group by 'params.<key>' (e.g. params.optimizer), not {group[:80]!r}"
        )
    key = group.removeprefix("params.")
    if records and not any(key in r.params for r in records):
        known = sorted({k for r in records for k in r.params})[:20]
        raise InvalidInputError(
            f"none of these runs has a param {key[:80]!r}; group by one of: "
            f"{', '.join(known) or 'no params were logged'}"
        )
    return key


def _smoothing(smooth: str | None) -> float:
    try:
        value = float(smooth) if smooth not in (None, "") else 0.0
    except ValueError:
        value = math.nan
    if not 0.0 <= value <= 0.99:
        raise InvalidInputError(f"smoothing is a number from 0 to 0.99, not {str(smooth)[:40]!r}")
    return value


def _points(points: str | None) -> int | None:
    if points in (None, ""):
        return None
    text = str(points).strip()
    if not text.isdigit() or len(text) > 7 or not 4 <= int(text) <= 200_000:
        raise InvalidInputError(f"points is a whole number from 4 to 200000, not {text[:40]!r}")
    return int(text)


def _flag(value: str | None) -> bool:
    return value not in (None, "", "0", "false", "off")


def _short_ids(ids: list[str]) -> dict[str, str]:
    """Each id cut to the fewest characters (at least 8) that keep them all apart."""
    size = _ID_CHARS
    while size < 26 and len({i[:size] for i in ids}) < len(ids):
        size += 1
    return {i: i[:size] for i in ids}


def _run_rows(records: list[tracking.RunRecord]) -> list[dict[str, Any]]:
    short = _short_ids([r.id for r in records])
    return [
        {
            "id": r.id,
            "short": short[r.id],
            "name": r.name,
            "label": f"{r.name} · {short[r.id]}",
            "status": r.status,
            "experiment": r.experiment,
            "params": plain(r.params),
            "metrics": plain(r.metrics),
        }
        for r in records
    ]


def _table(
    records: list[tracking.RunRecord], metric_keys: list[str], only_diff: bool
) -> list[dict[str, Any]]:
    """Rows of the params-and-metrics table: params first, then metrics (latest values)."""
    rows = []
    for field, keys in (
        ("params", sorted({k for r in records for k in r.params})),
        ("metrics", metric_keys),
    ):
        changed = set(tracking.differing_keys(records, field)) if len(records) > 1 else set()
        for key in keys:
            if only_diff and key not in changed:
                continue
            values = [getattr(r, field).get(key) for r in records]
            rows.append(
                {
                    "kind": field,
                    "key": key,
                    "cells": ["" if v is None else number_text(v) for v in values],
                    "changed": key in changed,
                }
            )
    return rows


def _diff(a: str, b: str) -> dict[str, Any]:
    diff = tracking.diff_runs(a, b)
    return {
        "run_a": diff.run_a,
        "run_b": diff.run_b,
        "name_a": diff.name_a,
        "name_b": diff.name_b,
        "same": diff.same,
        "sections": [
            {
                "name": s.name,
                "same": s.same,
                "differences": [
                    {"key": d.key, "a": d.a, "b": d.b, "change": d.change} for d in s.differences
                ],
            }
            for s in diff.sections
        ],
        "code_diff": diff.code_diff,
        "code_diff_omitted": diff.code_diff_omitted,
    }


@router.get("/compare")
@router.get("/compare.json")
def compare_page(
    request: Request,
    caller: Viewer,
    runs: str | None = None,
    filter: str | None = None,
    x: str = "step",
    group: str | None = None,
    smooth: str | None = None,
    log: str | None = None,
    diff: str | None = None,
    transpose: str | None = None,
    system: str | None = None,
    color: str | None = None,
    points: str | None = None,
    a: str | None = None,
    b: str | None = None,
) -> Response:
    """Runs side by side: charts, the table of params and metrics, parallel coordinates and
    the diff of two of them."""
    records = _records(runs, filter)
    x_axis = check_x_axis(x)
    group_by = _group_param(group, records)
    only_diff, show_system = _flag(diff), _flag(system)
    controls: dict[str, Any] = {
        "x": x_axis,
        "group": group or "",
        "smooth": _smoothing(smooth),
        "log": _flag(log),
        "diff": only_diff,
        "transpose": _flag(transpose) if transpose is not None else len(records) >= 50,
        "system": show_system,
        "points": _points(points),
    }
    all_metrics = sorted({k for r in records for k in r.metrics})
    shown = [k for k in all_metrics if show_system or not k.startswith(SYSTEM)]
    shared = [k for k in shown if all(k in r.metrics for r in records)]
    if x_axis.startswith("metric:") and x_axis.removeprefix("metric:") not in all_metrics:
        raise InvalidInputError(
            f"the x axis {x_axis[:80]!r} names a metric none of these runs logged; use step, "
            "time or metric:<one of their metrics>"
        )
    if color is not None and color not in all_metrics:
        raise InvalidInputError(
            f"colour the lines by one of the runs' metrics ({', '.join(all_metrics[:20])}), "
            f"not {color[:80]!r}"
        )
    params_differing = tracking.differing_keys(records, "params") if len(records) > 1 else []
    first_metric = (shared or shown)[0] if shown else None
    axes = [f"params.{k}" for k in params_differing]
    if first_metric is not None:
        axes.append(f"metrics.{first_metric}")
    if len(axes) < 2 and len(records) > 1:  # one axis draws no lines: add a metric that differs
        varying = [k for k in tracking.differing_keys(records, "metrics") if k in shown]
        axes += [f"metrics.{k}" for k in varying if k != first_metric][: 2 - len(axes)]
    diff_pair = None
    if a or b or len(records) >= 2:
        first = a or (records[0].id if records else "")
        second = b or next((r.id for r in records if r.id != first), "")
        if first and second:
            diff_pair = _diff(first, second)
    context = {
        "runs": _run_rows(records),
        "ids": ",".join(r.id for r in records),
        "filter": filter or "",
        "controls": controls,
        "group_by": group_by,
        "metric_keys": shared,
        "all_metric_keys": all_metrics,
        "param_keys": sorted({k for r in records for k in r.params}),
        "table": _table(records, shown, only_diff),
        "parallel": {"axes": axes, "color": color or first_metric},
        "diff": diff_pair,
    }
    return render(request, "compare.html", context)


@router.get("/compare/series.json")
def compare_series(
    request: Request,
    caller: Viewer,
    key: str,
    runs: str | None = None,
    filter: str | None = None,
    x: str = "step",
    group: str | None = None,
    points: str | None = None,
) -> Response:
    """One metric of the runs, a line per run (or per group: mean and standard deviation)."""
    records = _records(runs, filter)
    if not records:
        raise InvalidInputError("name the runs: runs=<id>,<id> or filter=<search>")
    x_axis = check_x_axis(x)
    group_by = _group_param(group, records)
    count = _points(points) or 2000
    if not any(key in r.metrics for r in records):
        raise NotFoundError(
            f"none of these {len(records)} runs has a metric {key[:80]!r}; their metrics are: "
            f"{', '.join(sorted({k for r in records for k in r.metrics})[:20]) or 'none'}"
        )
    lines: list[dict[str, Any]] = []
    if group_by is not None:
        for g in tracking.grouped_series(
            [r.id for r in records], key, group_by, x=x_axis, points=count
        ):
            lines.append(
                {
                    "label": g.label,
                    "value": g.value,
                    "run_ids": g.run_ids,
                    "x": g.x,
                    "y": g.mean,
                    "std": g.std,
                    "count": g.count,
                }
            )
    else:
        labels = {row["id"]: row["label"] for row in _run_rows(records)}
        for record in records:
            if key not in record.metrics:
                continue
            series = tracking.metric_series(record.id, key, x=x_axis, points=count)
            lines.append(
                {
                    "label": labels[record.id],
                    "run_id": record.id,
                    "x": series.x,
                    "y": series.y,
                    "total": series.total,
                    "thinned": series.is_thinned,
                }
            )
    context = {"key": key, "x": x_axis, "group": group or "", "series": lines}
    return render(request, "compare.html", context)
