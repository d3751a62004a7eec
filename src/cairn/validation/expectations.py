"""Expectations: what a column (or a whole table) must satisfy, checked chunk by chunk.

Every expectation streams: ``start()`` makes an empty state, ``update(state, batch, offset)``
folds in one Arrow record batch (``offset``: the row number of its first row), and
``finish(state, rows)`` gives the outcome. So a file larger than memory is checked in one pass,
in bounded memory, with the same code as a DataFrame. The arithmetic is Arrow's compute
kernels (C++), not Python loops over values.

Built-in kinds register through the ``cairn_expectations`` hook, as custom ones do: a custom
expectation is a dataclass with a ``kind`` class attribute and these three methods.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

SAMPLE_ROWS = 5  # offending row numbers kept per failed expectation


@dataclass
class Outcome:
    """How one expectation fared: observed against expected, and some offending rows."""

    passed: bool
    observed: Any
    expected: Any
    rows: list[int] = field(default_factory=list)  # row numbers (0-based) of some offenders
    detail: str = ""


@dataclass
class Expectation:
    """Base of expectations: a ``column`` (None for table-level ones) and a ``severity``."""

    kind: ClassVar[str] = ""
    column: str | None = None
    severity: str = "error"  # error | warn

    def start(self) -> Any:
        """An empty state."""
        return {"bad": 0, "rows": []}

    def update(self, state: Any, batch: Any, offset: int) -> None:
        """Fold in one record batch."""

    def finish(self, state: Any, rows: int) -> Outcome:
        """The outcome over every batch (``rows`` in all)."""
        raise NotImplementedError

    def describe(self) -> str:
        """One line: what is expected."""
        return self.kind if self.column is None else f"{self.kind}({self.column})"

    # -- helpers for subclasses --------------------------------------------------------------

    def _column(self, batch: Any) -> Any:
        index = batch.schema.get_field_index(self.column)
        return None if index < 0 else batch.column(index)

    @staticmethod
    def _note(state: Any, mask: Any, offset: int) -> None:
        """Count the rows where ``mask`` is true and keep the first few row numbers."""
        import pyarrow.compute as pc

        bad = int(pc.sum(pc.cast(pc.fill_null(mask, False), "int64")).as_py() or 0)
        if bad:
            state["bad"] += bad
            if len(state["rows"]) < SAMPLE_ROWS:
                where = pc.indices_nonzero(pc.fill_null(mask, False))
                state["rows"].extend(offset + int(i) for i in where.to_pylist()[:SAMPLE_ROWS])


@dataclass
class ColumnExists(Expectation):
    """The column is there."""

    kind: ClassVar[str] = "column_exists"

    def start(self) -> Any:
        return {"seen": False, "found": True}

    def update(self, state: Any, batch: Any, offset: int) -> None:
        state["seen"] = True
        state["found"] = state["found"] and batch.schema.get_field_index(self.column) >= 0

    def finish(self, state: Any, rows: int) -> Outcome:
        found = state["found"] and state["seen"]
        return Outcome(found, "present" if found else "missing", "present")


@dataclass
class ColumnType(Expectation):
    """The column holds this kind of values: integer, float, bool, string or datetime."""

    kind: ClassVar[str] = "type"
    type: str = "float"

    def start(self) -> Any:
        return {"types": set()}

    def update(self, state: Any, batch: Any, offset: int) -> None:
        column = self._column(batch)
        if column is not None:
            state["types"].add(type_of(column.type))

    def finish(self, state: Any, rows: int) -> Outcome:
        seen = sorted(state["types"])
        ok = not seen or all(_compatible(t, self.type) for t in seen)
        return Outcome(ok, ", ".join(seen) or "missing", self.type)

    def describe(self) -> str:
        return f"type({self.column}) is {self.type}"


@dataclass
class NullRate(Expectation):
    """At most ``max`` of the column's values are missing (0: none)."""

    kind: ClassVar[str] = "null_rate"
    max: float = 0.0

    def update(self, state: Any, batch: Any, offset: int) -> None:
        import pyarrow.compute as pc

        column = self._column(batch)
        if column is not None and column.null_count:
            self._note(state, pc.is_null(column), offset)

    def finish(self, state: Any, rows: int) -> Outcome:
        rate = state["bad"] / rows if rows else 0.0
        ok = rate <= tolerated(self.max, rows)
        return Outcome(ok, round(rate, 6), f"<= {self.max:g}", state["rows"])

    def describe(self) -> str:
        return f"null_rate({self.column}) <= {self.max:g}"


@dataclass
class Between(Expectation):
    """Values lie in [``min``, ``max``], except at most ``mostly_outside`` of them."""

    kind: ClassVar[str] = "between"
    min: float | None = None
    max: float | None = None
    max_outside: float = 0.0  # share of values allowed outside

    def start(self) -> Any:
        return {"bad": 0, "rows": [], "present": 0, "low": None, "high": None}

    def update(self, state: Any, batch: Any, offset: int) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        column = self._column(batch)
        if column is None or not _numeric(column.type):
            return
        if pa.types.is_boolean(column.type):
            column = pc.cast(column, "int8")
        state["present"] += len(column) - column.null_count
        if column.null_count == 0 and len(column):
            self._update_dense(state, column.to_numpy(zero_copy_only=False), offset)
            return
        bounds = pc.min_max(column).as_py()
        if bounds["min"] is not None:
            state["low"] = (
                bounds["min"] if state["low"] is None else min(state["low"], bounds["min"])
            )
            state["high"] = (
                bounds["max"] if state["high"] is None else max(state["high"], bounds["max"])
            )
        outside = None
        if self.min is not None and bounds["min"] is not None and bounds["min"] < self.min:
            outside = pc.less(column, self.min)
        if self.max is not None and bounds["max"] is not None and bounds["max"] > self.max:
            above = pc.greater(column, self.max)
            outside = above if outside is None else pc.or_(outside, above)
        if outside is not None:
            self._note(state, outside, offset)

    def _update_dense(self, state: Any, values: Any, offset: int) -> None:
        """The same on a column without nulls, through NumPy (several times faster than
        Arrow's min_max on floats), reading the column's buffer without a copy."""
        import numpy as np

        low, high = values.min().item(), values.max().item()
        state["low"] = low if state["low"] is None else min(state["low"], low)
        state["high"] = high if state["high"] is None else max(state["high"], high)
        below = self.min is not None and low < self.min
        above = self.max is not None and high > self.max
        if not (below or above):
            return
        mask: Any = np.zeros(len(values), dtype=bool)
        if below:
            mask |= values < self.min
        if above:
            mask |= values > self.max
        where = np.flatnonzero(mask)
        state["bad"] += len(where)
        room = SAMPLE_ROWS - len(state["rows"])
        if room > 0:
            state["rows"].extend(offset + int(i) for i in where[:room])

    def finish(self, state: Any, rows: int) -> Outcome:
        share, ok = _judged(state, self.max_outside)
        observed = {"min": state["low"], "max": state["high"], "outside": round(share, 6)}
        expected = f"[{_num(self.min)}, {_num(self.max)}]" + (
            f", at most {self.max_outside:.2%} outside" if self.max_outside else ""
        )
        return Outcome(ok, observed, expected, state["rows"])

    def describe(self) -> str:
        return f"{self.column} in [{_num(self.min)}, {_num(self.max)}]"


@dataclass
class Categories(Expectation):
    """Values are among ``allowed``, except at most ``max_unseen`` of them (a share)."""

    kind: ClassVar[str] = "categories"
    allowed: list[str] = field(default_factory=list)
    max_unseen: float = 0.0

    def start(self) -> Any:
        return {"bad": 0, "rows": [], "present": 0, "unseen": {}}

    def update(self, state: Any, batch: Any, offset: int) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        column = self._column(batch)
        if column is None:
            return
        text = column if pa.types.is_string(column.type) else pc.cast(column, pa.string())
        state["present"] += len(text) - text.null_count
        known = pc.is_in(text, value_set=pa.array(self.allowed, pa.string()))
        unseen = pc.and_(pc.invert(known), pc.is_valid(text))
        self._note(state, unseen, offset)
        if len(state["unseen"]) < 20 and state["bad"]:
            for value in pc.unique(pc.filter(text, unseen)).to_pylist()[:20]:
                state["unseen"][value] = True

    def finish(self, state: Any, rows: int) -> Outcome:
        share, ok = _judged(state, self.max_unseen)
        observed = {"unseen_share": round(share, 6), "unseen": sorted(state["unseen"])[:10]}
        shown = ", ".join(self.allowed[:10]) + (" ..." if len(self.allowed) > 10 else "")
        expected = f"one of {shown}" + (
            f" (at most {self.max_unseen:.2%} others)" if self.max_unseen else ""
        )
        return Outcome(ok, observed, expected, state["rows"])

    def describe(self) -> str:
        return f"{self.column} in its {len(self.allowed)} known categories"


@dataclass
class Unique(Expectation):
    """No value of the column repeats (ids). Memory grows with the distinct values."""

    kind: ClassVar[str] = "unique"

    def start(self) -> Any:
        return {"bad": 0, "rows": [], "parts": []}

    def update(self, state: Any, batch: Any, offset: int) -> None:
        column = self._column(batch)
        if column is not None:
            state["parts"].append((offset, column))

    def finish(self, state: Any, rows: int) -> Outcome:
        import pyarrow as pa
        import pyarrow.compute as pc

        if not state["parts"]:
            return Outcome(True, 0, 0)
        values = pa.chunked_array([c for _, c in state["parts"]]).combine_chunks()
        counts = pc.value_counts(values)
        many = pc.greater(counts.field("counts"), 1)
        repeated = pc.filter(counts.field("values"), many)
        extra = pc.subtract(pc.filter(counts.field("counts"), many), 1)
        duplicates = int(pc.sum(extra).as_py() or 0)
        rows_of: list[int] = []
        if duplicates:
            mask = pc.is_in(values, value_set=repeated)
            rows_of = pc.indices_nonzero(mask).to_pylist()[:SAMPLE_ROWS]
        return Outcome(duplicates == 0, f"{duplicates} repeated", "0 repeated", rows_of)


@dataclass
class RowCount(Expectation):
    """The table has between ``min`` and ``max`` rows."""

    kind: ClassVar[str] = "row_count"
    min: int = 1
    max: int | None = None

    def start(self) -> Any:
        return {}

    def finish(self, state: Any, rows: int) -> Outcome:
        ok = rows >= self.min and (self.max is None or rows <= self.max)
        return Outcome(ok, rows, f"[{self.min}, {self.max if self.max is not None else '∞'}]")

    def describe(self) -> str:
        return f"row_count in [{self.min}, {self.max if self.max is not None else '∞'}]"


@dataclass
class Matches(Expectation):
    """Text values match ``pattern`` (a regular expression), but for ``max_other`` of them."""

    kind: ClassVar[str] = "matches"
    pattern: str = ""
    max_other: float = 0.0

    def start(self) -> Any:
        return {"bad": 0, "rows": [], "present": 0}

    def update(self, state: Any, batch: Any, offset: int) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        column = self._column(batch)
        if column is None:
            return
        text = column if pa.types.is_string(column.type) else pc.cast(column, pa.string())
        state["present"] += len(text) - text.null_count
        ok = pc.match_substring_regex(text, f"^(?:{self.pattern})$")
        self._note(state, pc.and_(pc.invert(ok), pc.is_valid(text)), offset)

    def finish(self, state: Any, rows: int) -> Outcome:
        share, ok = _judged(state, self.max_other)
        return Outcome(ok, f"{share:.2%} do not match", f"/{self.pattern}/", state["rows"])


PII_PATTERNS = {
    "email": r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}",
    "phone": (
        r"(?:\+|00)[1-9][0-9 .()-]{7,17}[0-9]"
        r"|\(?0[1-9][0-9]{1,3}\)?[ .-]?[0-9]{2,4}[ .-]?[0-9]{2,4}[ .-]?[0-9]{2,4}"
    ),
    "card": r"(?:[0-9][ -]?){12,18}[0-9]",
    "iban": r"[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]){11,30}",
    "ip": r"(?:(?:25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])",
}


@dataclass
class NoPersonalData(Expectation):
    """The column holds no email addresses, phone numbers, payment card numbers (Luhn-checked),
    IBANs (checksum-checked) or IP addresses. Reported with counts and masked samples only."""

    kind: ClassVar[str] = "no_personal_data"
    kinds: list[str] = field(default_factory=lambda: sorted(PII_PATTERNS))

    def start(self) -> Any:
        return {"bad": 0, "rows": [], "found": {k: 0 for k in self.kinds}, "samples": []}

    def update(self, state: Any, batch: Any, offset: int) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        column = self._column(batch)
        if column is None or not (
            pa.types.is_string(column.type) or pa.types.is_large_string(column.type)
        ):
            return
        any_hit = None
        for kind in self.kinds:
            hits = pc.fill_null(pc.match_substring_regex(column, PII_PATTERNS[kind]), False)
            if not pc.any(hits).as_py():
                continue
            if kind in ("card", "iban"):  # a checksum separates real numbers from digit runs
                candidates = pc.indices_nonzero(hits).to_pylist()
                texts = pc.take(column, pa.array(candidates)).to_pylist()
                real = [i for i, t in zip(candidates, texts, strict=True) if _checked(kind, t)]
                hits = pc.is_in(pa.array(range(len(column))), value_set=pa.array(real, pa.int64()))
                if not real:
                    continue
            count = int(pc.sum(pc.cast(hits, "int64")).as_py() or 0)
            state["found"][kind] += count
            if len(state["samples"]) < 3:
                first = int(pc.indices_nonzero(hits)[0].as_py())
                state["samples"].append(f"{kind}: {_mask(str(column[first].as_py()))}")
            any_hit = hits if any_hit is None else pc.or_(any_hit, hits)
        if any_hit is not None:
            self._note(state, any_hit, offset)

    def finish(self, state: Any, rows: int) -> Outcome:
        found = {k: v for k, v in state["found"].items() if v}
        observed = {"found": found, "masked_samples": state["samples"]} if found else "none found"
        return Outcome(not found, observed, "no personal data", state["rows"])


def _judged(state: Any, allowed: float) -> tuple[float, bool]:
    """The share of offending values among those present, and whether ``allowed`` covers it."""
    share = state["bad"] / state["present"] if state["present"] else 0.0
    return share, share <= tolerated(allowed, state["present"])


def tolerated(share: float, rows: int) -> float:
    """The largest observed share that still agrees with an expected ``share`` over ``rows``
    rows: three binomial standard deviations above it, so a small batch is not failed for the
    luck of its draw (and a share of 0 stays 0: one null in a non-null column fails)."""
    if rows <= 0 or share <= 0:
        return share + 1e-12
    return share + 3 * math.sqrt(share * (1 - share) / rows) + 1e-12


def type_of(arrow_type: Any) -> str:
    """integer, float, bool, string, datetime or the Arrow type's name."""
    import pyarrow as pa

    if pa.types.is_integer(arrow_type):
        return "integer"
    if pa.types.is_floating(arrow_type) or pa.types.is_decimal(arrow_type):
        return "float"
    if pa.types.is_boolean(arrow_type):
        return "bool"
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return "string"
    if pa.types.is_dictionary(arrow_type):
        return type_of(arrow_type.value_type)
    if pa.types.is_timestamp(arrow_type) or pa.types.is_date(arrow_type):
        return "datetime"
    if pa.types.is_null(arrow_type):
        return "null"
    return str(arrow_type)


def _compatible(seen: str, wanted: str) -> bool:
    # Integers fit a float column; ISO dates are text in a DataFrame but dates once a CSV
    # reader has parsed them, so a datetime column satisfies a text one.
    return seen in (wanted, "null") or (seen, wanted) in (
        ("integer", "float"),
        ("datetime", "string"),
    )


def _numeric(arrow_type: Any) -> bool:
    import pyarrow as pa

    return bool(
        pa.types.is_integer(arrow_type)
        or pa.types.is_floating(arrow_type)
        or pa.types.is_boolean(arrow_type)
    )


def _num(value: float | None) -> str:
    return "-∞" if value is None else f"{value:.6g}"


def _mask(text: str) -> str:
    """Keep the shape of a value, never its content: 'a***@e***.com'."""
    out = []
    for i, char in enumerate(text[:40]):
        out.append(char if (i == 0 or not char.isalnum()) else "*")
    return "".join(out)


def _checked(kind: str, text: str | None) -> bool:
    if text is None:
        return False
    if kind == "card":
        return any(_luhn(m) for m in re.findall(PII_PATTERNS["card"], text))
    return any(_iban_ok(m) for m in re.findall(PII_PATTERNS["iban"], text))


def _luhn(candidate: str) -> bool:
    digits = [int(c) for c in candidate if c.isdigit()]
    if not 13 <= len(digits) <= 19:
        return False
    total = 0
    for i, digit in enumerate(reversed(digits)):
        doubled = digit * 2 if i % 2 else digit
        total += doubled - 9 if doubled > 9 else doubled
    return total % 10 == 0


def _iban_ok(candidate: str) -> bool:
    text = candidate.replace(" ", "")
    if not 15 <= len(text) <= 34:
        return False
    moved = text[4:] + text[:4]
    number = "".join(str(int(c, 36)) for c in moved)
    return int(number) % 97 == 1


BUILTIN = (
    ColumnExists,
    ColumnType,
    NullRate,
    Between,
    Categories,
    Unique,
    RowCount,
    Matches,
    NoPersonalData,
)
