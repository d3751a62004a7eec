"""``profile``: turn a reference table into a suite a clean batch of the same data passes.

Bounds come from quantiles widened by a tolerance, not from raw min/max; categories allow a
small share of unseen values; null rates get headroom. The reference is split: expectations
are suggested from one part and checked on the held-out rest, and those that fail there are
loosened to what the held-out rows show, or dropped, and each change is noted in the suite.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

from cairn.core.checks import (
    check_int,
    check_name,
    check_number,
    check_optional_text,
    check_texts,
)
from cairn.core.errors import InvalidInputError
from cairn.validation.expectations import (
    Between,
    Categories,
    ColumnExists,
    ColumnType,
    Expectation,
    Matches,
    NoPersonalData,
    NullRate,
    RowCount,
    Unique,
    type_of,
)
from cairn.validation.suite import Suite
from cairn.validation.validate import to_arrow, validate

QUANTILES = (0.001, 0.999)
TOLERANCE = 0.1  # bounds widened by this share of the quantile range
MAX_CATEGORIES = 50
UNSEEN_SHARE = 0.01
# String formats recognised when nearly every value has one (checked in this order).
FORMATS = {
    "uuid": r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}",
    "date": r"[0-9]{4}-[0-9]{2}-[0-9]{2}",
    "datetime": (
        r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?"
        r"(?:Z|[+-][0-9]{2}:?[0-9]{2})?"
    ),
    "digits": r"[0-9]+",
    "code": r"[A-Z0-9]+(?:[-_/][A-Z0-9]+)*",
}


def profile(
    data: Any,
    name: str = "profile",
    *,
    holdout: float = 0.2,
    seed: int = 0,
    tolerance: float = TOLERANCE,
    source: str | None = None,
    columns: Sequence[str] | None = None,
    exclude: Sequence[str] = (),
) -> Any:
    """A suite of expectations for tables like ``data`` (see the module's docstring).

    ``columns`` profiles only those columns; ``exclude`` leaves columns out, such as a model's
    target, which the batches it will check (scoring batches) do not have.
    """
    import numpy as np
    import pyarrow as pa

    check_name(name, "suite name", max_length=128)  # validation_suites.name
    check_optional_text(source, "source")
    holdout = check_number(holdout, "holdout", finite=True)
    tolerance = check_number(tolerance, "tolerance", finite=True)
    check_int(seed, "seed", minimum=0)
    if not 0 <= holdout < 1:
        raise InvalidInputError(f"holdout is a share of rows in [0, 1), not {holdout!r}")
    table = _chosen(to_arrow(data), columns, exclude)
    n = table.num_rows
    if n == 0:
        raise InvalidInputError("cannot profile an empty table: give it the reference rows")
    order = np.random.default_rng(seed).permutation(n)
    cut = n - int(n * holdout) if n >= 20 else n
    reference = table.take(pa.array(np.sort(order[:cut])))
    held = table.take(pa.array(np.sort(order[cut:]))) if cut < n else None
    expectations: list[Expectation] = [RowCount(min=max(1, n // 10), max=n * 10)]
    for column in table.column_names:
        expectations.extend(_suggest(column, reference.column(column), tolerance))
    suite = Suite(name, expectations, "warn", source)
    if held is not None and held.num_rows:
        _fit_to(suite, held, tolerance)
    return suite


def _chosen(table: Any, columns: Sequence[str] | None, exclude: Sequence[str]) -> Any:
    """``table`` with only ``columns`` (all by default), less ``exclude``; a name the table
    does not have is a mistake, refused with the names it has."""
    wanted = list(table.column_names) if columns is None else check_texts(columns, "column")
    dropped = check_texts(exclude, "excluded column")
    unknown = [c for c in [*wanted, *dropped] if c not in table.column_names]
    if unknown:
        raise InvalidInputError(
            f"no column {', '.join(map(repr, unknown))} to profile; the table has "
            f"{', '.join(table.column_names[:20])}"
        )
    kept = [c for c in wanted if c not in set(dropped)]
    if not kept:
        raise InvalidInputError("no column is left to profile; keep at least one")
    return table.select(kept)


def _suggest(name: str, values: Any, tolerance: float) -> list[Expectation]:
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = type_of(values.type)
    out: list[Expectation] = [
        ColumnExists(name),
        ColumnType(name, type=kind if kind != "null" else "float"),
    ]
    rows = len(values)
    nulls = values.null_count
    rate = nulls / rows if rows else 0.0
    out.append(NullRate(name, max=0.0 if nulls == 0 else min(1.0, round(rate * 1.2 + 0.005, 4))))
    present = pc.drop_null(values)
    if len(present) == 0:
        return out
    if kind in ("integer", "float"):
        # Only integers can be ids (counting distinct floats is the slowest step: skipped).
        distinct = pc.count_distinct(present).as_py() if kind == "integer" else 0
        if kind == "integer" and distinct == len(present) and len(present) > 20:
            out.append(Unique(name))
            return out  # an id: its range says nothing about the next batch
        low, high = (
            pc.quantile(present, q=q, interpolation="linear")[0].as_py() for q in QUANTILES
        )
        spread = (high - low) or abs(high) or 1.0
        lo, hi = low - tolerance * spread, high + tolerance * spread
        if kind == "integer":
            lo, hi = math.floor(lo), math.ceil(hi)
        out.append(Between(name, min=_round(lo), max=_round(hi), max_outside=0.005))
        return out
    if kind == "string":
        text = present if pa.types.is_string(present.type) else pc.cast(present, pa.string())
        distinct = pc.count_distinct(text).as_py()
        if distinct <= min(MAX_CATEGORIES, max(2, len(text) // 20)):
            allowed = sorted(str(v) for v in pc.unique(text).to_pylist())
            out.append(Categories(name, allowed=allowed, max_unseen=UNSEEN_SHARE))
            return out
        if distinct == len(text) and len(text) > 20 and _looks_like_ids(text):
            out.append(Unique(name))
        fmt = _format_of(text)
        if fmt is not None:
            out.append(Matches(name, pattern=fmt, max_other=0.01))
        else:
            out.append(NoPersonalData(name))  # free text: where personal data would hide
    return out


def _fit_to(suite: Suite, held: Any, tolerance: float) -> None:
    """Loosen (or drop) what the held-out rows contradict, noting each change: bounds widen
    to take in every held-out value, categories take in every held-out category, null rates
    rise to the held-out rate; other expectations that fail on the held-out rows are dropped."""
    import pyarrow as pa
    import pyarrow.compute as pc

    result = validate(held, Suite(suite.name, list(suite.expectations), "allow"))
    failed = {(f.kind, f.column) for f in result.failures}
    kept: list[Expectation] = []
    for e in suite.expectations:
        column = (
            held.column(e.column)
            if e.column is not None and e.column in held.column_names
            else None
        )
        if isinstance(e, Between) and column is not None:
            bounds = pc.min_max(column).as_py()
            spread = ((e.max or 0) - (e.min or 0)) or 1.0
            before = f"[{_shown(e.min)}, {_shown(e.max)}]"
            low, high = bounds["min"], bounds["max"]
            if e.min is not None and low is not None and low < e.min:
                e.min = _round(low - tolerance * spread)
            if e.max is not None and high is not None and high > e.max:
                e.max = _round(high + tolerance * spread)
            after = f"[{_shown(e.min)}, {_shown(e.max)}]"
            if after != before:
                suite.notes.append(
                    f"loosened {e.describe()} (was {before}): held-out rows fell outside"
                )
            kept.append(e)
        elif isinstance(e, NullRate) and column is not None:
            rate = column.null_count / len(column) if len(column) else 0.0
            if rate > e.max:
                previous = e.max
                e.max = min(1.0, round(rate * 1.2 + 0.005, 4))
                suite.notes.append(f"loosened null_rate({e.column}) from {previous:g} to {e.max:g}")
            kept.append(e)
        elif isinstance(e, Categories) and column is not None:
            text = column if pa.types.is_string(column.type) else pc.cast(column, pa.string())
            seen = {str(v) for v in pc.unique(pc.drop_null(text)).to_pylist()}
            new = sorted(seen - set(e.allowed))
            if new:
                e.allowed = sorted(set(e.allowed) | seen)
                suite.notes.append(
                    f"added {len(new)} held-out categor{'y' if len(new) == 1 else 'ies'} "
                    f"to {e.column}: {', '.join(new[:5])}"
                )
            kept.append(e)
        elif (e.kind, e.column) in failed and e.kind not in ("row_count", "column_exists", "type"):
            suite.notes.append(f"dropped {e.describe()}: the held-out rows do not satisfy it")
        else:
            kept.append(e)
    suite.expectations = kept


def _format_of(text: Any) -> str | None:
    import pyarrow.compute as pc

    sample = text.slice(0, 10_000)
    for pattern in FORMATS.values():
        matched = pc.sum(pc.cast(pc.match_substring_regex(sample, f"^(?:{pattern})$"), "int64"))
        if (matched.as_py() or 0) >= 0.99 * len(sample):
            return pattern
    return None


def _looks_like_ids(text: Any) -> bool:
    sample = [v for v in text.slice(0, 200).to_pylist() if v is not None]
    return all(len(v) <= 64 and not re.search(r"\s", v) for v in sample)


def _round(value: float) -> float:
    """Bounds rounded to 6 significant digits: readable in YAML."""
    if value == 0 or not math.isfinite(value):
        return value
    digits = 6 - math.floor(math.log10(abs(value))) - 1
    return round(value, max(digits, 0)) if digits > 0 else float(round(value))


def _shown(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"
