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

import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import Boolean, ColumnElement, and_, func, not_, or_, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from cairn.core.errors import FilterError
from cairn.store.db.schema import experiments, latest_metrics, metric_keys, params, run_tags, runs
from cairn.store.db.schema.tracking import VALUE_PREFIX, value_prefix
from cairn.tracking import _liveness

_FILTER_EXAMPLE = "metrics.auc > 0.9 AND params.optim = 'adam'"
_ORDER_EXAMPLE = "metrics.auc DESC, params.lr, start_time ASC"
_MAX_DEPTH = 50  # NOT and parentheses nested deeper would exhaust Python's recursion
_MAX_COMPARISONS = 200  # SQLite refuses expression trees deeper than 1000


def _aliases(groups: str) -> dict[str, str]:
    """``"a b, c"`` -> {"a": "a", "b": "a", "c": "c"}: each group's first name is canonical."""
    return {alias: group.split()[0] for group in groups.split(",") for alias in group.split()}


_PREFIXES = _aliases("metric metrics, param params, tag tags, attr attributes attribute run")
_ATTRIBUTES = _aliases(
    "run_id id, run_name name, status, start_time created, end_time, duration, user user_id,"
    "experiment experiment_name, parent_run_id parent"
)
_KEYWORDS = {"AND", "OR", "NOT", "IN", "LIKE", "ILIKE", "IS", "NULL", "TRUE", "FALSE"}
_OP_NAMES = "a comparison operator (=, !=, <, <=, >, >=, IN, LIKE, ILIKE, IS)"
_OPS: dict[str, Callable[[Any, Any], ColumnElement[bool]]] = {"=": operator.eq, "!=": operator.ne}
_OPS.update({"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge})
_TOKEN = re.compile(
    r"(?P<op><=|>=|==|!=|<>|=|<|>)"
    r"|(?P<number>[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)"
    r"|(?P<word>[A-Za-z_][A-Za-z0-9_\-]*)"
    r"|(?P<punct>[(),.])"
)
_KEY = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_\-]*(?:\.[A-Za-z0-9_][A-Za-z0-9_\-]*)*")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_ESCAPE = "\\"  # the LIKE escape character
_TEXT_ACCEPTS = "a 'quoted string'"
_TIME_ACCEPTS = "epoch milliseconds or an ISO-8601 date such as '2024-05-01' or '2024-05-01T12:00Z'"


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
        what = 'a "(" before this ")"' if token.is_(")") else "AND, OR or the end"
        raise parser.error(token.start, f"expected {what} after a complete comparison")
    return expression


MAX_ORDER_KEYS = 100


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
    if len(ordering) > MAX_ORDER_KEYS * 4:  # an item is 2 to 4 expressions (missing last)
        raise FilterError(
            f"order by at most {MAX_ORDER_KEYS} items; the databases refuse longer ORDER BY clauses"
        )
    return ordering


@dataclass(frozen=True)
class _Token:
    kind: str  # op, number, word, punct, string, backtick, bool, bad, eof
    text: str  # as written; unquoted for string and backtick; "true" or "false" for bool
    start: int
    end: int

    def is_(self, word: str) -> bool:
        return self.kind in ("word", "punct") and self.text.upper() == word


@dataclass(frozen=True)
class _Ident:
    kind: str  # metric, param, tag, attr
    key: str  # the metric/param/tag key, or the attribute's canonical name
    text: str  # as written
    pos: int


@dataclass(frozen=True)
class _Target:
    """What one identifier compares: columns by kind of value, and how a condition applies."""

    columns: dict[str, ColumnElement[Any]]  # "num", "text", "bool" or "time" -> column
    accepts: str  # what values it takes, for error messages
    wrap: Callable[[ColumnElement[bool]], ColumnElement[bool]]  # condition -> filter
    present: ColumnElement[bool]  # the run has a value (IS NOT NULL)
    sort: Sequence[ColumnElement[Any]]
    lower_values: bool = False


class _Parser:
    def __init__(self, text: str, what: str, example: str) -> None:
        self.text, self.what, self.example = text, what, example
        self.pos = self.depth = self.comparisons = 0
        self._peeked: _Token | None = None

    # -- tokens ---------------------------------------------------------------------------

    def error(self, pos: int, expected: str) -> FilterError:
        near = " ".join(self.text[pos:].split()[:2])
        near = near if len(near) <= 30 else near[:30] + "..."
        where = f'near "{near}"' if near else "at the end"
        if len(expected) > 500:  # it may quote a name from the text, which can be any length
            expected = expected[:500] + "..."
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
        if self.peek().is_(word):
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
            elif char == "\x00":  # PostgreSQL cannot hold it: refuse it on every backend
                raise self.error(i, "expected no NUL character (\\x00) in a quoted text")
            elif "\ud800" <= char <= "\udfff":  # a lone surrogate cannot be stored or sent
                raise self.error(i, "expected valid Unicode text (not a lone surrogate)")
            else:
                out.append(char)
                i += 1
        raise self.error(start, f"expected a closing {quote} for the quote opened here")

    # -- grammar --------------------------------------------------------------------------

    def expr(self) -> ColumnElement[bool]:
        terms = [self.and_expr()]
        while self.accept("OR"):
            terms.append(self.and_expr())
        return or_(*terms)  # one term comes back as itself

    def and_expr(self) -> ColumnElement[bool]:
        terms = [self.not_expr()]
        while self.accept("AND"):
            terms.append(self.not_expr())
        return and_(*terms)

    def not_expr(self) -> ColumnElement[bool]:
        token = self.peek()
        is_not = token.is_("NOT")
        if not is_not and not token.is_("("):
            return self.comparison()
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise self.error(token.start, f"at most {_MAX_DEPTH} nested NOTs and parentheses")
        self.take()
        if not is_not:
            result = self.expr()
            self.expect(")", f'to close the "(" at position {token.start}')
        else:
            result = not_(self.not_expr())
        self.depth -= 1
        return result

    def comparison(self) -> ColumnElement[bool]:
        ident = self.ident()
        self.comparisons += 1
        if self.comparisons > _MAX_COMPARISONS:
            raise self.error(ident.pos, f"at most {_MAX_COMPARISONS} comparisons (use IN lists)")
        token = self.peek()
        if token.kind == "op":
            self.take()
            op = {"==": "=", "<>": "!="}.get(token.text, token.text)
            return self._compile(ident, op, [self.value(f'after "{ident.text} {token.text}"')])
        negated = self.accept("NOT")
        token = self.peek()
        word = token.text.upper() if token.kind == "word" else ""
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
                raise self.error(pattern.start, f"expected a 'quoted pattern' after {word}")
            return self._compile(ident, word.lower(), [pattern], negated)
        if word == "IS" and not negated:
            self.take()
            is_not = self.accept("NOT")
            self.expect("NULL", "after IS NOT" if is_not else "or NOT NULL after IS")
            present = _target(ident).present
            return present if is_not else not_(present)
        expected = "IN, LIKE or ILIKE" if negated else _OP_NAMES
        raise self.error(token.start, f'expected {expected} after "{ident.text}"')

    def value(self, context: str) -> _Token:
        token = self.take()
        if token.kind in ("number", "string"):
            return token
        if token.is_("TRUE") or token.is_("FALSE"):
            return _Token("bool", token.text.lower(), token.start, token.end)
        hint = " (quote strings: 'adam')" if token.kind == "word" else ""
        expected = f"expected a number, a 'quoted string', TRUE or FALSE {context}{hint}"
        raise self.error(token.start, expected)

    def ident(self) -> _Ident:
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
            written = self.text[token.start : self.pos]
            key = self.attribute(key, token.start) if kind == "attr" else key
            return _Ident(kind, key, written, token.start)
        if word in _PREFIXES:
            raise self.error(self.pos, f'expected "." and a key after "{token.text}"')
        return _Ident("attr", self.attribute(word, token.start), token.text, token.start)

    def key(self) -> str:
        start = self.pos
        if self.text.startswith(("`", '"'), start):
            token = self.take()
            if not token.text:
                raise self.error(start, "expected a key between the quotes, not an empty one")
            return token.text
        match = _KEY.match(self.text, start)
        if match is None:
            raise self.error(start, 'expected a key right after the "." (quote others: `my key`)')
        self.pos = match.end()
        return match.group()

    def attribute(self, name: str, pos: int) -> str:
        canonical = _ATTRIBUTES.get(name.lower())
        if canonical is None:
            known = ", ".join(sorted(set(_ATTRIBUTES.values())))
            raise self.error(
                pos,
                f'expected an attribute ({known}) or metrics., params., tags. before "{name}"',
            )
        return canonical

    def order_by(self) -> list[ColumnElement[Any]]:
        ordering: list[ColumnElement[Any]] = []
        while True:
            ident = self.ident()
            descending = self.accept("DESC")
            if not descending:
                self.accept("ASC")
            for column in _target(ident).sort:
                # "IS NULL" first: false sorts before true, so missing values come last.
                ordering += [column.is_(None), column.desc() if descending else column.asc()]
            token = self.peek()
            if token.kind == "eof":
                return ordering
            if not self.accept(","):
                raise self.error(
                    token.start, f'expected ASC, DESC, "," or the end after "{ident.text}"'
                )

    # -- semantics ------------------------------------------------------------------------

    def _compile(
        self, ident: _Ident, op: str, values: list[_Token], negated: bool = False
    ) -> ColumnElement[bool]:
        target = _target(ident)
        if op in ("like", "ilike") and "text" not in target.columns:
            raise self.error(
                values[0].start,
                f'{op.upper()} needs text, but "{ident.text}" takes {target.accepts}',
            )
        groups: dict[str, list[Any]] = {}
        for value in values:
            slot, operand = self._operand(target, ident, op, value)
            groups.setdefault(slot, []).append(operand)
        indexed = _indexed_prefix(target.columns.get("text"))
        if op == "in":
            parts = [
                # Guarded so that a NULL (a param without a numeric view) cannot make NOT IN
                # unknown when the list mixes numbers and strings.
                target.columns[slot].in_(operands)
                if len(groups) == 1
                else and_(target.columns[slot].is_not(None), target.columns[slot].in_(operands))
                for slot, operands in groups.items()
            ]
            condition = or_(*parts)
            if indexed is not None and list(groups) == ["text"]:
                # Implied by the IN itself; lets the (key, value prefix) index find the rows.
                prefixes = {text[:VALUE_PREFIX] for text in groups["text"]}
                condition = and_(indexed.in_(sorted(prefixes)), condition)
        else:
            [(slot, [operand])] = groups.items()
            column = target.columns[slot]
            if op == "like":
                condition = _CaseSensitiveLike(column, *_like_patterns(operand))
            elif op == "ilike":
                pattern = _like_patterns(operand)[0]
                condition = func.lower(column).like(func.lower(pattern), escape=_ESCAPE)
            else:
                condition = _OPS[op](column, operand)
                if op == "=" and slot == "text" and indexed is not None:
                    # Implied by the equality; lets the (key, value prefix) index find the rows.
                    condition = and_(indexed == operand[:VALUE_PREFIX], condition)
        return target.wrap(not_(condition) if negated else condition)

    def _operand(self, target: _Target, ident: _Ident, op: str, value: _Token) -> tuple[str, Any]:
        columns = target.columns
        if value.kind == "bool" and "bool" in columns:
            if op not in ("=", "!=", "in"):
                raise self.error(value.start, "expected =, != or IN before TRUE or FALSE")
            return "bool", value.text
        if value.kind == "number" and "num" in columns:
            return "num", float(value.text)
        if value.kind != "bool" and "text" in columns:
            return "text", value.text.lower() if target.lower_values else value.text
        if value.kind != "bool" and "time" in columns:
            return "time", self._millis(value)
        raise self.error(value.start, f'"{ident.text}" takes {target.accepts}')

    def _millis(self, value: _Token) -> int:
        text = value.text.strip()
        millis: int | None = None
        try:
            if value.kind == "number" or text.isdecimal():
                millis = int(text) if re.fullmatch(r"[+-]?\d+", text) else int(float(text))
            else:
                moment = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] == "Z" else text)
                if moment.tzinfo is None:
                    moment = moment.replace(tzinfo=timezone.utc)
                millis = (moment - _EPOCH) // timedelta(milliseconds=1)
        except (ValueError, OverflowError):
            pass
        if millis is None or abs(millis) >= 2**63:
            raise self.error(value.start, f"expected {_TIME_ACCEPTS}")
        return millis


def _target(ident: _Ident) -> _Target:
    """The columns, filter wrapper and sort keys of one identifier."""
    if ident.kind == "attr":
        return _attribute_target(ident.key)
    if ident.kind == "metric":
        key_id = select(metric_keys.c.id).where(metric_keys.c.name == ident.key)
        owner = latest_metrics.c.run_id
        links = [latest_metrics.c.key_id == key_id.scalar_subquery()]
        columns: dict[str, ColumnElement[Any]] = {"num": latest_metrics.c.value}
        accepts = "a number (metrics are numbers)"
    else:
        table = params if ident.kind == "param" else run_tags
        owner = table.c.run_id
        links = [table.c.key == ident.key]
        columns = {"text": table.c.value, "bool": func.lower(table.c.value)}
        if ident.kind == "param":
            columns = {"num": params.c.num, **columns}
        accepts = "a number, a 'quoted string', TRUE or FALSE"

    # "run id IN (runs whose value matches)": found once through the (key_id, value) index of
    # metrics, or the (key, num) and (key, value prefix) indexes of params and tags, instead
    # of probing every run with a correlated EXISTS.
    def wrap(condition: ColumnElement[bool]) -> ColumnElement[bool]:
        return runs.c.id.in_(select(owner).where(*links, condition))

    sort = [
        select(columns[slot]).where(owner == runs.c.id, *links).correlate(runs).scalar_subquery()
        for slot in ("num", "text")
        if slot in columns
    ]
    return _Target(columns, accepts, wrap, runs.c.id.in_(select(owner).where(*links)), sort)


def _indexed_prefix(column: ColumnElement[Any] | None) -> ColumnElement[str] | None:
    """The indexed prefix expression of a param or tag value column, else None."""
    if column is params.c.value or column is run_tags.c.value:
        return value_prefix(column)
    return None


def _attribute_target(name: str) -> _Target:
    if name in ("experiment", "parent_run_id"):
        # Aliased: callers often join experiments and parent runs themselves.
        other = experiments.alias() if name == "experiment" else runs.alias()
        link = runs.c.experiment_id if name == "experiment" else runs.c.parent_id
        label = other.c.name if name == "experiment" else other.c.uid
        linked = link.is_not(None)
        return _Target(
            {"text": label},
            _TEXT_ACCEPTS,
            lambda condition: and_(linked, link.in_(select(other.c.id).where(condition))),
            linked,
            [select(label).where(other.c.id == link).scalar_subquery()],
        )
    names = {"run_id": "uid", "run_name": "name", "status": "status", "user": "user"}
    stored = runs.c[names.get(name, "end_ms" if name in ("end_time", "duration") else "start_ms")]
    column: ColumnElement[Any] = stored
    if name == "status":
        column = _liveness.run_status()  # "crashed" is derived, not stored
    if name == "duration":
        column = runs.c.end_ms - runs.c.start_ms
        columns, accepts = {"num": column}, "a number of milliseconds"
    elif name in ("start_time", "end_time"):
        columns, accepts = {"time": column}, _TIME_ACCEPTS
    else:
        columns, accepts = {"text": column}, _TEXT_ACCEPTS
    present = stored.is_not(None)
    return _Target(
        columns,
        accepts,
        # A NULL column would make the comparison unknown, and NOT of unknown excludes the run.
        (lambda condition: and_(present, condition)) if stored.nullable else (lambda c: c),
        present,
        [column],
        lower_values=name == "status",
    )


def _like_patterns(pattern: str) -> tuple[str, str]:
    """The LIKE pattern (escape character ``\\``) and the equivalent SQLite GLOB pattern."""
    like: list[str] = []
    glob: list[str] = []
    chars = iter(pattern)
    for char in chars:
        if char in "%_":
            like.append(char)
            glob.append("*" if char == "%" else "?")
            continue
        literal = next(chars, "\\") if char == "\\" else char
        like.append("\\" + literal if literal in "%_\\" else literal)
        glob.append(f"[{literal}]" if literal in "*?[" else literal)
    return "".join(like), "".join(glob)


class _CaseSensitiveLike(FunctionElement[bool]):
    """``column LIKE pattern``, case-sensitive on every backend (SQLite's LIKE is not)."""

    type = Boolean()
    inherit_cache = True
    name = "cairn_like"


@compiles(_CaseSensitiveLike)
def _compile_like(element: _CaseSensitiveLike, compiler: SQLCompiler, **kw: Any) -> str:
    column, like, _glob = element.clauses.clauses
    return f"({compiler.process(column.like(like, escape=_ESCAPE), **kw)})"


@compiles(_CaseSensitiveLike, "sqlite")
def _compile_glob(element: _CaseSensitiveLike, compiler: SQLCompiler, **kw: Any) -> str:
    column, _like, glob = element.clauses.clauses
    return f"({compiler.process(column.op('GLOB', is_comparison=True)(glob), **kw)})"
