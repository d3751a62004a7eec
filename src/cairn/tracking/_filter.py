"""The run-search language: filter and order-by text in, SQLAlchemy Core expressions out.

A hand-written recursive-descent parser; every value reaches the database as a bound
parameter, never as SQL text. Keywords are case-insensitive. A superset of MLflow's
``search_runs`` filter::

    expr       := and_expr (OR and_expr)*
    and_expr   := not_expr (AND not_expr)*
    not_expr   := NOT not_expr | '(' expr ')' | comparison
    comparison := ident cmp_op value
                | ident [NOT] IN '(' value (',' value)* ')'
                | ident [NOT] (LIKE | ILIKE) string
                | ident IS [NOT] NULL
    cmp_op     := = | == | != | <> | < | <= | > | >=
    ident      := prefix '.' key | attribute
    prefix     := metrics | metric | params | param | tags | tag | attributes | attribute
                | attr | run
    key        := name ('.' name)* | `backtick quoted` | "double quoted"
    value      := number | 'single quoted' | "double quoted" | TRUE | FALSE
    order_by   := ident [ASC | DESC] (',' ident [ASC | DESC])*

``params.optim.lr`` names the param key ``optim.lr``. Strings take ``''`` or ``\\'`` for a
quote and ``\\\\`` for a backslash. A comparison on a metric, param or tag holds when the run
has that key and its value compares true, so ``params.x != 'a'`` and ``NOT IN`` skip runs
without ``x`` while ``NOT params.x = 'a'`` includes them. Params compare their numeric view
with numbers and their text with strings; tags always compare text. ``LIKE`` is
case-sensitive on every backend (``%`` any run, ``_`` one character, ``\\`` escapes); ``ILIKE``
is not. Error positions count characters from 0.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import Boolean, ColumnElement, exists, func, not_, or_, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from cairn.core.errors import FilterError
from cairn.store.db.schema import experiments, latest_metrics, metric_keys, params, run_tags, runs

_FILTER_EXAMPLE = "metrics.auc > 0.9 AND params.optim = 'adam'"
_ORDER_EXAMPLE = "metrics.auc DESC, params.lr, start_time ASC"
_MAX_DEPTH = 50  # NOT and parentheses nested deeper would exhaust Python's recursion
_MAX_COMPARISONS = 200  # SQLite refuses expression trees deeper than 1000

_PREFIXES = {
    **dict.fromkeys(("metrics", "metric"), "metric"),
    **dict.fromkeys(("params", "param"), "param"),
    **dict.fromkeys(("tags", "tag"), "tag"),
    **dict.fromkeys(("attributes", "attribute", "attr", "run"), "attr"),
}
_ATTRIBUTES = {
    **dict.fromkeys(("run_id", "id"), "run_id"),
    **dict.fromkeys(("run_name", "name"), "run_name"),
    **dict.fromkeys(("start_time", "created"), "start_time"),
    **dict.fromkeys(("experiment", "experiment_name"), "experiment"),
    **dict.fromkeys(("parent_run_id", "parent"), "parent_run_id"),
    **dict.fromkeys(("user", "user_id"), "user"),
    "status": "status",
    "end_time": "end_time",
    "duration": "duration",
}
_KEYWORDS = {"AND", "OR", "NOT", "IN", "LIKE", "ILIKE", "IS", "NULL", "TRUE", "FALSE"}
_OP_NAMES = "a comparison operator (=, !=, <, <=, >, >=, IN, LIKE, ILIKE, IS)"
_OPS: dict[str, Callable[[Any, Any], ColumnElement[bool]]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_TOKEN = re.compile(
    r"(?P<op><=|>=|==|!=|<>|=|<|>)"
    r"|(?P<number>[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)"
    r"|(?P<word>[A-Za-z_][A-Za-z0-9_\-]*)"
    r"|(?P<punct>[(),.])"
)
_KEY = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_\-]*(?:\.[A-Za-z0-9_][A-Za-z0-9_\-]*)*")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def compile_filter(text: str | None) -> ColumnElement[bool] | None:
    """Compile a filter into a boolean expression over ``runs``; None for no filter.

    Use it as ``select(runs).where(expression)``. Raises FilterError for any mistake.
    """
    if text is None or not text.strip():
        return None
    parser = _Parser(text, "filter", _FILTER_EXAMPLE)
    expression = parser.expr()
    token = parser.peek()
    if token.kind != "eof":
        what = 'a "(" before this ")"' if token.text == ")" else "AND, OR or the end"
        raise parser.error(token.start, f"expected {what} after a complete comparison")
    return expression


def compile_order_by(items: str | Sequence[str] | None) -> list[ColumnElement[Any]]:
    """Compile order-by items (``"metrics.auc DESC"``) into ``ORDER BY`` expressions.

    A string may hold several comma-separated items. Runs without the value sort last in both
    directions; params sort numerically, then as text. Raises FilterError for any mistake.
    """
    texts = [items] if isinstance(items, str) else list(items or [])
    ordering: list[ColumnElement[Any]] = []
    for text in texts:
        if text.strip():
            ordering.extend(_Parser(text, "order-by", _ORDER_EXAMPLE).order_by())
    return ordering


@dataclass(frozen=True)
class _Token:
    kind: str  # op, number, word, punct, string, backtick, bad, eof
    text: str  # as written; for string and backtick, the unquoted content
    start: int
    end: int


@dataclass(frozen=True)
class _Value:
    kind: str  # number, string, bool
    text: str  # the number as written, the string, or "true" / "false"
    pos: int


@dataclass(frozen=True)
class _Target:
    """What one identifier compares: columns by kind of value, and how a condition applies."""

    columns: dict[str, ColumnElement[Any]]  # "num", "text", "bool" or "time" -> column
    accepts: str  # for error messages
    wrap: Callable[[ColumnElement[bool] | None], ColumnElement[bool]]
    null_column: ColumnElement[Any] | None  # None: IS NULL means "has no such key"
    sort: list[ColumnElement[Any]]
    lower_values: bool = False


class _Parser:
    def __init__(self, text: str, what: str, example: str) -> None:
        self.text, self.what, self.example = text, what, example
        self.pos = 0
        self.depth = 0
        self.comparisons = 0
        self._peeked: _Token | None = None

    # -- tokens ---------------------------------------------------------------------------

    def error(self, pos: int, expected: str) -> FilterError:
        near = " ".join(self.text[pos:].split()[:2])
        near = near if len(near) <= 30 else near[:30] + "..."
        where = f'near "{near}"' if near else "at the end"
        return FilterError(
            f"invalid {self.what} at position {pos} {where}: {expected}; example: {self.example}"
        )

    def peek(self) -> _Token:
        if self._peeked is None:
            self._peeked = self._scan()
        return self._peeked

    def take(self) -> _Token:
        token = self.peek()
        self.pos, self._peeked = token.end, None
        return token

    def accept(self, word: str) -> bool:
        token = self.peek()
        if token.text.upper() == word and token.kind in ("word", "punct"):
            self.take()
            return True
        return False

    def expect(self, text: str, context: str) -> None:
        if not self.accept(text):
            raise self.error(self.peek().start, f'expected "{text}" {context}')

    def _scan(self) -> _Token:
        text, pos = self.text, self.pos
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos == len(text):
            return _Token("eof", "", pos, pos)
        if text[pos] in "'\"`":
            return self._quoted(pos)
        match = _TOKEN.match(text, pos)
        if match is None or match.lastgroup is None:
            return _Token("bad", text[pos], pos, pos + 1)
        return _Token(match.lastgroup, match.group(), pos, match.end())

    def _quoted(self, start: int) -> _Token:
        text, quote = self.text, self.text[start]
        out: list[str] = []
        i = start + 1
        while i < len(text):
            char = text[i]
            following = text[i + 1] if i + 1 < len(text) else ""
            if char == "\\" and quote != "`" and following in ("'", '"', "\\"):
                out.append(following)
                i += 2
            elif char == quote and following == quote:
                out.append(quote)
                i += 2
            elif char == quote:
                kind = "backtick" if quote == "`" else "string"
                return _Token(kind, "".join(out), start, i + 1)
            else:
                out.append(char)
                i += 1
        raise self.error(start, f"expected a closing {quote} for the quote opened here")

    # -- grammar --------------------------------------------------------------------------

    def expr(self) -> ColumnElement[bool]:
        terms = [self.and_expr()]
        while self.accept("OR"):
            terms.append(self.and_expr())
        return terms[0] if len(terms) == 1 else or_(*terms)

    def and_expr(self) -> ColumnElement[bool]:
        terms = [self.not_expr()]
        while self.accept("AND"):
            terms.append(self.not_expr())
        return terms[0] if len(terms) == 1 else or_(*terms).self_group() if False else _and(terms)

    def not_expr(self) -> ColumnElement[bool]:
        token = self.peek()
        if token.text.upper() not in ("NOT", "("):
            return self.comparison()
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise self.error(token.start, f"at most {_MAX_DEPTH} nested NOTs and parentheses")
        self.take()
        if token.text == "(":
            result = self.expr()
            self.expect(")", f'to close the "(" at position {token.start}')
        else:
            result = not_(self.not_expr())
        self.depth -= 1
        return result

    def comparison(self) -> ColumnElement[bool]:
        ident, start = self.ident()
        self.comparisons += 1
        if self.comparisons > _MAX_COMPARISONS:
            raise self.error(start, f"at most {_MAX_COMPARISONS} comparisons (use IN lists)")
        token = self.peek()
        if token.kind == "op":
            self.take()
            op = {"==": "=", "<>": "!="}.get(token.text, token.text)
            return self._compile(ident, op, [self.value(f'after "{ident.text} {token.text}"')])
        word = token.text.upper() if token.kind == "word" else ""
        negated = word == "NOT" and self.accept("NOT")
        word = self.peek().text.upper() if negated else word
        if word == "IN":
            self.take()
            self.expect("(", "to open the IN list")
            values = [self.value("in the IN list")]
            while self.accept(","):
                values.append(self.value("after the comma in the IN list"))
            self.expect(")", 'or "," in the IN list')
            return self._compile(ident, "in", values, negated)
        if word in ("LIKE", "ILIKE"):
            self.take()
            pattern = self.value(f"after {word}")
            if pattern.kind != "string":
                raise self.error(pattern.pos, f"expected a 'quoted pattern' after {word}")
            return self._compile(ident, word.lower(), [pattern], negated)
        if word == "IS" and not negated:
            self.take()
            is_not = self.accept("NOT")
            self.expect("NULL", "after IS NOT" if is_not else "or NOT NULL after IS")
            return self._null_check(ident, is_not)
        expected = "IN, LIKE or ILIKE" if negated else _OP_NAMES
        raise self.error(self.peek().start, f'expected {expected} after "{ident.text}"')

    def value(self, context: str) -> _Value:
        token = self.take()
        if token.kind in ("number", "string"):
            return _Value(token.kind, token.text, token.start)
        if token.kind == "word" and token.text.upper() in ("TRUE", "FALSE"):
            return _Value("bool", token.text.lower(), token.start)
        hint = " (quote strings: 'adam')" if token.kind == "word" else ""
        expected = f"expected a number, a 'quoted string', TRUE or FALSE {context}{hint}"
        raise self.error(token.start, expected)

    def ident(self) -> tuple[_Ident, int]:
        token = self.take()
        if token.kind != "word" or token.text.upper() in _KEYWORDS:
            raise self.error(
                token.start, "expected a field such as metrics.auc, params.lr, tags.team or status"
            )
        word = token.text.lower()
        if self.text.startswith(".", self.pos):
            kind = _PREFIXES.get(word)
            if kind is None:
                raise self.error(
                    token.start,
                    f'expected a prefix metrics., params., tags. or attributes., not "{word}."',
                )
            self.pos += 1
            key = self.key()
            if kind == "attr":
                return _Ident("attr", self.attribute(key, token.start), token.text + "." + key), token.start
            return _Ident(kind, key, self.text[token.start : self.pos]), token.start
        if word in _PREFIXES:
            raise self.error(self.pos, f'expected "." and a key after "{token.text}"')
        return _Ident("attr", self.attribute(word, token.start), token.text), token.start
