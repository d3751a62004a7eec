"""Drift verdicts: calibration on undrifted data, the five detections, agreement with SciPy,
and bad input (the monitoring issue's item 2, its tests and its "Bad input" section)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy import stats

from cairn.core.errors import InvalidInputError
from cairn.monitoring.drift import (
    ALPHA,
    MIN_EXPECTED,
    MIN_ROWS,
    compare,
    drift,
    ks_p_value,
    ks_wasserstein,
    pool_rare_levels,
    rare_share_test,
)
from cairn.monitoring.sketch import sketch_batches

# -- calibration -------------------------------------------------------------------------

TRIALS = 200  # per cell, as the issue asks
MAX_FALSE_ALARMS = 0.01


def _zipf(levels: int) -> Any:
    """Zipf-like shares (exponent 1.1): a few common levels and many rare ones."""
    shares = 1.0 / np.arange(1, levels + 1) ** 1.1
    return shares / shares.sum()


def _undrifted(kind: str, rows: int, rng: Any) -> Any:
    """One sample of ``rows`` rows of a column kind (the same distribution on every call)."""
    if kind == "normal":
        return pa.array(rng.normal(size=rows))
    if kind == "lognormal":  # heavy right tail
        return pa.array(rng.lognormal(0.0, 2.0, size=rows))
    if kind == "integer-5":  # ties everywhere
        return pa.array(rng.integers(0, 5, size=rows))
    if kind == "constant":
        return pa.array(np.full(rows, 3.0))
    if kind == "normal-5%-missing":  # the missing-share test runs too
        values = rng.normal(size=rows)
        values[rng.random(rows) < 0.05] = np.nan
        return pa.array(values)
    levels = int(kind.split("-")[1])
    names = np.array([f"level{i}" for i in range(levels)], dtype=object)
    return pa.array(names[rng.choice(levels, size=rows, p=_zipf(levels))], pa.string())


NUMERIC_KINDS = ["normal", "lognormal", "integer-5", "constant", "normal-5%-missing"]
CATEGORICAL_KINDS = ["categorical-2", "categorical-10", "categorical-100", "categorical-1000"]
ALL_KINDS = NUMERIC_KINDS + CATEGORICAL_KINDS


def _false_alarms(kinds: list[str], reference_rows: int, current_rows: int, seed: int) -> dict:
    """The share of ``TRIALS`` undrifted pairs flagged, per kind (all kinds in one table)."""
    rng = np.random.default_rng(seed)
    alarms = dict.fromkeys(kinds, 0)
    for _ in range(TRIALS):
        reference = pa.RecordBatch.from_arrays(
            [_undrifted(k, reference_rows, rng) for k in kinds], names=kinds
        )
        current = pa.RecordBatch.from_arrays(
            [_undrifted(k, current_rows, rng) for k in kinds], names=kinds
        )
        report = compare(sketch_batches([reference]), sketch_batches([current]))
        for name in report.drifted_columns:
            alarms[name] += 1
    return {kind: n / TRIALS for kind, n in alarms.items()}


CELLS = [
    # (reference rows, current rows, kinds): equal sizes, and the usual monitoring shape of a
    # large reference against a small window (where sparse chi-squared tables broke first)
    (100, 100, ALL_KINDS),
    (1_000, 1_000, ALL_KINDS),
    (10_000, 10_000, ["normal", "integer-5", "categorical-10", "categorical-1000"]),
    (10_000, 100, ALL_KINDS),
    (100, 1_000, ALL_KINDS),
]


@pytest.mark.parametrize(
    ("reference_rows", "current_rows", "kinds"),
    CELLS,
    ids=[f"{r}x{c}" for r, c, _ in CELLS],
)
def test_false_alarms_stay_below_one_percent(
    reference_rows: int, current_rows: int, kinds: list[str]
) -> None:
    """Undrifted pairs are flagged in at most 1 % of 200 seeded trials in every cell."""
    rates = _false_alarms(kinds, reference_rows, current_rows, seed=reference_rows + current_rows)
    too_high = {kind: rate for kind, rate in rates.items() if rate > MAX_FALSE_ALARMS}
    assert not too_high, f"false-alarm rates above 1 %: {too_high} (all: {rates})"


# -- detections ----------------------------------------------------------------------------

DETECTION_ROWS = 5_000
DETECTION_TRIALS = 20
SHIFTED = ["mean+0.5sd", "sd*1.5", "mean+0.2sd", "share10to30", "new-level"]


def _levels(rng: Any, rows: int, shares: dict[str, float]) -> Any:
    names = list(shares)
    return rng.choice(names, size=rows, p=np.array(list(shares.values())))


def _detection_frames(seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A reference and a current frame where exactly the ``SHIFTED`` columns moved."""
    rng = np.random.default_rng(seed)
    n = DETECTION_ROWS
    base = {f"l{i}": 0.1 for i in range(10)}  # ten levels of 10 % each
    share30 = {"l0": 0.3, **{f"l{i}": 0.7 / 9 for i in range(1, 10)}}
    new = {**{k: v * 0.9 for k, v in base.items()}, "new": 0.1}

    def frame(moved: bool) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "mean+0.5sd": rng.normal(0.5 if moved else 0.0, 1.0, n),
                "sd*1.5": rng.normal(0.0, 1.5 if moved else 1.0, n),
                "mean+0.2sd": rng.normal(0.2 if moved else 0.0, 1.0, n),
                "share10to30": _levels(rng, n, share30 if moved else base),
                "new-level": _levels(rng, n, new if moved else base),
                "steady-normal": rng.normal(0.0, 1.0, n),
                "steady-lognormal": rng.lognormal(0.0, 1.0, n),
                "steady-levels": _levels(rng, n, base),
            }
        )

    return frame(False), frame(True)


def test_the_five_drifts_are_detected_and_nothing_else() -> None:
    """At 5,000 rows per side each of the five shifts is flagged in 20 of 20 seeded trials,
    and no unshifted column ever is."""
    for seed in range(DETECTION_TRIALS):
        reference, current = _detection_frames(seed)
        report = drift(reference, current)
        assert sorted(report.drifted_columns) == sorted(SHIFTED), (seed, report.to_dict())
        assert report.column("new-level").unseen_share == pytest.approx(0.1, abs=0.02)
        assert report.share == pytest.approx(5 / 8)


# -- agreement with SciPy -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "m", "shift", "scale"),
    [
        (100, 100, 0.0, 1.0),
        (150, 1_000, 0.3, 1.0),
        (1_000, 1_000, 0.1, 1.2),
        (5_000, 3_000, 0.05, 1.0),
        (200, 20_000, 0.0, 2.0),
    ],
)
def test_ks_and_wasserstein_match_scipy(n: int, m: int, shift: float, scale: float) -> None:
    """The KS statistic, its p-value and the Wasserstein distance agree with SciPy's
    ``ks_2samp`` (asymptotic) and ``wasserstein_distance`` on random data."""
    rng = np.random.default_rng(n * 7 + m)
    a = np.sort(rng.normal(size=n))
    b = np.sort(rng.normal(shift, scale, size=m))
    ks, wasserstein = ks_wasserstein(a, b)
    reference = stats.ks_2samp(a, b, method="asymp")
    assert ks == pytest.approx(reference.statistic, abs=1e-12)
    assert wasserstein == pytest.approx(stats.wasserstein_distance(a, b), rel=1e-9)
    p = ks_p_value(ks, n, m)
    # Stephens' correction differs a little from SciPy's kstwo(round(en)).
    if reference.pvalue > 1e-12:
        assert p == pytest.approx(reference.pvalue, rel=0.1)
    else:
        assert p < 1e-10

    report = drift(pd.DataFrame({"x": a}), pd.DataFrame({"x": b}))
    result = report.column("x")
    assert result.statistic == pytest.approx(reference.statistic, abs=1e-12)
    assert result.effect == pytest.approx(stats.wasserstein_distance(a, b) / np.std(a), rel=1e-9)
    assert result.p_value == pytest.approx(p)
    assert result.drifted == (p < ALPHA and result.effect >= 0.1)


def test_ks_and_wasserstein_match_scipy_with_ties() -> None:
    """With many equal values (integers) the KS statistic is still SciPy's."""
    rng = np.random.default_rng(5)
    a = np.sort(rng.integers(0, 5, 300).astype(float))
    b = np.sort(rng.integers(0, 6, 400).astype(float))
    ks, wasserstein = ks_wasserstein(a, b)
    assert ks == pytest.approx(stats.ks_2samp(a, b).statistic, abs=1e-12)
    assert wasserstein == pytest.approx(stats.wasserstein_distance(a, b), rel=1e-9)


def _counts_frame(counts: dict[str, int], rng: Any) -> pd.DataFrame:
    values = np.repeat(np.array(list(counts), dtype=object), list(counts.values()))
    return pd.DataFrame({"c": rng.permutation(values)})


def test_chi_squared_matches_scipy_on_a_dense_table() -> None:
    """On a table with no rare level the statistic and p-value are SciPy's
    ``chi2_contingency(correction=False)`` on the 2 x k table of both samples' counts."""
    rng = np.random.default_rng(11)
    a = {"a": 400, "b": 300, "c": 200, "d": 100}
    b = {"a": 350, "b": 330, "c": 180, "d": 120, "e": 20}
    report = drift(_counts_frame(a, rng), _counts_frame(b, rng))
    table = np.array([[a.get(k, 0) for k in b], [b[k] for k in b]])
    expected = stats.chi2_contingency(table, correction=False)
    result = report.column("c")
    assert result.test == "chi2"
    assert result.statistic == pytest.approx(expected.statistic, rel=1e-9)
    assert result.p_value == pytest.approx(expected.pvalue, rel=1e-6)
    assert result.unseen_share == pytest.approx(20 / 1000)


def test_chi_squared_on_a_sparse_table_is_scipys_on_the_pooled_table() -> None:
    """Levels too rare for chi-squared pool into one, and the statistic is SciPy's on that
    pooled table."""
    rng = np.random.default_rng(12)
    a = {"a": 5_000, "b": 3_000, **{f"r{i}": 3 for i in range(300)}}
    b = {"a": 50, "b": 40, "r1": 1, "r2": 2, "new": 1, "b2": 6}
    report = drift(_counts_frame(a, rng), _counts_frame(b, rng))
    levels = list(dict.fromkeys(list(a) + list(b)))
    pa_, pb_ = pool_rare_levels(
        np.array([a.get(k, 0) for k in levels], dtype=float),
        np.array([b.get(k, 0) for k in levels], dtype=float),
    )
    expected = stats.chi2_contingency(np.array([pa_, pb_]), correction=False)
    assert report.column("c").statistic == pytest.approx(expected.statistic, rel=1e-9)
    assert report.column("c").p_value == pytest.approx(expected.pvalue, rel=1e-6)


def test_the_rare_levels_test_is_fishers_exact_test() -> None:
    """The share of levels too rare even when pooled is tested exactly: its p-value is twice
    the smaller one-sided p-value of SciPy's ``fisher_exact`` on the rare-vs-rest table."""
    a = np.array([60_000.0, 40_000.0, 3.0, 0.0, 0.0, 0.0])
    b = np.array([110.0, 80.0, 0.0, 1.0, 1.0, 1.0])
    found = rare_share_test(a, b)
    assert found is not None
    statistic, p, effect = found
    rare_a, rare_b = 3, 3
    table = [[rare_b, b.sum() - rare_b], [rare_a, a.sum() - rare_a]]
    greater = stats.fisher_exact(table, alternative="greater").pvalue
    less = stats.fisher_exact(table, alternative="less").pvalue
    assert p == pytest.approx(min(1.0, 2 * min(greater, less)), rel=1e-6)
    two_by_two = np.array([[rare_a, a.sum() - rare_a], [rare_b, b.sum() - rare_b]])
    assert statistic == pytest.approx(
        stats.chi2_contingency(two_by_two, correction=False).statistic, rel=1e-9
    )
    assert effect > 0
    # Dense tables, and rare levels common enough together, need no exact test.
    assert rare_share_test(np.array([500.0, 500.0]), np.array([50.0, 50.0])) is None
    assert rare_share_test(np.array([500.0, 20.0, 20.0]), np.array([90.0, 5.0, 5.0])) is None


def test_new_ids_in_a_small_window_are_detected() -> None:
    """Ten never-seen levels on 5 % of a 200-row window against a 100,000-row reference are
    drift (the exact rare-levels test), where pooling them with a common level for
    chi-squared would have hidden them."""
    rng = np.random.default_rng(14)
    common = [f"l{i}" for i in range(10)]
    reference = pd.DataFrame({"c": rng.choice(common, 100_000)})
    new = [f"new{i}" for i in range(10)]
    current = pd.DataFrame({"c": np.concatenate([rng.choice(common, 190), new])})
    result = drift(reference, current).column("c")
    assert result.verdict == "drift" and result.test == "rare-levels"
    assert result.unseen_share == pytest.approx(0.05)
    steady = drift(reference, pd.DataFrame({"c": rng.choice(common, 200)})).column("c")
    assert steady.verdict == "no drift"


def test_pooling_keeps_the_totals_and_every_level_expected_often_enough() -> None:
    """Pooling keeps both samples' totals, leaves a dense table alone, and leaves no level
    expected fewer than ``MIN_EXPECTED`` times in the smaller sample."""
    rng = np.random.default_rng(13)
    dense_a, dense_b = np.array([50.0, 60.0, 70.0]), np.array([40.0, 80.0, 60.0])
    same_a, same_b = pool_rare_levels(dense_a, dense_b)
    assert np.array_equal(same_a, dense_a) and np.array_equal(same_b, dense_b)
    for _ in range(50):
        k = int(rng.integers(2, 400))
        a = rng.poisson(rng.exponential(20.0, k)).astype(float)
        b = rng.poisson(rng.exponential(2.0, k)).astype(float)
        keep = (a + b) > 0
        pooled_a, pooled_b = pool_rare_levels(a[keep], b[keep])
        assert pooled_a.sum() == a.sum() and pooled_b.sum() == b.sum()
        total = pooled_a.sum() + pooled_b.sum()
        smaller = min(pooled_a.sum(), pooled_b.sum()) / total
        if len(pooled_a) > 1:
            assert ((pooled_a + pooled_b) * smaller >= MIN_EXPECTED).all()


# -- bad input ------------------------------------------------------------------------------

ROWS = 300


@pytest.fixture
def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    """An undrifted reference and current frame with a numeric and a text column."""
    rng = np.random.default_rng(21)

    def frame() -> pd.DataFrame:
        return pd.DataFrame({"x": rng.normal(size=ROWS), "c": rng.choice(list("abc"), ROWS)})

    return frame(), frame()


def test_a_column_missing_from_the_current_data_is_a_finding(frames: Any) -> None:
    """A reference column absent from the current data is reported, not a crash."""
    reference, current = frames
    report = drift(reference, current[["x"]])
    assert report.column("c").verdict == "missing"
    assert any("'c'" in finding and "missing" in finding for finding in report.findings)
    assert report.column("x").verdict == "no drift"


def test_a_named_column_in_neither_table_is_reported_missing(frames: Any) -> None:
    """A column asked for but absent from the reference is reported, not compared."""
    reference, current = frames
    report = drift(reference, current, columns=["x", "nope"])
    assert report.column("nope").verdict == "missing"
    assert report.verdict == "no drift"


def test_all_null_columns_are_not_enough_data() -> None:
    """A column with no value on either side gets "not enough data", not a verdict."""
    nulls = pd.DataFrame({"x": [None] * ROWS, "f": [np.nan] * ROWS})
    report = drift(nulls, nulls)
    assert {c.verdict for c in report.columns} == {"not enough data"}
    assert report.verdict == "not enough data"


def test_a_column_that_became_all_null_drifts_by_its_missing_share() -> None:
    """A numeric column whose values all went missing is flagged by the missing-share test."""
    rng = np.random.default_rng(22)
    report = drift(pd.DataFrame({"x": rng.normal(size=ROWS)}), pd.DataFrame({"x": [np.nan] * ROWS}))
    assert report.column("x").verdict == "drift"
    assert report.column("x").test == "missing-share"


def test_constant_columns() -> None:
    """Two equal constants do not drift; two different constants do (measured in the pooled
    standard deviation, the reference's being zero)."""
    same = drift(pd.DataFrame({"x": [1.0] * ROWS}), pd.DataFrame({"x": [1.0] * ROWS}))
    assert same.column("x").verdict == "no drift"
    moved = drift(pd.DataFrame({"x": [1.0] * ROWS}), pd.DataFrame({"x": [2.0] * ROWS}))
    assert moved.column("x").verdict == "drift"
    assert np.isfinite(moved.column("x").effect)


def test_mixed_types_in_an_object_column_compare_as_text() -> None:
    """An object column holding ints and strings is compared as text, without a crash."""
    mixed = pd.DataFrame({"m": pd.Series([1, "a", 2, "b"] * 75, dtype=object)})
    result = drift(mixed, mixed).column("m")
    assert result.kind == "categorical"
    assert result.verdict == "no drift"


def test_a_type_that_changed_is_incomparable(frames: Any) -> None:
    """Numeric in the reference but text in the current data: "incomparable", with a finding."""
    reference, current = frames
    changed = current.assign(x=["u"] * ROWS)
    report = drift(reference, changed)
    assert report.column("x").verdict == "incomparable"
    assert any("'x'" in finding for finding in report.findings)
    assert report.column("c").verdict == "no drift"


def test_fewer_than_the_minimum_rows_is_not_enough_data(frames: Any) -> None:
    """Fewer than 100 rows on a side: "not enough data" for every column and the dataset."""
    reference, current = frames
    report = drift(reference.head(MIN_ROWS - 1), current)
    assert {c.verdict for c in report.columns} == {"not enough data"}
    assert report.verdict == "not enough data"
    assert drift(reference.head(0), current.head(0)).verdict == "not enough data"


def test_unsupported_types_are_incomparable() -> None:
    """List and struct columns are reported as incomparable, not compared or crashed on."""
    lists = pa.table({"l": pa.array([[1, 2]] * ROWS), "s": pa.array([{"a": 1}] * ROWS)})
    report = drift(lists, lists)
    assert {c.verdict for c in report.columns} == {"incomparable"}
    assert {c.kind for c in report.columns} == {"unsupported"}


def test_nan_and_infinities_count_as_missing(frames: Any) -> None:
    """NaN, +inf and -inf are missing values; the rest are compared as usual."""
    reference, current = frames
    values = current["x"].to_numpy().copy()
    values[:10], values[10:20], values[20:30] = np.nan, np.inf, -np.inf
    result = drift(reference, current.assign(x=values)).column("x")
    assert result.current_missing == pytest.approx(30 / ROWS)
    assert result.reference_missing == 0
    assert np.isfinite(result.effect) and np.isfinite(result.statistic)
    assert result.verdict == "drift" and result.test == "missing-share"


HOSTILE = ["a\x00b", "", "n" * 10_000, "ü 名前 🙂", "'; DROP TABLE x; --"]


def _hostile(rng: Any) -> pd.DataFrame:
    return pd.DataFrame(rng.normal(size=(ROWS, len(HOSTILE))), columns=HOSTILE)


@pytest.mark.parametrize("library", ["pandas", "polars", "arrow"])
def test_hostile_column_names(library: str) -> None:
    """NUL, empty, very long and non-ASCII names are compared like any other, from pandas,
    polars (which cannot export a NUL in a name to Arrow by itself) and Arrow."""
    rng = np.random.default_rng(23)
    reference, current = _hostile(rng), _hostile(rng)
    convert = {
        "pandas": lambda f: f,
        "polars": pl.from_pandas,
        "arrow": lambda f: pa.Table.from_pandas(f, preserve_index=False),
    }[library]
    report = drift(convert(reference), convert(current), columns=HOSTILE)
    assert [c.column for c in report.columns] == HOSTILE
    assert {c.verdict for c in report.columns} == {"no drift"}
    report.to_dict()


def test_a_lone_surrogate_in_a_name_is_a_clear_error() -> None:
    """A name Arrow cannot hold as UTF-8 raises InvalidInputError, not a UnicodeEncodeError."""
    rng = np.random.default_rng(24)
    frame = pd.DataFrame(rng.normal(size=(ROWS, 1)), columns=pd.Index(["\ud800"], dtype=object))
    with pytest.raises(InvalidInputError, match="not valid Unicode"):
        drift(frame, frame)


def test_duplicate_column_names_are_a_clear_error() -> None:
    """Two columns of one name raise InvalidInputError (Arrow refuses them)."""
    frame = pd.DataFrame([[1.0, 2.0]] * ROWS, columns=["a", "a"])
    with pytest.raises(InvalidInputError):
        drift(frame, frame)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"columns": "x"}, "list of column names"),
        ({"columns": [1]}, "column name must be a string"),
        ({"columns": []}, "columns is empty"),
        ({"threshold": 2}, "threshold"),
        ({"threshold": 0}, "threshold"),
        ({"threshold": True}, "threshold"),
        ({"threshold": "0.5"}, "threshold"),
        ({"threshold": float("nan")}, "threshold"),
    ],
)
def test_wrong_argument_types_raise_clear_errors(
    frames: Any, arguments: dict, message: str
) -> None:
    """Bad ``columns`` and ``threshold`` raise InvalidInputError saying what is wrong."""
    reference, current = frames
    with pytest.raises(InvalidInputError, match=message):
        drift(reference, current, **arguments)


@pytest.mark.parametrize("role", ["reference", "current"])
@pytest.mark.parametrize("value", [42, None, 1.5, [1, 2, 3], {"x": [1]}])
def test_data_of_the_wrong_type_is_a_clear_error(frames: Any, role: str, value: Any) -> None:
    """A reference or current that is not a table raises InvalidInputError naming its role."""
    reference, current = frames
    args = (value, current) if role == "reference" else (reference, value)
    with pytest.raises(InvalidInputError, match=f"the {role} data"):
        drift(*args)


def test_a_missing_file_is_a_clear_error(frames: Any, tmp_path: Path) -> None:
    """A path with no file behind it raises InvalidInputError."""
    with pytest.raises(InvalidInputError, match="no file"):
        drift(tmp_path / "nope.parquet", frames[1])


def test_polars_arrow_and_parquet_inputs_agree_with_pandas(frames: Any, tmp_path: Path) -> None:
    """Polars frames, Arrow tables, a Parquet file and a folder of Parquet files give the
    same report as the pandas frames they hold."""
    reference, current = frames
    current = current.assign(x=current["x"] + 0.5)  # one drifted column, one steady
    expected = drift(reference, current).to_dict()
    assert expected["drifted_columns"] == ["x"]
    pq.write_table(pa.Table.from_pandas(reference, preserve_index=False), tmp_path / "ref.parquet")
    folder = tmp_path / "current"
    folder.mkdir()
    half = len(current) // 2
    for index, part in enumerate((current.iloc[:half], current.iloc[half:])):
        table = pa.Table.from_pandas(part, preserve_index=False)
        pq.write_table(table, folder / f"part-{index}.parquet")
    variants = [
        (pl.from_pandas(reference), pl.from_pandas(current)),
        (pa.Table.from_pandas(reference), pa.Table.from_pandas(current)),
        (tmp_path / "ref.parquet", folder),
        (str(tmp_path / "ref.parquet"), str(folder)),
    ]
    for ref, cur in variants:
        got = drift(ref, cur).to_dict()
        assert got["drifted_columns"] == expected["drifted_columns"]
        for a, b in zip(got["columns"], expected["columns"], strict=True):
            assert a["verdict"] == b["verdict"]
            assert a["statistic"] == pytest.approx(b["statistic"])
            assert a["effect"] == pytest.approx(b["effect"])


@pytest.mark.parametrize(
    "convert",
    [
        lambda t: t.cast(pa.timestamp("ns")),
        lambda t: t.cast(pa.timestamp("us", tz="UTC")),
        lambda t: t.cast(pa.timestamp("s")),
        lambda t: t.cast(pa.date32()),
        lambda t: t.cast(pa.date64()),
    ],
    ids=["ns", "us-utc", "s", "date32", "date64"],
)
def test_the_same_times_in_another_unit_do_not_drift(convert: Any) -> None:
    """Times compare by their value, not their unit: the same days stored as milliseconds
    and as nanoseconds (or as dates) are no drift, where their raw integers differ a
    millionfold."""
    days = pa.array(pd.date_range("2024-01-01", periods=ROWS, freq="D").astype("datetime64[ms]"))
    reference = pa.table({"t": days})
    report = drift(reference, pa.table({"t": convert(days)}))
    assert report.column("t").verdict == "no drift"
    assert report.column("t").effect == pytest.approx(0.0, abs=1e-9)
    later = pa.table(
        {"t": convert(pa.compute.add(days, pa.scalar(150 * 86_400_000, pa.duration("ms"))))}
    )
    assert drift(reference, later).column("t").verdict == "drift"


def test_durations_and_times_of_day_compare_across_units() -> None:
    """Durations and times of day in different units compare by value."""
    seconds = pa.array(np.arange(ROWS), pa.duration("s"))
    assert (
        drift(pa.table({"d": seconds}), pa.table({"d": seconds.cast(pa.duration("ns"))}))
        .column("d")
        .verdict
        == "no drift"
    )
    times = pa.array((np.arange(ROWS) * 60).astype(np.int32), pa.time32("s"))
    assert (
        drift(pa.table({"t": times}), pa.table({"t": times.cast(pa.time64("us"))}))
        .column("t")
        .verdict
        == "no drift"
    )


def test_intervals_are_unsupported() -> None:
    """Month-day-nanosecond intervals (no single number) are incomparable, not a crash."""
    intervals = pa.table({"i": pa.array([(1, 2, 3)] * ROWS, pa.month_day_nano_interval())})
    assert drift(intervals, intervals).column("i").verdict == "incomparable"


@pytest.mark.parametrize("scale", [1e307, 1e200, 1e-300, 5e-324 * 2**40])
def test_values_near_the_float_limits(scale: float) -> None:
    """Values whose sums or squares overflow (or underflow) a float still give the right
    verdicts and effects, with no NumPy warning (the suite turns warnings into errors)."""
    rng = np.random.default_rng(25)
    draws = [rng.normal(size=ROWS), rng.normal(size=ROWS), rng.normal(1.0, 1.0, ROWS)]
    reference, same, moved = (pa.table({"f": pa.array(x * scale)}) for x in draws)
    steady = drift(reference, same).column("f")
    shifted = drift(reference, moved).column("f")
    assert steady.verdict == "no drift" and shifted.verdict == "drift"
    unscaled = drift(pa.table({"f": draws[0]}), pa.table({"f": draws[2]})).column("f")
    assert shifted.effect == pytest.approx(unscaled.effect, rel=1e-6)
    assert (
        steady.statistic
        == drift(pa.table({"f": draws[0]}), pa.table({"f": draws[1]})).column("f").statistic
    )
