"""The promotion rule grammar's short forms, rules evaluated on plain metric values, the alias
move that commits with the caller's own record, rollback, and signature differences."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Connection, text

import cairn
from cairn import registry
from cairn.core.errors import InvalidInputError, PromotionRuleError
from cairn.core.settings import configure
from cairn.registry import Signature, infer_signature, signature_changes
from cairn.store import Store
from tests.server.conftest import ServerProcess, server_on  # noqa: F401  (a fixture)


def _versions(name: str = "churn", aucs: tuple[float, ...] = (0.8, 0.9)) -> None:
    """Log one tiny model per AUC, each in its own run logging ``auc`` and ``latency_p99_ms``."""
    from sklearn.dummy import DummyClassifier

    model = DummyClassifier().fit([[0], [1]], [0, 1])
    for auc in aucs:
        with cairn.run(params={"depth": 3}):
            cairn.log({"auc": auc, "latency_p99_ms": 40.0})
            cairn.log_model(model, name, input_example=[[0.0], [1.0]])


# -- grammar -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "references"),
    [
        ("auc >= 0.5", [(None, "metrics", "auc")]),
        ("champion.auc < 1", [("champion", "metrics", "auc")]),
        (
            "auc >= champion.auc - 0.005 and latency_p99_ms <= 50",
            [(None, "metrics", "auc"), ("champion", "metrics", "auc"),
             (None, "metrics", "latency_p99_ms")],
        ),
        ("metrics.auc >= champion.metrics.auc", [(None, "metrics", "auc"),
                                                  ("champion", "metrics", "auc")]),
        ("params.depth <= staging.params.depth", [(None, "params", "depth"),
                                                  ("staging", "params", "depth")]),
        ("champion.val.loss > val/loss", [("champion", "metrics", "val.loss"),
                                          (None, "metrics", "val/loss")]),
        ("android > 1 and band < 2", [(None, "metrics", "android"), (None, "metrics", "band")]),
        ("auc-0.01 > champion.auc", [(None, "metrics", "auc"), ("champion", "metrics", "auc")]),
        ("auc > 0.5 and auc < 1", [(None, "metrics", "auc")]),  # each reference once
    ],
)  # fmt: skip
def test_rule_references_name_each_operand(
    rule: str, references: list[tuple[str | None, str, str]]
) -> None:
    """Bare KEY and ALIAS.KEY mean metrics; the long forms keep their meaning; 'and' is a word."""
    assert registry.rule_references(rule) == references


@pytest.mark.parametrize(
    ("rule", "words"),
    [
        ("auc > 1 and", "exactly one of"),
        ("and > 1", "exactly one of"),
        ("auc > 1 or f1 > 2", "only 'and' joins"),
        ("metrics > 1", "write KEY or ALIAS.KEY"),
        ("champion.metrics > 1", "write KEY or ALIAS.KEY"),
        ("latest.auc > 1", "cannot be an alias"),
        ("auc >< 1", "cannot parse"),
        ("auc", "exactly one of"),
    ],
)
def test_bad_rules_are_refused_clearly(rule: str, words: str) -> None:
    """A rule that does not parse is a PromotionRuleError saying what to write."""
    with pytest.raises(PromotionRuleError, match=words):
        registry.parse_rule(rule)


# -- evaluate_rule -------------------------------------------------------------------------


def test_evaluate_rule_on_plain_metrics() -> None:
    """Each clause is checked on the values given; a missing side holds, a missing key fails."""
    rule = "auc >= champion.auc - 0.005 and latency_p99_ms <= 50"
    checks = registry.evaluate_rule(
        rule, {None: {"auc": 0.90, "latency_p99_ms": 60.0}, "champion": {"auc": 0.904}}
    )
    assert [c.ok for c in checks] == [True, False]
    assert checks[0].left == pytest.approx(0.90) and checks[0].right == pytest.approx(0.899)
    assert checks[1].why == "60 <= 50 does not hold"
    first = registry.evaluate_rule(
        rule, {None: {"auc": 0.5, "latency_p99_ms": 1}, "champion": None}
    )
    assert [c.ok for c in first] == [True, True]
    assert first[0].why == "no champion yet, nothing to beat"
    missing = registry.evaluate_rule(rule, {None: {"auc": 0.9}, "champion": {"f1": 1.0}})
    assert not missing[0].ok and missing[0].why == "champion has no metric 'auc'"
    assert not missing[1].ok and "the candidate has no metric 'latency_p99_ms'" in missing[1].why


@pytest.mark.parametrize(
    ("rule", "sides", "error", "words"),
    [
        ("params.depth > 1", {None: {}}, PromotionRuleError, "only metrics are known"),
        ("auc > champion.auc", {None: {"auc": 1.0}}, PromotionRuleError, "were not given"),
        ("auc > 1", {}, PromotionRuleError, "were not given"),
        ("auc > 1", {None: None}, InvalidInputError, "cannot be None"),
        ("auc > 1", {None: {"auc": "high"}}, InvalidInputError, "must be a number"),
        ("auc > 1", {None: {"auc": 10**400}}, InvalidInputError, "too large"),
        ("auc > 1", {None: {1: 1.0}}, InvalidInputError, "metric name"),
        ("auc > 1", {None: {}, "bad alias": None}, InvalidInputError, "cannot be an alias"),
        ("auc > 1", [("auc", 1.0)], InvalidInputError, "mapping"),
        ("auc > 1", {None: [1.0]}, InvalidInputError, "mapping"),
    ],
)
def test_evaluate_rule_refuses_what_it_cannot_judge(
    rule: str, sides: Any, error: type[Exception], words: str
) -> None:
    """Params, sides not given and values that are not metric numbers are clear errors."""
    with pytest.raises(error, match=words):
        registry.evaluate_rule(rule, sides)


def test_promote_reads_the_short_forms(quiet_capture: None) -> None:
    """promote evaluates the short grammar like the long one, through the same checks."""
    _versions(aucs=(0.80, 0.85))
    registry.set_alias("churn", "champion", 1)
    registry.set_alias("churn", "challenger", 2)
    refused = registry.promote("churn", require="auc >= champion.auc + 0.1")
    assert not refused.moved and "0.85 >= 0.9 does not hold" in refused.reason
    missing = registry.promote("churn", require="f1 > champion.auc")
    assert "the candidate (version 2) has no metric 'f1'" in missing.reason
    moved = registry.promote(
        "churn", require="auc >= champion.auc - 0.005 and latency_p99_ms <= 50 and depth == 3"
    )
    assert not moved.moved and "has no metric 'depth'" in moved.reason  # bare = metrics
    moved = registry.promote(
        "churn", require="auc >= champion.auc - 0.005 and latency_p99_ms <= 50"
    )
    assert moved.moved and [c.ok for c in moved.checks] == [True, True]
    assert registry.get_model("churn").aliases["champion"] == 2


# -- set_alias(also=...) -------------------------------------------------------------------


def test_also_commits_with_the_move_or_neither(quiet_capture: None, store: Store) -> None:
    """A failure in ``also`` leaves the alias where it was and no history event; a success
    sees the move in its transaction."""
    _versions()
    registry.set_alias("churn", "champion", 1)

    def fail(conn: Connection) -> None:
        raise RuntimeError("the caller's record could not be written")

    with pytest.raises(RuntimeError, match="record"):
        registry.set_alias("churn", "champion", 2, reason="better", also=fail)
    assert registry.get_model("churn").aliases == {"champion": 1}
    assert len(registry.alias_history("churn")) == 1

    seen: list[int] = []

    def record(conn: Connection) -> None:
        query = text("SELECT count(*) FROM model_alias_events")
        seen.append(int(conn.execute(query).scalar_one()))

    move = registry.set_alias("churn", "champion", 2, reason="better", also=record)
    assert (move.from_version, move.to_version) == (1, 2) and seen == [2]
    assert registry.get_model("churn").aliases == {"champion": 2}


def test_also_must_be_a_function(quiet_capture: None) -> None:
    """Something that is not callable is refused before anything moves."""
    _versions(aucs=(0.8,))
    with pytest.raises(InvalidInputError, match="also must be a function"):
        registry.set_alias("churn", "champion", 1, also="record")  # type: ignore[arg-type]
    assert registry.alias_history("churn") == []


# -- rollback_alias ------------------------------------------------------------------------


def test_rollback_moves_back_and_says_why(quiet_capture: None, store: Store) -> None:
    """rollback moves the alias to its previous version, recording ``rollback: <reason>``;
    a second rollback moves it forward again (the last move is undone)."""
    _versions(aucs=(0.8, 0.9, 0.95))
    registry.set_alias("churn", "champion", 1)
    registry.set_alias("churn", "champion", 3, reason="v3 wins")
    move = registry.rollback_alias("churn", reason="  v3 misbehaves  ")
    assert (move.alias, move.from_version, move.to_version) == ("champion", 3, 1)
    assert move.reason == "rollback: v3 misbehaves"
    last = registry.alias_history("churn")[-1]
    assert (last.from_version, last.to_version, last.reason) == (3, 1, "rollback: v3 misbehaves")
    assert registry.get_model("churn").aliases["champion"] == 1
    again = registry.rollback_alias("churn", "champion", reason="it was fine")
    assert (again.from_version, again.to_version) == (1, 3)


def test_rollback_refuses_clearly(quiet_capture: None, store: Store) -> None:
    """No reason, an alias never moved, a missing alias and a deleted previous version are
    refused, and nothing moves."""
    _versions(aucs=(0.8, 0.9, 0.95))
    registry.set_alias("churn", "champion", 1)
    with pytest.raises(InvalidInputError, match="reason is required"):
        registry.rollback_alias("churn", reason=" ")
    with pytest.raises(InvalidInputError, match="no earlier version"):
        registry.rollback_alias("churn", reason="r")
    with pytest.raises(InvalidInputError, match="no alias 'staging'"):
        registry.rollback_alias("churn", "staging", reason="r")
    registry.set_alias("churn", "staging", 2)
    registry.delete_alias("churn", "staging")
    with pytest.raises(InvalidInputError, match="no alias 'staging'"):
        registry.rollback_alias("churn", "staging", reason="r")
    registry.set_alias("churn", "champion", 2)
    registry.set_alias("churn", "challenger", 3)
    registry.set_alias("churn", "champion", 3)
    registry.delete_version("churn/2")
    with pytest.raises(InvalidInputError, match="version 2 of model 'churn' is deleted"):
        registry.rollback_alias("churn", reason="r")
    assert registry.get_model("churn").aliases == {"champion": 3, "challenger": 3}
    assert len(registry.alias_history("churn")) == 6


def test_rollback_and_also_in_client_mode(
    quiet_capture: None,
    store_url: str,
    server_on: Callable[..., ServerProcess],  # noqa: F811
) -> None:
    """Through a cairn server, rollback moves the alias back as it does on the store; set_alias
    with ``also`` is refused (its transaction is the server's) and moves nothing."""
    configure(store=store_url)
    _versions()
    registry.set_alias("churn", "champion", 1)
    registry.set_alias("churn", "champion", 2)
    server = server_on(store_url)
    configure(store=None, server=server.url, token=None)
    with pytest.raises(InvalidInputError, match="needs the team's store"):
        registry.set_alias("churn", "champion", 1, also=lambda conn: None)
    assert registry.get_model("churn").aliases == {"champion": 2}
    move = registry.rollback_alias("churn", reason="v2 misbehaves")
    assert (move.from_version, move.to_version) == (2, 1)
    assert registry.alias_history("churn")[-1].reason == "rollback: v2 misbehaves"
    with pytest.raises(InvalidInputError, match="no alias 'staging'"):
        registry.rollback_alias("churn", "staging", reason="r")


# -- signature_changes ---------------------------------------------------------------------


def test_signature_changes_name_each_difference() -> None:
    """Columns added, removed or retyped, array and output changes are sentences; the same
    signature (also read back from JSON) gives none."""
    a = infer_signature(pd.DataFrame({"age": [1], "income": [1.0]}), np.array([0]))
    b = infer_signature(pd.DataFrame({"age": [1.0], "city": ["x"]}), np.array([0.5]))
    assert signature_changes(a, b) == [
        "input column 'income' (float64) removed",
        "input column 'city' (string) added",
        "input column 'age' dtype changed: int64 -> float64",
        "output changed: int64 [-1] -> float64 [-1]",
    ]
    assert signature_changes(a, Signature.from_dict(a.to_dict())) == []
    tensor = infer_signature(np.zeros((2, 3)))
    assert signature_changes(a, tensor)[0].startswith("inputs changed from 2 columns")
    wider = infer_signature(np.zeros((2, 4), dtype="float32"))
    assert signature_changes(tensor, wider) == [
        "input array dtype changed: float64 -> float32",
        "input array shape changed: [-1, 3] -> [-1, 4]",
    ]
    assert signature_changes(None, None) == []
    assert signature_changes(None, a) == [
        "the signature was added: it takes 2 columns: age (int64), income (float64)"
    ]
    assert signature_changes(a, None) == [
        "the signature was removed (it took 2 columns: age (int64), income (float64))"
    ]
    with pytest.raises(InvalidInputError, match="Signature or None"):
        signature_changes(a.to_dict(), b)  # type: ignore[arg-type]
