"""A metric's points ready to draw: against its step, the time since the run started, or
another metric, thinned to a few thousand points without hiding a spike.

Thinning keeps, in each of ``points / 4`` equal runs of consecutive points, the first, the
lowest, the highest and the last (M4), so a line drawn through them has the same envelope as
the full series: a single bad step among a million is still on the chart.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cairn.core.allocation import paused_gc
from cairn.core.checks import check_int, check_name, check_text, show
from cairn.core.errors import InvalidInputError, NotFoundError
from cairn.store import get_store
from cairn.tracking import _queries

if TYPE_CHECKING:
    import numpy as np

#: The most points a series is thinned to unless asked otherwise.
DEFAULT_POINTS = 2000
MAX_POINTS = 200_000
X_AXES = ("step", "time")


@dataclass(frozen=True)
class MetricSeries:
    """Points of one metric of one run, in x order (``x`` is the step, seconds since the run
    started, or another metric's value at the same step), thinned when there were many."""

    run_id: str
    key: str
    x_axis: str
    x: list[float]
    y: list[float]
    total: int
    skipped: int

    @property
    def is_thinned(self) -> bool:
        """Whether some points were left out (every spike is still shown)."""
        return len(self.y) < self.total - self.skipped


def check_x_axis(x: Any) -> str:
    """``x`` if it names an x axis: ``step``, ``time`` or ``metric:<name>``."""
    if not isinstance(x, str) or not (
        x in X_AXES or (x.startswith("metric:") and len(x) > len("metric:"))
    ):
        raise InvalidInputError(
            f"the x axis is 'step', 'time' (seconds since the run started) or 'metric:<name>', "
            f"not {show(x)}"
        )
    return x


def metric_series(
    run_id: str, key: str, *, x: str = "step", points: int | None = DEFAULT_POINTS
) -> MetricSeries:
    """The points of metric ``key`` of run ``run_id`` against ``x``, thinned to about
    ``points`` (None: all of them). NaN and infinite values are left out and counted in
    ``skipped``."""
    check_name(run_id, "run id", max_length=None)
    check_text(key, "metric key")
    check_x_axis(x)
    if points is not None:
        points = check_int(points, "points", minimum=4, maximum=MAX_POINTS)
    other = x.removeprefix("metric:") if x.startswith("metric:") else None
    wanted = [key] if other is None else [key, other]
    store = get_store()
    if store.remote is not None:
        from cairn.tracking.query import get_run

        record = get_run(run_id)
        uid, start_ms = record.id, record.start_ms
        history = {
            k: _arrays([(p.step, p.timestamp_ms, p.value) for p in record.metric_history[k]])
            for k in wanted
            if k in record.metric_history
        }
    else:
        with paused_gc(), store.db.read() as conn:
            db_id, uid = _queries.resolve_run(conn, run_id)
            start_ms = _queries.start_ms(conn, db_id)
            history = _queries.metric_arrays(conn, db_id, wanted)
    for name in wanted:
        if name not in history:
            raise NotFoundError(f"run {uid} has no metric {show(name)}")
    steps, times, values = history[key]
    if other is not None:
        xs, values = _against(steps, values, *history[other][::2])
    elif x == "time":
        xs = (times - start_ms) / 1000.0
    else:
        xs = steps.astype("float64")
    return _thinned(uid, key, x, xs, values, points)


def metric_counts(run_id: str) -> dict[str, int]:
    """How many points each metric of run ``run_id`` has logged, without reading them."""
    check_name(run_id, "run id", max_length=None)
    store = get_store()
    if store.remote is not None:
        from cairn.tracking.query import get_run

        history = get_run(run_id).metric_history
        return {key: len(points) for key, points in sorted(history.items())}
    with paused_gc(), store.db.read() as conn:
        db_id, _ = _queries.resolve_run(conn, run_id)
        return dict(sorted(_queries.metric_counts(conn, db_id).items()))


def _arrays(rows: list[tuple[int, int, float]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    import numpy as np

    table = np.array(rows, dtype="float64").reshape(-1, 3)
    return table[:, 0].astype("int64"), table[:, 1].astype("int64"), table[:, 2]


def _against(
    steps: np.ndarray, values: np.ndarray, other_steps: np.ndarray, other_values: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """This metric's values against the other's at the same step (its last value there)."""
    import numpy as np

    reverse_steps = other_steps[::-1]
    known, first = np.unique(reverse_steps, return_index=True)
    last_values = other_values[::-1][first]
    where = np.searchsorted(known, steps)
    where = np.clip(where, 0, max(len(known) - 1, 0))
    found = (known[where] == steps) if len(known) else np.zeros(len(steps), dtype=bool)
    return last_values[where][found], values[found]


def _thinned(
    run_id: str, key: str, x_axis: str, xs: np.ndarray, ys: np.ndarray, points: int | None
) -> MetricSeries:
    import numpy as np

    total = len(ys)
    finite = np.isfinite(ys) & np.isfinite(xs)
    skipped = int(total - finite.sum())
    if skipped:
        xs, ys = xs[finite], ys[finite]
    order = np.argsort(xs, kind="stable")
    xs, ys = xs[order], ys[order]
    count = len(ys)
    if points is not None and count > points:
        buckets = points // 4
        size = math.ceil(count / buckets)
        buckets = math.ceil(count / size)
        padded = np.full(buckets * size, np.inf)
        padded[:count] = ys
        lows = np.argmin(padded.reshape(buckets, size), axis=1)
        padded[count:] = -np.inf
        highs = np.argmax(padded.reshape(buckets, size), axis=1)
        starts: Any = np.arange(buckets) * size
        ends = np.minimum(starts + size, count) - 1
        keep = np.unique(np.concatenate([starts, starts + lows, starts + highs, ends]))
        xs, ys = xs[keep], ys[keep]
    return MetricSeries(run_id, key, x_axis, xs.tolist(), ys.tolist(), total, skipped)
