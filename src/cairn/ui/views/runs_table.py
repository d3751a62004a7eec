"""What the runs table shows: its query (read from the URL and checked), its columns (chosen,
or the param and metric keys of the shown runs), which columns differ, and sort links."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from cairn.core.checks import check_int, check_text
from cairn.core.errors import InvalidInputError
from cairn.tracking import RunRecord, differing_keys

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_FILTER = 10_000  # characters: a long IN list fits; more is not a filter a person wrote
MAX_COLUMNS = 200
DEFAULT_KEYS = 30  # of params and of metrics, when no columns are chosen
KINDS = ("params", "metrics", "tags")
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_\-]*(?:\.[A-Za-z0-9_][A-Za-z0-9_\-]*)*")
#: the fixed columns: label, the order-by name, and whether a first click sorts descending
FIXED = [
    ("id", "run_id", False),
    ("name", "run_name", False),
    ("experiment", "experiment", False),
    ("status", "status", False),
    ("user", "user", False),
    ("start", "start_time", True),
    ("duration", "duration", True),
]


@dataclass(frozen=True)
class Query:
    """The table's query, as the URL gives it (checked)."""

    filter: str
    experiment: str | None
    order: str
    offset: int
    limit: int
    columns: list[tuple[str, str]] | None  # (kind, key) as chosen, or None for the default
    diff: bool
    deleted: bool


@dataclass(frozen=True)
class Column:
    """One param, metric or tag column: its name in the filter language and its sort link."""

    kind: str
    key: str
    ident: str  # as the filter and order-by language names it, e.g. params.lr
    aria_sort: str = "none"
    sort: str = ""  # the order a click on its header asks for


@dataclass
class Table:
    """The columns shown and those hidden because every shown run has the same value."""

    columns: list[Column] = field(default_factory=list)
    same: list[str] = field(default_factory=list)


def ident(kind: str, key: str) -> str:
    """``params.lr``, or ``params.`my key``` for a key the language must quote."""
    if _PLAIN_KEY.fullmatch(key):
        return f"{kind}.{key}"
    return f"{kind}.`{key.replace('`', '``')}`"


def whole_number(text: str | None, what: str, default: int, maximum: int | None) -> int:
    """A query parameter as an int between 0 (1 for a limit) and ``maximum``."""
    if text is None or not text.strip():
        return default
    try:
        number = int(text.strip())
    except ValueError:
        shown = text if len(text) <= 40 else text[:40] + "..."
        raise InvalidInputError(f"{what} must be a whole number, got {shown!r}") from None
    minimum = 1 if what.startswith("limit") else 0
    return check_int(number, what, minimum=minimum, maximum=maximum)


def parse_columns(text: str) -> list[tuple[str, str]]:
    """``params.lr,metrics.auc,tags.`a,b``` as (kind, key) pairs; InvalidInputError else."""
    check_text(text, "columns")
    items: list[str] = []
    current, quoted = "", False
    for char in text:
        if char == "`":
            quoted = not quoted
        if char == "," and not quoted:
            items.append(current)
            current = ""
        else:
            current += char
    items.append(current)
    chosen: list[tuple[str, str]] = []
    for item in (i.strip() for i in items):
        if not item:
            continue
        kind, dot, key = item.partition(".")
        if kind not in KINDS or not dot or not key:
            shown = item if len(item) <= 60 else item[:60] + "..."
            raise InvalidInputError(
                f"unknown column {shown!r}: columns are params.<key>, metrics.<key> or "
                "tags.<key>, separated by commas (e.g. params.lr,metrics.auc)"
            )
        if key.startswith("`") and key.endswith("`") and len(key) > 1:
            key = key[1:-1].replace("``", "`")
        if (kind, key) not in chosen:
            chosen.append((kind, key))
    if len(chosen) > MAX_COLUMNS:
        raise InvalidInputError(
            f"{len(chosen)} columns were chosen; the table shows at most {MAX_COLUMNS}"
        )
    return chosen


def read_query(params: Any) -> Query:
    """The table's query from the URL's parameters (``request.query_params``)."""
    filter_text = params.get("filter") or ""
    check_text(filter_text, "filter")
    if len(filter_text) > MAX_FILTER:
        raise InvalidInputError(
            f"the filter is {len(filter_text)} characters long; at most {MAX_FILTER} are read"
        )
    experiment = params.get("experiment") or None
    if experiment is not None:
        check_text(experiment, "experiment name")
    order = params.get("order") or ""
    check_text(order, "order")
    if len(order) > MAX_FILTER:
        raise InvalidInputError(f"the order is {len(order)} characters long; shorten it")
    columns = None
    picked = [c for c in params.getlist("col") if c]
    if params.get("columns") or picked:
        columns = parse_columns(",".join([params.get("columns") or "", *picked]))
    return Query(
        filter=filter_text,
        experiment=experiment,
        order=order,
        offset=whole_number(params.get("offset"), "offset (runs to skip)", 0, None),
        limit=whole_number(params.get("limit"), "limit (runs per page)", DEFAULT_LIMIT, MAX_LIMIT),
        columns=columns,
        diff=params.get("diff") in ("1", "on", "true"),
        deleted=params.get("deleted") in ("1", "on", "true"),
    )


def _value(record: RunRecord, kind: str, key: str) -> Any:
    values: dict[str, Any] = getattr(record, kind)
    return values.get(key)


def normal_order(text: str) -> str:
    """An order text compared loosely: case and spaces do not matter."""
    return " ".join(text.lower().split())


def sort_state(order: str, name: str, descending_first: bool) -> tuple[str, str]:
    """(aria-sort, the order a click asks for) of a column named ``name`` in order-by."""
    now = normal_order(order)
    lowered = name.lower()
    if now == f"{lowered} desc" or (not now and name == "start_time"):
        return "descending", f"{name} ASC"
    if now in (lowered, f"{lowered} asc"):
        return "ascending", f"{name} DESC"
    return "none", f"{name} DESC" if descending_first else f"{name} ASC"


def build_table(query: Query, records: list[RunRecord]) -> Table:
    """The shown columns: the chosen ones, or the param and metric keys of the shown runs
    (the first ``DEFAULT_KEYS`` of each); with ``diff``, only those whose values differ."""
    if query.columns is not None:
        wanted = query.columns
    else:
        wanted = []
        for kind in ("params", "metrics"):
            # System metrics (system/cpu_percent, ...) stay in the chooser, not the default.
            keys = sorted(
                {key for r in records for key in getattr(r, kind) if not key.startswith("system/")}
            )
            wanted += [(kind, key) for key in keys[:DEFAULT_KEYS]]
    table = Table()
    # "Only what differs" compares values as the compare page does (1, 1.0 and True differ).
    differing = {kind: set(differing_keys(records, kind)) for kind in {k for k, _ in wanted}}
    for kind, key in wanted:
        name = ident(kind, key)
        if query.diff and records and key not in differing[kind]:
            table.same.append(name)
            continue
        aria, sort = sort_state(query.order, name, kind == "metrics")
        table.columns.append(Column(kind, key, name, aria, sort))
    return table


def fixed_columns(order: str) -> list[dict[str, str]]:
    """The fixed columns' labels with their sort state and links."""
    out = []
    for label, name, descending_first in FIXED:
        aria, sort = sort_state(order, name, descending_first)
        out.append({"label": label, "name": name, "aria_sort": aria, "sort": sort})
    return out


def row(record: RunRecord, table: Table) -> dict[str, Any]:
    """One run as the table shows it: attributes and the shown columns' values."""
    return {
        "id": record.id,
        "name": record.name,
        "experiment": record.experiment,
        "status": record.status,
        "user": record.user,
        "start_ms": record.start_ms,
        "duration_s": record.duration_s,
        "deleted": record.deleted,
        "values": [_value(record, c.kind, c.key) for c in table.columns],
    }
