"""Which request of a failed batch most likely holds the rows the model refused.

A bisection finds a refused request in about log2(N) + 1 predict calls. Most refusals come
from one odd value (missing, text where numbers go, or far larger than its column's other
values), and such a value stands out: scoring the batch without that request, then the
request alone, settles it in 2 calls. The guess is only an order of work, never a verdict:
each request is still answered or refused by what the model does with it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

DISTINCT = 10.0  # a suspect's score must exceed the runner-up's this many times
_MISSING = 100.0  # how odd a missing value is (often fine, sometimes the cause)
_TEXT = float("inf")  # text in a column that otherwise holds numbers


def suspect(requests: Sequence[list[Any]]) -> int | None:
    """The index of the request whose rows hold the most unusual value, when it stands out
    clearly from every other request's (else None: bisect instead)."""
    if len(requests) < 3:
        return None
    typical = _typical_magnitudes(requests)
    scores = [_oddity(rows, typical) for rows in requests]
    best = max(range(len(scores)), key=scores.__getitem__)
    runner_up = max(s for i, s in enumerate(scores) if i != best)
    if scores[best] < DISTINCT or scores[best] < DISTINCT * max(runner_up, 1.0):
        return None
    return best


def _fields(row: Any) -> Iterable[tuple[Any, Any]]:
    if isinstance(row, dict):
        return row.items()
    if isinstance(row, list):
        return enumerate(row)
    return ()


def _is_number(value: Any) -> bool:
    return type(value) in (int, float)


def _typical_magnitudes(requests: Sequence[list[Any]]) -> dict[Any, float]:
    """The median absolute value of each numeric field across the batch."""
    values: dict[Any, list[float]] = {}
    for rows in requests:
        for row in rows:
            for key, value in _fields(row):
                if _is_number(value):
                    values.setdefault(key, []).append(abs(value))
    return {key: sorted(vs)[len(vs) // 2] for key, vs in values.items()}


def _oddity(rows: list[Any], typical: dict[Any, float]) -> float:
    """How unusual the oddest value of ``rows`` is, measured against the batch."""
    score = 0.0
    for row in rows:
        for key, value in _fields(row):
            if _is_number(value):
                odd = abs(value) / (1.0 + typical.get(key, 0.0))
            elif value is None:
                odd = _MISSING
            elif key in typical:  # text, a list... where the batch sends numbers
                odd = _TEXT
            else:
                continue
            score = max(score, odd)
    return score
