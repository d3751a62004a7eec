"""The shadow period: the challenger scores a copy of live traffic (alias ``shadow``) before
the decision; its figures join the challenger's scores, too few rows by the timeout refuse it,
and the alias is removed either way. Traffic is logged here as ``cairn serve`` logs it."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from cairn import loop, monitoring, registry
from cairn.core.errors import CairnError, InvalidInputError
from cairn.core.ids import now_ms
from cairn.loop.retrain import shadow_comparison
from tests.loop.conftest import MODEL, Wine, set_policy, until

SHADOW_RULE = "accuracy >= champion.accuracy and shadow_agreement >= 0.5"


def _policy(**changes: Any) -> Any:
    # a new C for each retraining: no step is served from the cache; no data gate
    fields = {"dataset": None, "suite": None, "params": {"C": "{retraining}"}}
    return set_policy(**(fields | changes))


def _log(
    version: int,
    frame: Any,
    ids: list[str],
    *,
    ts_ms: int | None = None,
    predictions: list[Any] | None = None,
) -> None:
    """Log ``frame``'s rows as answered by ``version`` of wine under request ids ``ids`` (its
    own predictions unless given), and seal the log."""
    from cairn.registry import load_model
    from cairn.serving.prediction_log import LoggedBatch, PredictionLog

    inputs = frame.drop(columns="target")
    if predictions is None:
        predictions = list(load_model(f"models:/{MODEL}/{version}").predict(inputs))
    log = PredictionLog(group_s=0)
    log.start()
    rows = inputs.to_dict("records")
    batch = LoggedBatch(
        MODEL, version, rows, predictions, ids, [False] * len(rows), ts_ms=ts_ms or now_ms()
    )
    assert log.append(batch)
    log.close()


# (changes to the policy, error class, words the message must hold)
REFUSED: list[tuple[dict[str, Any], type[CairnError], list[str]]] = [
    ({"shadow_rows": -1}, InvalidInputError, ["shadow_rows", "between 0"]),
    ({"shadow_rows": "many"}, InvalidInputError, ["shadow_rows", "integer"]),
    ({"shadow_rows": True}, InvalidInputError, ["shadow_rows", "boolean"]),
    ({"shadow_rows": 10**30}, InvalidInputError, ["shadow_rows", "out of range"]),
    ({"shadow_rows": 10, "shadow_timeout_s": float("nan")}, InvalidInputError, ["timeout"]),
    ({"shadow_rows": 10, "shadow_timeout_s": 0}, InvalidInputError, ["above 0"]),
    ({"shadow_rows": 10, "shadow_timeout_s": "\x00"}, InvalidInputError, ["timeout"]),
    ({"require": SHADOW_RULE}, InvalidInputError, ["shadow_agreement", "--shadow-rows"]),
    (
        {"shadow_rows": 10, "require": "champion.shadow_agreement >= 0.5"},
        InvalidInputError,
        ["challenger only"],
    ),
    ({"shadow_rows": 10, "require": "shadow_agreemnt >= 0.5"}, InvalidInputError, ["shadow"]),
]


@pytest.mark.parametrize(("changes", "error", "words"), REFUSED)
def test_a_bad_shadow_period_is_refused_when_set(
    wine: Wine, changes: dict[str, Any], error: type[CairnError], words: list[str]
) -> None:
    """Shadow fields that are not a count and a finite positive time, and rules naming shadow
    figures without a shadow period (or of the champion), are refused with a clear message."""
    with pytest.raises(error) as caught:
        _policy(**changes)
    for word in words:
        assert word in str(caught.value), (word, str(caught.value))


def test_a_shadow_period_with_too_few_rows_is_refused(wine: Wine) -> None:
    """No server shadows the challenger: by the timeout the retraining is refused saying how
    many rows it saw, the champion keeps serving and alias shadow is gone."""
    stored = _policy(shadow_rows=50, shadow_timeout_s=1.0, require=SHADOW_RULE)
    assert stored.policy.shadow_rows == 50 and stored.policy.shadow_timeout_s == 1.0
    queued = loop.request_retraining(MODEL, reason="shadow test")
    ended = loop.run_retraining(queued.id)
    assert ended.state == "refused", ended.summary()
    assert "saw 0 of the 50 rows" in (ended.reason or "")
    assert ended.scores is not None and ended.scores["shadow"]["rows_seen"] == 0
    model = registry.get_model(MODEL)
    assert "shadow" not in model.aliases and model.aliases["champion"] == 1
    moves = [m for m in registry.alias_history(MODEL) if m.alias == "shadow"]
    assert [m.to_version for m in moves] == [2, None]
    assert moves[0].reason == f"retraining #{ended.id}: shadow period"
    [alert] = monitoring.list_alerts(MODEL)
    assert alert.rule == "loop:refused" and alert.id == ended.result_alert_id
    assert any("shadow period" in line for line in loop.describe(ended))


def test_a_shadow_period_compares_both_versions_and_promotes(wine: Wine) -> None:
    """Traffic logged by both versions under the same request ids is compared row by row; the
    figures join the challenger's scores, the rule names them, and the alias is removed."""
    _policy(shadow_rows=40, shadow_timeout_s=120.0, require=SHADOW_RULE)
    queued = loop.request_retraining(MODEL, reason="shadow test")
    ended: list[loop.Retraining] = []
    worker = threading.Thread(target=lambda: ended.append(loop.run_retraining(queued.id)))
    worker.start()
    try:
        until(lambda: registry.get_model(MODEL).aliases.get("shadow") == 2, timeout=120)
        rows = wine.holdout.head(45)
        ids = [f"q{i // 3}" for i in range(len(rows))]  # three rows per request
        _log(1, rows, ids)
        _log(2, rows, ids)
    finally:
        worker.join(180)
    [done] = ended
    assert done.state == "promoted", done.summary()
    assert done.scores is not None
    ours = done.scores["challenger"]
    assert ours["shadow_rows"] == 45
    assert 0.0 <= ours["shadow_agreement"] <= 1.0
    assert "shadow" not in registry.get_model(MODEL).aliases
    assert registry.get_model(MODEL).aliases["champion"] == 2
    texts = [c["text"] for c in done.checks or []]
    assert any("shadow_agreement" in t for t in texts), texts
    shown = "\n".join(loop.describe(done))
    assert "shadow period: 45 rows compared with version 1, agreement" in shown, shown


def test_the_comparison_joins_rows_by_request_id(wine: Wine) -> None:
    """Rows are paired by request id and position; rows of other requests or versions, and
    rows logged before the period, are left out; the agreement is the share of equal
    predictions, and a regressor's figure is the mean absolute difference."""
    rows = wine.holdout.head(10)
    ids = [f"r{i // 2}" for i in range(10)]  # two rows per request
    _log(1, rows, [f"old{i}" for i in range(10)], ts_ms=now_ms() - 60_000)
    start = now_ms() - 1
    _log(1, rows, ids, predictions=[0, 1, 2, 0, 1, 2, 0, 1, 2, 0])
    # The shadow answered 6 of those rows (3 requests) and one more request; 2 rows differ.
    _log(2, rows.head(8), [*ids[:6], "x", "x"], predictions=[0, 1, 2, 2, 1, 0, 5, 5])
    found = shadow_comparison(MODEL, 1, 2, start, regression=False)
    assert found == {"shadow_rows": 6, "shadow_agreement": pytest.approx(4 / 6)}
    regressor = shadow_comparison(MODEL, 1, 2, start, regression=True)
    assert regressor == {"shadow_rows": 6, "shadow_mae": pytest.approx(4 / 6)}
    assert shadow_comparison(MODEL, 1, 7, start, regression=False) == {"shadow_rows": 0}
