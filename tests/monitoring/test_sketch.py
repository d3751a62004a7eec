"""Column sketches: serialization round trips, merging parts, and the accuracy of
downsampled summaries (property tests on the pure kernels)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cairn.core.errors import InvalidInputError
from cairn.monitoring.sketch import (
    CategoricalSketch,
    NumericSketch,
    TableSketch,
    Unsupported,
    downsampled,
    numeric_sketch,
    sketch_batches,
)

PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Names and levels as hostile as a table's can be, lone surrogates included (a summary
# built in Python can hold them even though Arrow cannot).
_text = st.text(
    st.one_of(st.characters(), st.sampled_from(["\x00", "\ud800", "\udfff", "\n", '"'])),
    max_size=12,
)
_numbers = st.one_of(
    st.floats(-1e6, 1e6, allow_nan=False),
    st.sampled_from([math.nan, math.inf, -math.inf, 0.0, -0.0, 1.0]),
)
_number_lists = st.lists(_numbers, min_size=0, max_size=300)


def _numeric_column(values: list[float]) -> NumericSketch:
    return numeric_sketch(pa.array(values, pa.float64()))


@st.composite
def _tables(draw: Any) -> TableSketch:
    """Table summaries with numeric, categorical and unsupported columns."""
    names = draw(st.lists(_text, min_size=0, max_size=5, unique=True))
    columns: dict[str, Any] = {}
    for name in names:
        kind = draw(st.sampled_from(["numeric", "categorical", "unsupported"]))
        if kind == "numeric":
            columns[name] = _numeric_column(draw(_number_lists))
        elif kind == "categorical":
            counts = draw(st.dictionaries(_text, st.integers(1, 10**12), max_size=20))
            other, missing = draw(st.integers(0, 10**6)), draw(st.integers(0, 10**6))
            count = sum(counts.values()) + other
            columns[name] = CategoricalSketch(count, missing, counts, other)
        else:
            columns[name] = Unsupported(draw(_text), draw(st.integers(0, 10**9)))
    return TableSketch(draw(st.integers(0, 10**12)), columns)


def _same_float(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


def _assert_same(a: TableSketch, b: TableSketch) -> None:
    """Two summaries are equal (NaN equal to NaN, numeric values compared exactly)."""
    assert a.rows == b.rows
    assert list(a.columns) == list(b.columns)
    for name, x in a.columns.items():
        y = b.columns[name]
        assert type(x) is type(y)
        if isinstance(x, NumericSketch):
            assert isinstance(y, NumericSketch)
            assert (x.count, x.missing) == (y.count, y.missing)
            assert np.array_equal(x.values, y.values)
            for field in ("mean", "std", "min", "max"):
                assert _same_float(getattr(x, field), getattr(y, field)), field
        else:
            assert x == y


@PROPERTY
@given(_tables())
def test_to_bytes_and_from_bytes_round_trip(table: TableSketch) -> None:
    """A summary read back from its bytes equals the summary written, names and levels of any
    text included."""
    _assert_same(TableSketch.from_bytes(table.to_bytes()), table)


@pytest.mark.parametrize("data", [b"", b"not a zip", b"PK\x03\x04garbage", bytes(range(256))])
def test_damaged_bytes_are_a_clear_error(data: bytes) -> None:
    """Bytes that are not a summary raise InvalidInputError, never a NumPy or zip error."""
    with pytest.raises(InvalidInputError, match="not a reference summary"):
        TableSketch.from_bytes(data)


def test_a_summary_of_another_format_is_a_clear_error() -> None:
    """A summary in a format this version does not read says how to recompute it."""
    import io
    import json

    out = io.BytesIO()
    meta = json.dumps({"format": 999, "rows": 0, "columns": []}).encode()
    np.savez_compressed(out, meta=np.frombuffer(meta, dtype=np.uint8))
    with pytest.raises(InvalidInputError, match="--refresh"):
        TableSketch.from_bytes(out.getvalue())


def _batch(numbers: list[float], levels: list[str | None], drop: str | None = None) -> Any:
    arrays = {
        "x": pa.array(numbers, pa.float64()),
        "c": pa.array(levels[: len(numbers)] + [None] * (len(numbers) - len(levels)), pa.string()),
    }
    if drop is not None:
        del arrays[drop]
    return pa.RecordBatch.from_arrays(list(arrays.values()), names=list(arrays))


_levels = st.lists(st.one_of(st.none(), st.sampled_from(["a", "b", "", "ü", "x" * 50])))


@PROPERTY
@given(
    _number_lists,
    _number_lists,
    _levels,
    _levels,
    st.sampled_from([None, "x", "c"]),
)
def test_merging_exact_parts_is_the_summary_of_the_whole(
    first: list[float],
    second: list[float],
    first_levels: list[str | None],
    second_levels: list[str | None],
    dropped: str | None,
) -> None:
    """With ``limit=None`` the merge of two parts' summaries equals the summary of both parts
    read as one stream (a column one part lacks counting as missing there)."""
    a = _batch(first, first_levels)
    b = _batch(second, second_levels, drop=dropped)
    merged = sketch_batches([a], limit=None).merge(sketch_batches([b], limit=None), limit=None)
    whole = sketch_batches([a, b], limit=None)
    assert merged.rows == whole.rows == len(first) + len(second)
    assert list(merged.columns) == list(whole.columns)
    x, y = merged.columns["x"], whole.columns["x"]
    assert isinstance(x, NumericSketch) and isinstance(y, NumericSketch)
    assert (x.count, x.missing) == (y.count, y.missing)
    assert np.array_equal(x.values, y.values)
    finite = [v for v in first + (second if dropped != "x" else []) if math.isfinite(v)]
    if finite:
        assert x.mean == pytest.approx(float(np.mean(finite)), rel=1e-9, abs=1e-6)
        assert x.std == pytest.approx(float(np.std(finite)), rel=1e-6, abs=1e-6)
        assert (x.min, x.max) == (min(finite), max(finite))
    assert merged.columns["c"] == whole.columns["c"]


def _cdf_error(points: Any, values: Any) -> float:
    """The largest gap between the empirical CDFs of ``points`` and ``values``, over every
    value (where the step functions change)."""
    values = np.sort(np.asarray(values, dtype=np.float64))
    exact = np.searchsorted(values, values, side="right") / len(values)
    approximate = np.searchsorted(points, values, side="right") / len(points)
    return float(np.abs(exact - approximate).max())


_finite_lists = st.lists(
    st.one_of(st.floats(-1e6, 1e6, allow_nan=False), st.integers(0, 4).map(float)),
    min_size=1,
    max_size=500,
)


@PROPERTY
@given(_finite_lists, st.integers(1, 100))
def test_a_downsampled_column_keeps_the_cdf_within_half_over_limit(
    values: list[float], limit: int
) -> None:
    """Keeping ``limit`` equal-weight points moves the empirical CDF by at most 1/(2 limit)
    (within the issue's 1/limit), and keeps the exact count and moments."""
    exact = _numeric_column(values)
    small = downsampled(exact, limit)
    assert len(small.values) == min(limit, len(values))
    assert (small.count, small.mean, small.std) == (exact.count, exact.mean, exact.std)
    assert np.all(np.diff(small.values) >= 0)
    assert _cdf_error(small.values, values) <= 1 / (2 * limit) + 1e-12


@PROPERTY
@given(_finite_lists, _finite_lists, st.integers(1, 100))
def test_merging_past_the_limit_keeps_the_cdf_within_half_over_limit(
    first: list[float], second: list[float], limit: int
) -> None:
    """Merging two exact parts into ``limit`` points moves the CDF by at most 1/(2 limit)."""
    a = TableSketch(len(first), {"x": _numeric_column(first)})
    b = TableSketch(len(second), {"x": _numeric_column(second)})
    merged = a.merge(b, limit=limit).columns["x"]
    assert isinstance(merged, NumericSketch)
    assert merged.count == len(first) + len(second)
    assert len(merged.values) <= limit
    assert _cdf_error(merged.values, first + second) <= 1 / (2 * limit) + 1e-12


@PROPERTY
@given(st.lists(_finite_lists, min_size=1, max_size=30), st.integers(1, 50))
def test_a_stream_keeps_the_cdf_within_half_over_limit_per_compaction(
    parts: list[list[float]], limit: int
) -> None:
    """A stream summarized part by part keeps at most ``limit`` points, its exact count, and
    a CDF off by at most 1/(2 limit) per compaction (at most one per part, one at the end)."""
    batches = [pa.RecordBatch.from_arrays([pa.array(p, pa.float64())], ["x"]) for p in parts]
    column = sketch_batches(batches, limit=limit).columns["x"]
    assert isinstance(column, NumericSketch)
    values = [v for part in parts for v in part]
    assert column.count == len(values)
    assert len(column.values) <= limit
    assert _cdf_error(column.values, values) <= (len(parts) + 1) / (2 * limit) + 1e-12


def test_a_stream_summary_of_a_large_column_is_close() -> None:
    """A million values streamed in 100 parts at the default-like limit keep the CDF within
    a few 1/limit and the moments exact."""
    rng = np.random.default_rng(3)
    values = rng.lognormal(0.0, 1.5, 1_000_000)
    parts = np.array_split(values, 100)
    batches = [pa.RecordBatch.from_arrays([pa.array(p)], ["x"]) for p in parts]
    limit = 10_000
    column = sketch_batches(batches, limit=limit).columns["x"]
    assert isinstance(column, NumericSketch)
    assert column.count == len(values)
    assert column.mean == pytest.approx(values.mean(), rel=1e-9)
    assert column.std == pytest.approx(values.std(), rel=1e-9)
    assert (column.min, column.max) == (values.min(), values.max())
    assert _cdf_error(column.values, values) <= 5 / limit


def test_missing_values_are_counted_apart() -> None:
    """Nulls, NaN, +inf and -inf count as missing; the rest are the values."""
    column = numeric_sketch(pa.array([1.0, None, math.nan, math.inf, -math.inf, 2.0]))
    assert (column.count, column.missing) == (2, 4)
    assert list(column.values) == [1.0, 2.0]
    assert (column.min, column.max, column.mean) == (1.0, 2.0, 1.5)


def test_a_zero_copy_column_is_not_sorted_in_place() -> None:
    """Summarizing a column never reorders the caller's data (Arrow hands NumPy a view)."""
    data = np.array([3.0, 1.0, 2.0])
    array = pa.array(data)
    numeric_sketch(array)
    assert array.to_pylist() == [3.0, 1.0, 2.0]


@pytest.mark.parametrize("scale", [1e307, 1e200, 1e-300])
def test_moments_near_the_float_limits(scale: float) -> None:
    """Mean and standard deviation stay right (and merge right) for values whose sums or
    squares would overflow or underflow a float."""
    rng = np.random.default_rng(4)
    first, second = rng.normal(size=500), rng.normal(2.0, 3.0, size=700)
    a = TableSketch(500, {"x": _numeric_column(list(first * scale))})
    b = TableSketch(700, {"x": _numeric_column(list(second * scale))})
    for sketch, values in [(a, first), (a.merge(b, limit=None), np.concatenate([first, second]))]:
        column = sketch.columns["x"]
        assert isinstance(column, NumericSketch)
        assert column.mean / scale == pytest.approx(values.mean(), rel=1e-9)
        assert column.std / scale == pytest.approx(values.std(), rel=1e-9)
