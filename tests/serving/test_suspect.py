"""Guessing which request of a failed batch holds the rows the model refused."""

from __future__ import annotations

from typing import Any

from cairn.serving._suspect import suspect


def _requests(values: list[Any]) -> list[list[Any]]:
    return [[{"a": v, "b": 1.0}] for v in values]


def test_a_value_far_larger_than_its_column_is_suspected() -> None:
    """The request holding a value far beyond its column's typical magnitude is the suspect."""
    assert suspect(_requests([0.5, -1.2, 0.3, -1e7, 2.0])) == 3
    assert suspect([[[1.0, 2.0]], [[1.5, 1e9]], [[0.1, 3.0]]]) == 1  # array rows too


def test_text_among_numbers_and_missing_values_are_suspected() -> None:
    """Text where the batch sends numbers outranks a missing value, which outranks numbers."""
    assert suspect(_requests([1.0, None, "jane@example.com", 2.0])) == 2
    assert suspect(_requests([1.0, None, 2.0, 3.0])) == 1


def test_no_suspect_without_a_clear_outlier() -> None:
    """Ordinary values, two odd requests alike, or fewer than three requests: bisect instead."""
    assert suspect(_requests([1.0, 2.0, 3.0, 4.0])) is None
    assert suspect(_requests([1.0, 1e7, 2.0, 1e7])) is None
    assert suspect(_requests([1.0, 1e7])) is None
    assert suspect([["not a record"], ["x"], ["y"]]) is None
