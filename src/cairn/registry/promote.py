"""Comparing two model versions side by side, and promoting one alias to another's version when
a rule holds (``auc >= champion.auc``).

Rule grammar: comparisons joined by ``and``; a comparison is ``expr OP expr`` with OP one of
``>= <= > < == !=``; an expr is operands joined by ``+`` or ``-``; an operand is a number or a
reference: ``[ALIAS.](metrics|params).KEY``, or the shorter ``KEY`` and ``ALIAS.KEY`` for
metrics (``auc >= champion.auc - 0.005 and latency_p99_ms <= 50``). References without an
alias are the version being promoted (the candidate). ``and`` is a keyword, never a key; a
metric key holding a dot is written in full (``metrics.val.loss``).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from cairn.core.checks import check_mapping, check_number, check_text, show
from cairn.core.errors import InvalidInputError, PromotionRuleError, RunNotFoundError
from cairn.core.uris import check_alias, check_model_name
from cairn.registry.model_version import ModelVersion

_OPS: dict[str, Callable[[Any, Any], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
    "==": operator.eq,
    "!=": operator.ne,
}
_TOKEN = re.compile(
    r"\s*(?:(?P<num>-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)|(?P<op>>=|<=|==|!=|>|<)|(?P<sign>[-+])"
    r"|(?P<and>and(?![A-Za-z0-9_./\-]))"
    r"|(?P<ref>[A-Za-z_][A-Za-z0-9_/]*(?:\.[A-Za-z0-9_/\-]+)*))"
)
_SECTIONS = ("metrics", "params")
_NOT_KEYS = ("or", "not")  # words a reader may try; only 'and' joins comparisons


MAX_RULE = 10_000  # characters: a rule is a few comparisons


@dataclass(frozen=True)
class Side:
    """What a comparison knows of one version: its run's params and metrics, data, code."""

    version: ModelVersion
    params: dict[str, Any]
    metrics: dict[str, float]
    data: list[str]
    git_commit: str | None
    git_dirty: str | None


@dataclass(frozen=True)
class Comparison:
    """Two versions side by side: rows of (section, key, a, b)."""

    a: Side
    b: Side
    rows: list[tuple[str, str, Any, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Check:
    """One comparison of a rule, evaluated."""

    text: str
    left: float | None
    right: float | None
    ok: bool
    why: str = ""


@dataclass(frozen=True)
class Promotion:
    """The outcome of a promotion: whether the alias moved, and why (or why not)."""

    moved: bool
    name: str
    to_alias: str
    from_version: int
    previous: int | None
    checks: list[Check]
    reason: str


def side(ref: str) -> Side:
    """The facts of version ``ref`` used by comparisons and rules."""
    from cairn.registry.catalog import get_model_version
    from cairn.tracking import get_run

    version = get_model_version(ref)
    params: dict[str, Any] = {}
    metrics: dict[str, float] = {}
    data: list[str] = []
    commit = dirty = None
    if version.run_id is not None:
        try:
            record = get_run(version.run_id)
        except RunNotFoundError:
            record = None
        if record is not None:
            params = dict(record.params)
            metrics = {k: v for k, v in record.metrics.items() if not k.startswith("system/")}
            commit = record.tags.get("cairn.git.commit")
            dirty = record.tags.get("cairn.git.dirty")
            data = _inputs(ref, record.id)
    return Side(version, params, metrics, data, commit, dirty)


def _inputs(ref: str, run_id: str) -> list[str]:
    """The dataset versions the run that logged ``ref`` read (in client mode, as the server's
    lineage map of the version names them)."""
    from cairn.store import get_store

    if get_store().remote is not None:
        from cairn.registry.lineage import model_lineage

        runs = model_lineage(ref).parents
        return [n.ref for run in runs for n in run.parents if n.kind == "dataset_version"]
    from cairn.data import run_datasets

    return [v.ref for rel, v in run_datasets(run_id) if rel == "input"]


def compare_models(a: str, b: str) -> Comparison:
    """Versions ``a`` and ``b`` side by side: metrics, params, data versions and code."""
    left, right = side(a), side(b)
    rows: list[tuple[str, str, Any, Any]] = [
        ("version", "version", _label(left.version), _label(right.version)),
        ("version", "run", left.version.run_id, right.version.run_id),
        ("version", "flavor", left.version.flavor, right.version.flavor),
    ]
    for key in sorted(set(left.metrics) | set(right.metrics)):
        rows.append(("metrics", key, left.metrics.get(key), right.metrics.get(key)))
    for key in sorted(set(left.params) | set(right.params)):
        rows.append(("params", key, left.params.get(key), right.params.get(key)))
    rows.append(("data", "read", ", ".join(left.data) or None, ", ".join(right.data) or None))
    rows.append(("code", "git commit", left.git_commit, right.git_commit))
    rows.append(("code", "git dirty", left.git_dirty, right.git_dirty))
    return Comparison(left, right, rows)


def promote(
    name: str,
    *,
    from_alias: str = "challenger",
    to_alias: str = "champion",
    require: str | None = None,
) -> Promotion:
    """Move ``to_alias`` to the version ``from_alias`` points at, when ``require`` holds."""
    from cairn.registry.catalog import get_model, set_alias

    check_model_name(name)
    check_alias(from_alias)
    check_alias(to_alias)
    if from_alias == to_alias:
        raise InvalidInputError(
            f"promote moves one alias to another's version; both are {from_alias!r}"
        )
    rule = parse_rule(require) if require else []
    model = get_model(name)
    if from_alias not in model.aliases:
        raise InvalidInputError(
            f"model {name!r} has no alias {from_alias!r} to promote (its aliases: "
            f"{', '.join(model.aliases) or 'none'}); set it with cairn models alias {name} "
            f"{from_alias} <version>"
        )
    candidate = side(f"{name}@{from_alias}")
    previous = model.aliases.get(to_alias)
    sides: dict[str | None, _Facts | None] = {
        None: _facts(None, candidate),
        from_alias: _facts(from_alias, candidate),
    }
    for alias, _, _ in _references(rule):
        if alias not in sides:
            found = side(f"{name}@{alias}") if alias in model.aliases else None
            sides[alias] = None if found is None else _facts(alias, found)
    checks = [_evaluate(clause, sides) for clause in rule]
    number = candidate.version.version
    if previous == number:
        return Promotion(
            False,
            name,
            to_alias,
            number,
            previous,
            checks,
            f"{to_alias} already points at version {number}",
        )
    failed = [c for c in checks if not c.ok]
    if failed:
        reason = "; ".join(f"{c.text}: {c.why}" for c in failed)
        return Promotion(False, name, to_alias, number, previous, checks, f"not promoted: {reason}")
    reason = "promoted" + (f" ({'; '.join(c.why for c in checks)})" if checks else "")
    set_alias(
        name,
        to_alias,
        number,
        reason=f"promote from {from_alias}" + (f" with {require}" if require else ""),
    )
    return Promotion(True, name, to_alias, number, previous, checks, reason)


# -- rules ---------------------------------------------------------------------------------

Operand = tuple[str, Any]  # ("num", 0.5) | ("ref", (alias|None, "metrics"|"params", key))
Expr = list[tuple[int, Operand]]  # signed operands, summed


class Clause(NamedTuple):
    """One comparison of a rule."""

    text: str
    left: Expr
    op: str
    right: Expr


def parse_rule(text: str) -> list[Clause]:
    """Parse a rule into its comparisons; a clear error when it does not parse."""
    if not isinstance(text, str) or not text.strip():
        raise PromotionRuleError(
            "a promotion rule is text such as 'metrics.auc >= champion.metrics.auc'"
        )
    check_text(text, "promotion rule", max_length=MAX_RULE)
    parts: list[list[tuple[str, str]]] = [[]]
    for token in _tokens(text):
        if token[0] == "and":
            parts.append([])
        else:
            parts[-1].append(token)
    out = []
    for part in parts:
        ops = [i for i, t in enumerate(part) if t[0] == "op"]
        if len(ops) != 1:
            raise PromotionRuleError(
                f"cannot parse the rule {text!r}: each part between 'and' needs exactly one of "
                f"{' '.join(_OPS)} (e.g. metrics.auc >= champion.metrics.auc)"
            )
        i = ops[0]
        out.append(
            Clause(
                " ".join(t[1] for t in part),
                _expr(part[:i], text),
                part[i][1],
                _expr(part[i + 1 :], text),
            )
        )
    return out


def rule_references(rule: str) -> list[tuple[str | None, str, str]]:
    """The (alias, section, key) each reference of ``rule`` names, once each, in order; alias
    None is the candidate, section ``metrics`` or ``params``."""
    return _references(parse_rule(rule))


def evaluate_rule(rule: str, sides: Mapping[str | None, Mapping[str, float] | None]) -> list[Check]:
    """Evaluate ``rule`` against metric values per side: key None is the candidate, an alias
    mapped to None does not exist yet (its clauses hold: nothing to beat)."""
    clauses = parse_rule(rule)
    facts = _metric_sides(sides)
    for alias, section, key in _references(clauses):
        if section != "metrics":
            raise PromotionRuleError(
                f"the rule {show(rule)} names params.{key}; only metrics are known here, so "
                "compare metrics (auc, champion.auc, metrics.KEY)"
            )
        if alias not in facts:
            given = ", ".join("the candidate" if a is None else a for a in facts) or "none"
            raise PromotionRuleError(
                f"the rule {show(rule)} names "
                f"{'the candidate' if alias is None else repr(alias)}, whose metrics were not "
                f"given (sides given: {given}); give them, or None for an alias that does "
                "not exist yet"
            )
    return [_evaluate(clause, facts) for clause in clauses]


class _Facts(NamedTuple):
    """What a rule may read of one side, and how messages name it."""

    who: str
    metrics: Mapping[str, Any]
    params: Mapping[str, Any] | None  # None: only metrics are known


def _facts(alias: str | None, found: Side) -> _Facts:
    who = f"{alias or 'the candidate'} (version {found.version.version})"
    return _Facts(who, found.metrics, found.params)


def _metric_sides(sides: Any) -> dict[str | None, _Facts | None]:
    """``evaluate_rule``'s sides, checked: aliases (or None) to mappings of metric numbers."""
    out: dict[str | None, _Facts | None] = {}
    for alias, values in check_mapping(sides, "sides").items():
        if alias is not None:
            check_alias(alias)
        who = "the candidate" if alias is None else alias
        if values is None:
            if alias is None:
                raise InvalidInputError(
                    "sides[None] holds the candidate's metrics and cannot be None; give a "
                    "mapping such as {'auc': 0.91}"
                )
            out[alias] = None
            continue
        metrics = {}
        for key, value in check_mapping(values, f"the metrics of {who}").items():
            check_text(key, f"a metric name of {who}", empty=False, max_length=MAX_RULE)
            metrics[key] = check_number(value, f"metric {show(key)} of {who}")
        out[alias] = _Facts(who, metrics, None)
    return out


def _references(clauses: list[Clause]) -> list[tuple[str | None, str, str]]:
    found: dict[tuple[str | None, str, str], None] = {}
    for clause in clauses:
        for _, (kind, value) in clause.left + clause.right:
            if kind == "ref":
                found.setdefault(value, None)
    return list(found)


def _tokens(text: str) -> list[tuple[str, str]]:
    pos, out = 0, []
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise PromotionRuleError(
                f"cannot parse the rule {text!r} at {text[pos:].strip()[:20]!r}: use numbers, "
                "KEY, ALIAS.KEY, [ALIAS.]metrics.KEY or [ALIAS.]params.KEY, + and -, a comparison "
                f"({' '.join(_OPS)}) and 'and'"
            )
        kind = match.lastgroup or ""
        if kind == "ref" and match.group(kind) in _NOT_KEYS:
            raise PromotionRuleError(
                f"cannot parse the rule {show(text)}: only 'and' joins comparisons, "
                f"{match.group(kind)!r} is not supported (join the conditions with 'and')"
            )
        out.append((kind, match.group(kind)))
        pos = match.end()
    return out


def _expr(tokens: list[tuple[str, str]], text: str) -> Expr:
    expr: Expr = []
    sign = 1
    expect_operand = True
    for kind, value in tokens:
        if expect_operand and kind == "sign":
            sign = -sign if value == "-" else sign
            continue
        if expect_operand and kind in ("num", "ref"):
            expr.append(
                (sign, ("num", float(value)) if kind == "num" else ("ref", _ref(value, text)))
            )
            sign, expect_operand = 1, False
            continue
        if not expect_operand and kind == "sign":
            sign, expect_operand = (-1 if value == "-" else 1), True
            continue
        if not expect_operand and kind == "num" and value.startswith("-"):
            expr.append((-1, ("num", float(value[1:]))))
            continue
        raise PromotionRuleError(f"cannot parse the rule {text!r} near {value!r}")
    if not expr or expect_operand:
        raise PromotionRuleError(f"cannot parse the rule {text!r}: a side of a comparison is empty")
    return expr


def _ref(value: str, text: str) -> tuple[str | None, str, str]:
    """A reference's (alias, section, key): ``KEY``, ``SECTION.KEY``, ``ALIAS.KEY`` or
    ``ALIAS.SECTION.KEY``."""
    head, _, rest = value.partition(".")
    if head in _SECTIONS:
        alias, section, key = None, head, rest
    elif not rest:
        alias, section, key = None, "metrics", head
    else:
        section, _, key = rest.partition(".")
        if section not in _SECTIONS:
            section, key = "metrics", rest
        alias = head
    if not key:
        raise PromotionRuleError(
            f"cannot parse {show(value)} in the rule {show(text)}: write KEY or ALIAS.KEY for a "
            "metric (e.g. auc, champion.auc), or [ALIAS.]metrics.KEY, [ALIAS.]params.KEY"
        )
    if alias is not None:
        try:
            check_alias(alias)
        except InvalidInputError:
            raise PromotionRuleError(
                f"cannot parse {show(value)} in the rule {show(text)}: {alias!r} cannot be an "
                "alias (a letter then letters, digits, '_' or '-'; not 'latest')"
            ) from None
    return alias, section, key


def _evaluate(clause: Clause, sides: Mapping[str | None, _Facts | None]) -> Check:
    """One clause against the sides' values (every alias it names is a key of ``sides``)."""
    text, op = clause.text, clause.op
    values = []
    for expr in (clause.left, clause.right):
        total, problem = 0.0, None
        for sign, (kind, value) in expr:
            if kind == "num":
                total += sign * value
                continue
            alias, section, key = value
            found = sides.get(alias)
            if found is None:
                return Check(text, None, None, True, f"no {alias} yet, nothing to beat")
            pool = found.metrics if section == "metrics" else found.params
            if pool is None:
                problem = f"{found.who}: only metrics are known, not {section}.{key}"
                break
            if key not in pool:
                problem = f"{found.who} has no {section[:-1]} {key!r}"
                break
            try:
                total += sign * float(pool[key])
            except (TypeError, ValueError, OverflowError):
                problem = f"{section}.{key} = {show(pool[key])} is not a number"
                break
        if problem:
            return Check(text, None, None, False, problem)
        values.append(total)
    ok = _OPS[op](values[0], values[1])
    why = f"{values[0]:.6g} {op} {values[1]:.6g}" + ("" if ok else " does not hold")
    return Check(text, values[0], values[1], ok, why)


def _label(version: ModelVersion) -> str:
    aliases = f" ({', '.join(version.aliases)})" if version.aliases else ""
    return f"{version.name}/{version.version}{aliases}"
