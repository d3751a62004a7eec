"""Suites: a named list of expectations, readable and editable as YAML.

    name: customers
    extra_columns: allow        # or: error, warn
    expectations:
      - kind: row_count
        min: 800
      - kind: between
        column: age
        min: 18
        max: 95
        severity: warn

Expectation kinds come from the ``cairn_expectations`` hook (the built-ins register through it
too), so a custom kind in a plugin reads and writes like a built-in one.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from cairn.core.errors import InvalidInputError
from cairn.validation.expectations import Expectation

SEVERITIES = ("error", "warn")
EXTRA_COLUMNS = ("allow", "warn", "error")


@dataclass
class Suite:
    """Expectations for a table, and what to do with columns none of them names."""

    name: str
    expectations: list[Expectation] = field(default_factory=list)
    extra_columns: str = "warn"  # allow | warn | error
    source: str | None = None  # the dataset version it was profiled from, e.g. customers@v3
    notes: list[str] = field(default_factory=list)  # what profiling loosened or dropped

    def columns(self) -> list[str]:
        """The columns its expectations name, in order."""
        seen: dict[str, None] = {}
        for e in self.expectations:
            if e.column is not None:
                seen[e.column] = None
        return list(seen)

    def to_dict(self) -> dict[str, Any]:
        """The plain form written as YAML."""
        out: dict[str, Any] = {"name": self.name}
        if self.source:
            out["source"] = self.source
        out["extra_columns"] = self.extra_columns
        out["expectations"] = [_expectation_dict(e) for e in self.expectations]
        if self.notes:
            out["notes"] = list(self.notes)
        return out

    def to_yaml(self) -> str:
        """The suite as YAML text."""
        import yaml

        return str(yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True, width=100))

    @classmethod
    def from_yaml(cls, text: str, where: str = "the suite") -> Suite:
        """Read a suite from YAML; errors name the line or the expectation and field."""
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = f" at line {mark.line + 1}" if mark is not None else ""
            raise InvalidInputError(
                f"{where} is not valid YAML{line}: {getattr(exc, 'problem', exc)}"
            ) from None
        if not isinstance(data, dict):
            raise InvalidInputError(f"{where} must be a mapping with name and expectations")
        return cls.from_dict(data, where)

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "the suite") -> Suite:
        """Build a suite from its plain form."""
        kinds = expectation_kinds()
        name = data.get("name")
        if not isinstance(name, str) or not name:
            raise InvalidInputError(f"{where}: 'name' is missing")
        extra = data.get("extra_columns", "warn")
        if extra not in EXTRA_COLUMNS:
            raise InvalidInputError(
                f"{where}: extra_columns is one of {', '.join(EXTRA_COLUMNS)}, not {extra!r}"
            )
        items = data.get("expectations") or []
        if not isinstance(items, list):
            raise InvalidInputError(f"{where}: 'expectations' must be a list")
        expectations = []
        for i, item in enumerate(items):
            label = f"{where}, expectation {i + 1}"
            if not isinstance(item, dict) or "kind" not in item:
                raise InvalidInputError(f"{label}: each expectation is a mapping with a 'kind'")
            kind = item["kind"]
            if kind not in kinds:
                raise InvalidInputError(
                    f"{label}: unknown kind {kind!r}; known: {', '.join(sorted(kinds))}"
                )
            cls_ = kinds[kind]
            fields = {f.name: f for f in dataclasses.fields(cls_)}
            values = {k: v for k, v in item.items() if k != "kind"}
            unknown = sorted(set(values) - set(fields))
            if unknown:
                raise InvalidInputError(
                    f"{label} ({kind}): unknown field {unknown[0]!r}; "
                    f"its fields: {', '.join(sorted(fields))}"
                )
            if values.get("severity", "error") not in SEVERITIES:
                raise InvalidInputError(
                    f"{label} ({kind}): severity is error or warn, not {values['severity']!r}"
                )
            try:
                expectations.append(cls_(**values))
            except TypeError as exc:
                raise InvalidInputError(f"{label} ({kind}): {exc}") from None
        notes = data.get("notes") or []
        return cls(name, expectations, extra, data.get("source"), [str(n) for n in notes])


def expectation_kinds() -> dict[str, type[Expectation]]:
    """Every expectation kind (built-in and from plugins), by name."""
    from cairn.core.plugins import register_builtin
    from cairn.validation import _builtin

    manager = register_builtin(_builtin, "cairn.validation.expectations")
    kinds: dict[str, type[Expectation]] = {}
    for group in manager.hook.cairn_expectations():
        for cls_ in group:
            kinds.setdefault(cls_.kind, cls_)
    return kinds


def _expectation_dict(e: Expectation) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": e.kind}
    for f in dataclasses.fields(e):
        value = getattr(e, f.name)
        if f.name == "severity" and value == "error":
            continue
        if f.name == "column" and value is None:
            continue
        out[f.name] = value
    return out
