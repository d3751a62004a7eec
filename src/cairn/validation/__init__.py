"""Data validation: profile a reference table into a suite of expectations, then check every
new batch (DataFrames, Arrow tables, Parquet and CSV files of any size) against it."""

from __future__ import annotations

from cairn.validation.catalog import (
    SuiteVersion,
    load_suite,
    record_result,
    results_of,
    save_suite,
)
from cairn.validation.expectations import (
    Between,
    Categories,
    ColumnExists,
    ColumnType,
    Expectation,
    Matches,
    NoPersonalData,
    NullRate,
    Outcome,
    RowCount,
    Unique,
)
from cairn.validation.profile import profile
from cairn.validation.report import to_html
from cairn.validation.suite import Suite, expectation_kinds
from cairn.validation.validate import Failure, ValidationResult, validate
from cairn.validation.validate import batches as table_batches

__all__ = [
    "Between",
    "Categories",
    "ColumnExists",
    "ColumnType",
    "Expectation",
    "Failure",
    "Matches",
    "NoPersonalData",
    "NullRate",
    "Outcome",
    "RowCount",
    "Suite",
    "SuiteVersion",
    "Unique",
    "ValidationResult",
    "expectation_kinds",
    "load_suite",
    "profile",
    "record_result",
    "results_of",
    "save_suite",
    "table_batches",
    "to_html",
    "validate",
]
