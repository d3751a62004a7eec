"""A metric ready to draw: thinned without hiding spikes, against step, time or another metric."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cairn
from cairn.core.errors import InvalidInputError, NotFoundError, RunNotFoundError
from cairn.store import Store
from cairn.tracking import metric_series
from cairn.tracking.series import _thinned


def test_a_long_series_is_thinned_and_keeps_its_spike_and_its_ends(store: Store) -> None:
    """20,000 points come back as at most 2,000 that still hold the one spike, the lowest
    value, and the first and last points, on either store."""
    values = np.sin(np.arange(20_000) / 300.0)
    values[12_345] = 40.0
    values[777] = -9.0
    with cairn.start_run() as run:
        for step, value in enumerate(values):
            cairn.log({"loss": float(value)}, step=step)
    series = metric_series(run.id, "loss")
    assert series.total == 20_000 and series.skipped == 0 and series.is_thinned
    assert len(series.y) <= 2000
    assert max(series.y) == 40.0 and min(series.y) == -9.0
    assert series.x[0] == 0 and series.x[-1] == 19_999
    assert series.x == sorted(series.x)
    full = metric_series(run.id[:8], "loss", points=None)
    assert len(full.y) == 20_000 and not full.is_thinned


def test_x_can_be_time_since_the_start_or_another_metric(store: Store) -> None:
    """``time`` is seconds since the run started; ``metric:lr`` pairs values by step (the last
    value at a step), leaving out steps the other metric lacks, in x order."""
    with cairn.start_run() as run:
        for step in range(5):
            cairn.log({"loss": 1.0 / (step + 1)}, step=step)
        cairn.log({"lr": 0.5}, step=0)
        cairn.log({"lr": 0.1}, step=2)
        cairn.log({"lr": 0.2}, step=2)
    timed = metric_series(run.id, "loss", x="time")
    assert all(0 <= x < 60 for x in timed.x) and len(timed.x) == 5
    paired = metric_series(run.id, "loss", x="metric:lr")
    assert paired.x == [0.2, 0.5] and paired.y == [1 / 3, 1.0]


def test_nan_and_infinite_values_are_left_out_and_counted(store: Store) -> None:
    """Values no chart can draw are skipped and counted, not sent as invalid JSON."""
    with cairn.start_run() as run:
        for step, value in enumerate([1.0, math.nan, 2.0, math.inf]):
            cairn.log({"m": value}, step=step)
    series = metric_series(run.id, "m")
    assert series.y == [1.0, 2.0] and series.skipped == 2 and series.total == 4


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"x": "wall"}, InvalidInputError),
        ({"x": "metric:"}, InvalidInputError),
        ({"x": 3}, InvalidInputError),
        ({"points": 3}, InvalidInputError),
        ({"points": 10**30}, InvalidInputError),
        ({"points": "many"}, InvalidInputError),
        ({"x": "metric:nope"}, NotFoundError),
    ],
)
def test_bad_axes_and_point_counts_are_refused(
    store: Store, kwargs: dict[str, object], error: type[Exception]
) -> None:
    """An unknown x axis, a point count out of range or a missing metric is a clear error."""
    with cairn.start_run() as run:
        cairn.log({"loss": 1.0}, step=0)
    with pytest.raises(error):
        metric_series(run.id, "loss", **kwargs)  # type: ignore[arg-type]


def test_unknown_runs_and_metrics_are_refused(store: Store) -> None:
    """A run or metric that does not exist is a not-found error naming it."""
    with cairn.start_run() as run:
        cairn.log({"loss": 1.0}, step=0)
    with pytest.raises(NotFoundError, match="no metric 'acc'"):
        metric_series(run.id, "acc")
    with pytest.raises(RunNotFoundError):
        metric_series("0" * 32, "loss")
    with pytest.raises(InvalidInputError):
        metric_series(run.id, "a\x00b")


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=400),
    st.integers(min_value=4, max_value=64),
)
def test_thinning_keeps_the_envelope_of_any_series(values: list[float], points: int) -> None:
    """Whatever the values, the thinned series holds the overall minimum and maximum, the
    first and the last point, at most about ``points`` points, and only real points."""
    xs = np.arange(len(values), dtype="float64")
    ys = np.array(values)
    series = _thinned("r", "k", "step", xs, ys, points)
    assert min(series.y) == min(values) and max(series.y) == max(values)
    assert series.x[0] == 0 and series.x[-1] == len(values) - 1
    assert len(series.y) <= max(points, 4) + 3
    for x, y in zip(series.x, series.y, strict=True):
        assert values[int(x)] == y


def test_point_counts_and_a_record_without_history_read_no_points(
    store: Store, quiet_capture: None
) -> None:
    """``metric_counts`` says how many points each metric has; ``get_run(history=False)``
    has the latest values and artifacts but no history; the default keeps the history."""
    with cairn.start_run() as run:
        for step in range(30):
            cairn.log({"loss": 1.0 / (step + 1)}, step=step)
        cairn.log({"auc": 0.9})
    assert cairn.tracking.metric_counts(run.id[:10]) == {"auc": 1, "loss": 30}
    lean = cairn.get_run(run.id, history=False)
    assert lean.metric_history == {} and lean.metrics["loss"] == 1 / 30
    assert len(cairn.get_run(run.id).metric_history["loss"]) == 30
    with pytest.raises(RunNotFoundError):
        cairn.tracking.metric_counts("0" * 32)
