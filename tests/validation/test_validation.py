"""Profiling a reference table into a suite, and validating batches against it."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cairn.core.errors import InvalidInputError
from cairn.validation import (
    Between,
    Expectation,
    Outcome,
    RowCount,
    Suite,
    expectation_kinds,
    profile,
    validate,
)


def customers(n: int, seed: int) -> pd.DataFrame:
    """A customers table: an id, numbers, categories, free text, and some missing values."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "customer_id": np.arange(seed * 1_000_000, seed * 1_000_000 + n),
            "age": rng.integers(18, 90, n),
            "income": rng.lognormal(10.5, 0.4, n),
            "city": rng.choice(["paris", "lyon", "nice", "lille"], n, p=[0.4, 0.3, 0.2, 0.1]),
            "plan": rng.choice(["free", "pro"], n),
            "signup": [
                f"2024-{m:02d}-{d:02d}"
                for m, d in zip(rng.integers(1, 13, n), rng.integers(1, 29, n), strict=True)
            ],
            "comment": [f"ticket {i} about the invoice" for i in rng.integers(0, 10**6, n)],
            "score": np.where(rng.random(n) < 0.03, np.nan, rng.random(n)),
        }
    )


@pytest.fixture(scope="module")
def suite() -> Suite:
    """The suite profiled from 8,000 reference rows."""
    return profile(customers(8000, seed=1), "customers")


def names(result: Any) -> list[tuple[str, str | None]]:
    return sorted((f.kind, f.column) for f in result.failures)


def test_a_clean_batch_from_the_same_distribution_passes(suite: Suite) -> None:
    """A fresh batch drawn like the reference passes with no failure at all."""
    result = validate(customers(2000, seed=2), suite)
    assert result.passed and result.failures == [], result.to_json()
    assert result.rows == 2000 and result.checked == len(suite.expectations)


def test_profiling_suggests_the_expected_kinds(suite: Suite) -> None:
    """Ids are unique, categories listed, dates have a format, free text is checked for PII."""
    kinds = {(e.kind, e.column) for e in suite.expectations}
    assert ("unique", "customer_id") in kinds
    assert ("categories", "city") in kinds and ("categories", "plan") in kinds
    assert ("matches", "signup") in kinds
    assert ("no_personal_data", "comment") in kinds
    assert ("between", "income") in kinds and ("between", "age") in kinds
    nulls = {e.column: e.max for e in suite.expectations if e.kind == "null_rate"}
    assert nulls["age"] == 0 and 0.03 < nulls["score"] < 0.1
    (rows,) = [e for e in suite.expectations if isinstance(e, RowCount)]
    assert rows.min == 800


def _fault(name: str) -> tuple[pd.DataFrame, tuple[str, str | None]]:
    batch = customers(2000, seed=3)
    if name == "nulls":
        batch.loc[batch.index[:40], "age"] = None
        return batch, ("null_rate", "age")
    if name == "range":
        batch.loc[batch.index[:100], "income"] = batch["income"].iloc[:100] * 1000
        return batch, ("between", "income")
    if name == "category":
        batch.loc[batch.index[:100], "city"] = "marseille"
        return batch, ("categories", "city")
    if name == "dtype":
        batch["age"] = batch["age"].astype(str)
        return batch, ("type", "age")
    if name == "missing":
        return batch.drop(columns=["plan"]), ("column_exists", "plan")
    if name == "duplicates":
        batch.loc[batch.index[5], "customer_id"] = batch["customer_id"].iloc[6]
        return batch, ("unique", "customer_id")
    if name == "empty":
        return batch.head(0), ("row_count", None)
    if name == "few":
        return batch.head(20), ("row_count", None)
    if name == "email":
        batch.loc[batch.index[7], "comment"] = "write to jane.doe@example.org please"
        return batch, ("no_personal_data", "comment")
    raise AssertionError(name)


@pytest.mark.parametrize(
    "fault",
    ["nulls", "range", "category", "dtype", "missing", "duplicates", "empty", "few", "email"],
)
def test_each_injected_fault_is_caught_and_named(suite: Suite, fault: str) -> None:
    """Every kind of broken batch fails, and the failure names the expectation and column."""
    batch, expected = _fault(fault)
    result = validate(batch, suite)
    assert not result.passed
    assert expected in names(result), result.to_json()


def test_offending_rows_and_masked_samples(suite: Suite) -> None:
    """Failures give a few offending row numbers; personal data is shown masked, never raw."""
    batch, _ = _fault("email")
    batch.loc[batch.index[9], "comment"] = "card 4111 1111 1111 1111 on file"
    (failure,) = [f for f in validate(batch, suite).failures if f.kind == "no_personal_data"]
    assert failure.rows == [7, 9]
    assert failure.observed["found"] == {"email": 1, "card": 1}
    shown = str(failure.observed)
    assert "jane.doe" not in shown and "4111 1111" not in shown


def test_card_numbers_must_pass_luhn() -> None:
    """Digit runs that fail the Luhn check (order numbers, phone-like ids) are not cards."""
    from cairn.validation import NoPersonalData

    check = Suite("s", [NoPersonalData("t", kinds=["card"])], "allow")
    fake = pd.DataFrame({"t": ["order 1234 5678 9012 3456", "ok"]})
    real = pd.DataFrame({"t": ["order 4111-1111-1111-1111", "ok"]})
    assert validate(fake, check).passed
    assert not validate(real, check).passed


def test_extra_columns_are_configurable(suite: Suite) -> None:
    """An unexpected column warns by default, fails with extra_columns: error, or is allowed."""
    batch = customers(2000, seed=4).assign(surprise=1)
    assert validate(batch, suite).passed
    assert names(validate(batch, suite)) == [("extra_columns", None)]
    strict = Suite.from_dict({**suite.to_dict(), "extra_columns": "error"})
    assert not validate(batch, strict).passed
    loose = Suite.from_dict({**suite.to_dict(), "extra_columns": "allow"})
    assert validate(batch, loose).failures == []


def test_severity_warn_does_not_fail(suite: Suite) -> None:
    """A failed expectation of severity warn is reported but the batch still passes."""
    batch, _ = _fault("category")
    data = suite.to_dict()
    for item in data["expectations"]:
        if item["kind"] == "categories" and item["column"] == "city":
            item["severity"] = "warn"
    result = validate(batch, Suite.from_dict(data))
    assert result.passed and [f.severity for f in result.failures] == ["warn"]


def test_files_are_validated_in_chunks_like_frames(suite: Suite, tmp_path: Path) -> None:
    """Parquet and CSV files, read in small chunks, give the frame's result, row numbers too."""
    batch, _ = _fault("email")
    batch.loc[batch.index[1500], "comment"] = "ip 10.0.0.1 leaked"
    batch.to_parquet(tmp_path / "b.parquet", index=False, row_group_size=300)
    batch.to_csv(tmp_path / "b.csv", index=False)
    expected = validate(batch, suite).to_dict()
    for path in (tmp_path / "b.parquet", tmp_path / "b.csv"):
        got = validate(path, suite, chunk_rows=256).to_dict()
        assert got["failures"] == expected["failures"], path
        assert got["rows"] == 2000


def test_polars_and_arrow_inputs(suite: Suite) -> None:
    """Polars and Arrow tables validate like pandas."""
    import polars as pl
    import pyarrow as pa

    batch = customers(1000, seed=5)
    assert validate(pl.from_pandas(batch), suite).passed
    assert validate(pa.Table.from_pandas(batch), suite).passed


def test_yaml_round_trips_and_bad_suites_are_named(suite: Suite) -> None:
    """A suite survives YAML; a broken suite's error says the line or expectation and field."""
    again = Suite.from_yaml(suite.to_yaml())
    assert again.to_dict() == suite.to_dict()
    with pytest.raises(InvalidInputError, match="at line 4"):
        Suite.from_yaml("name: s\nexpectations:\n  - kind: between\n   column: a\n")
    with pytest.raises(InvalidInputError, match="expectation 1: unknown kind 'betwen'"):
        Suite.from_yaml("name: s\nexpectations:\n  - kind: betwen\n    column: a\n")
    with pytest.raises(
        InvalidInputError, match="expectation 1 \\(between\\): unknown field 'maxx'"
    ):
        Suite.from_yaml("name: s\nexpectations:\n  - kind: between\n    column: a\n    maxx: 3\n")
    with pytest.raises(InvalidInputError, match="severity"):
        Suite.from_yaml(
            "name: s\nexpectations:\n  - kind: unique\n    column: a\n    severity: fatal\n"
        )


def test_unsupported_inputs_are_refused(tmp_path: Path, suite: Suite) -> None:
    """A file that is neither Parquet nor CSV, or a missing one, gets a clear error."""
    (tmp_path / "data.json").write_text("{}")
    with pytest.raises(InvalidInputError, match="neither Parquet"):
        validate(tmp_path / "data.json", suite)
    with pytest.raises(InvalidInputError, match="no file"):
        validate(tmp_path / "nope.parquet", suite)
    with pytest.raises(InvalidInputError, match="cannot validate a int"):
        validate(3, suite)


class EvenCount(Expectation):
    """A custom kind: the column's sum is even."""

    kind: ClassVar[str] = "even_sum"

    def start(self) -> Any:
        return {"sum": 0}

    def update(self, state: Any, batch: Any, offset: int) -> None:
        import pyarrow.compute as pc

        state["sum"] += int(
            pc.sum(batch.column(batch.schema.get_field_index(self.column))).as_py() or 0
        )

    def finish(self, state: Any, rows: int) -> Outcome:
        return Outcome(state["sum"] % 2 == 0, state["sum"], "even")


class EvenPlugin:
    """Announces EvenCount through the hook built-in kinds use."""

    from cairn.core.hookspecs import hookimpl

    @hookimpl
    def cairn_expectations(self) -> list[Any]:
        return [EvenCount]


def test_custom_expectations_plug_in_through_the_hook() -> None:
    """A plugin's expectation kind reads from YAML and validates like a built-in."""
    import dataclasses

    from cairn.core.plugins import plugin_manager

    dataclasses.dataclass(EvenCount)
    plugin = EvenPlugin()
    plugin_manager().register(plugin, name="test-even")
    try:
        assert "even_sum" in expectation_kinds()
        custom = Suite.from_yaml("name: s\nexpectations:\n  - kind: even_sum\n    column: x\n")
        assert validate(pd.DataFrame({"x": [1, 1]}), custom).passed
        assert not validate(pd.DataFrame({"x": [1, 2]}), custom).passed
    finally:
        plugin_manager().unregister(plugin)


def test_profiling_loosens_what_the_held_out_rows_fail() -> None:
    """Held-out rows beyond the suggested bounds widen them, and the suite says so."""
    from cairn.validation.profile import _fit_to
    from cairn.validation.validate import to_arrow

    suite = Suite("s", [Between("x", min=0.0, max=1.0), RowCount(min=1)], "allow")
    held = to_arrow(pd.DataFrame({"x": [0.5] * 90 + [2.0] * 10}))
    _fit_to(suite, held, tolerance=0.1)
    (bounds,) = [e for e in suite.expectations if isinstance(e, Between)]
    assert bounds.max == pytest.approx(2.1)
    assert suite.notes == ["loosened x in [0, 2.1] (was [0, 1]): held-out rows fell outside"]
    assert validate(held, suite).passed


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.integers(60, 400),
    seed=st.integers(0, 10_000),
    columns=st.lists(
        st.sampled_from(["int", "float", "cat", "text", "nullable"]), min_size=1, max_size=5
    ),
)
def test_a_resample_of_a_profiled_table_passes(rows: int, seed: int, columns: list[str]) -> None:
    """Profiling any clean random table and validating a resample of it passes."""
    rng = np.random.default_rng(seed)
    data = {}
    for i, kind in enumerate(columns):
        if kind == "int":
            data[f"c{i}"] = rng.integers(-50, 50, rows)
        elif kind == "float":
            data[f"c{i}"] = rng.normal(rng.normal() * 10, abs(rng.normal()) + 0.1, rows)
        elif kind == "cat":
            data[f"c{i}"] = rng.choice(["a", "b", "c"], rows)
        elif kind == "text":
            data[f"c{i}"] = [f"w{v} x{v % 7}" for v in rng.integers(0, 10**6, rows)]
        else:
            data[f"c{i}"] = np.where(rng.random(rows) < 0.2, np.nan, rng.random(rows))
    table = pd.DataFrame(data)
    suite = profile(table, "random", seed=seed)
    sample = table.sample(frac=0.5, replace=True, random_state=seed)
    result = validate(sample, suite)
    assert result.passed, result.to_json()
