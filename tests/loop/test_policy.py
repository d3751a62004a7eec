"""Retraining policies: everything a policy names is checked when it is set (a clear error,
never a traceback), a policy set again replaces the first, and only triggers that come after a
policy start a retraining."""

from __future__ import annotations

from typing import Any

import pytest

from cairn import loop
from cairn.core.errors import CairnError, InvalidInputError, NotFoundError
from cairn.core.settings import configure
from tests.loop.conftest import MODEL, POLICY, Wine, shifted

BASE: dict[str, Any] = POLICY
RULES = [
    {"name": "wine-drift", "model": MODEL, "when": "drift_share > 0.3"},
    {"name": "other-drift", "model": "other", "when": "drift_share > 0.3"},
    {"name": "any-drift", "model": "*", "when": "drift_share"},
]


def _rules() -> None:
    configure(monitoring={"alerts": RULES})


# (label, changes to BASE, error class, words the message must hold)
REFUSED: list[tuple[str, dict[str, Any], type[CairnError], list[str]]] = [
    ("pipeline-missing", {"pipeline": "winepipe:nope"}, CairnError, ["nope"]),
    ("module-missing", {"pipeline": "nomodule:training"}, CairnError, ["nomodule"]),
    ("module-fails", {"pipeline": "brokenpipe:training"}, InvalidInputError,
     ["brokenpipe", "RuntimeError", "import"]),
    ("pipeline-not-target", {"pipeline": "winepipe"}, InvalidInputError, ["MODULE:PIPELINE"]),
    ("param-undeclared", {"params": {"dataset": "{dataset_version}", "lr": "0.1"}},
     InvalidInputError, ["no param 'lr'"]),
    ("alert-unknown", {"on_alerts": ["nope-drift"]}, NotFoundError,
     ["no alert rule named 'nope-drift'", "wine-drift", "cairn.yaml"]),
    ("alert-none-configured", {"on_alerts": ["wine-drift"], "monitor_window": None},
     NotFoundError, ["none configured"]),
    ("alert-other-model", {"on_alerts": ["other-drift"]}, InvalidInputError,
     ["other-drift", "not model wine"]),
    ("dataset-missing", {"dataset": "nope"}, NotFoundError, ["dataset (the data", "'nope'"]),
    ("on-data-missing", {"on_data": ["nope"]}, NotFoundError, ["nope"]),
    ("holdout-missing", {"holdout": "nope"}, NotFoundError, ["holdout", "'nope'"]),
    ("suite-missing", {"suite": "nope"}, NotFoundError, ["nope"]),
    ("suite-without-dataset", {"dataset": None, "params": {}}, InvalidInputError,
     ["suite 'wine'", "--dataset"]),
    ("rule-unparsable", {"require": "accuracy >>= 1"}, InvalidInputError, ["accuracy >>= 1"]),
    ("rule-auc", {"require": "auc >= champion.auc"}, InvalidInputError,
     ["'auc'", "roc_auc"]),
    ("rule-other-alias", {"require": "accuracy >= staging.accuracy"}, InvalidInputError,
     ["staging.accuracy", "champion.accuracy"]),
    ("rule-params", {"require": "params.C >= 1"}, InvalidInputError, ["params.C"]),
    ("placeholder-unknown", {"params": {"dataset": "{datset_version}"}}, InvalidInputError,
     ["{datset_version}", "{dataset_version}"]),
    ("dataset-version-without-dataset", {"dataset": None, "suite": None}, InvalidInputError,
     ["{dataset_version}", "--dataset"]),
    ("window-placeholder-without-window",
     {"params": {"dataset": "{dataset_version}", "C": "{window_start}"}}, InvalidInputError,
     ["window"]),
    ("window-bad", {"window": "30 days"}, InvalidInputError, ["window", "30d"]),
    ("window-zero", {"window": "0d"}, InvalidInputError, ["window"]),
    ("window-huge", {"window": "9999999d"}, InvalidInputError, ["window"]),
    ("window-centuries", {"window": "999999w"}, InvalidInputError, ["100 years"]),
    ("cron-bad", {"cron": "every monday"}, InvalidInputError, ["cron", "five fields"]),
    ("no-trigger", {"on_data": []}, InvalidInputError, ["at least one trigger"]),
    ("on-busy-bad", {"on_busy": "wait"}, InvalidInputError, ["on_busy", "'wait'"]),
    ("alias-is-challenger", {"alias": "challenger"}, InvalidInputError, ["two aliases"]),
    ("alias-bad", {"alias": "latest"}, InvalidInputError, ["alias"]),
    ("monitor-without-alerts", {"monitor_window": "1h"}, InvalidInputError,
     ["monitor_window", "--on-alert"]),
    ("monitor-window-bad", {"on_alerts": ["wine-drift"], "monitor_window": "soon"},
     CairnError, ["soon"]),
    ("monitor-every-zero", {"monitor_every_s": 0}, InvalidInputError, ["monitor_every_s"]),
    ("executor-bad", {"executor": "threads"}, InvalidInputError, ["executor 'threads'"]),
    ("target-empty", {"target": ""}, InvalidInputError, ["target"]),
    ("target-missing", {"target": "taget"}, InvalidInputError,
     ["wine-holdout has no column 'taget'", "alcohol", "--target"]),
    ("field-unknown", {"pipelin": "winepipe:training"}, InvalidInputError,
     ["pipelin", "pipeline"]),
    ("field-root", {"root": "/"}, InvalidInputError, ["root"]),
]  # fmt: skip


def test_each_bad_policy_is_refused_when_set_with_a_clear_message(wine: Wine) -> None:
    """Every wrong name, rule, placeholder, window, cron or switch is refused at set time
    with a CairnError saying what is wrong, and nothing is stored."""
    (wine.root / "brokenpipe.py").write_text("raise RuntimeError('half written')\n")
    problems = []
    for label, changes, error, words in REFUSED:
        if label == "alert-none-configured":
            configure(monitoring={"alerts": []})
        else:
            _rules()
        fields = {**BASE, **changes}
        try:
            loop.set_policy(MODEL, **fields)
        except CairnError as exc:
            message = str(exc)
            if not isinstance(exc, error):
                problems.append(f"{label}: {type(exc).__name__}, not {error.__name__}: {exc}")
            missing = [w for w in words if w not in message]
            if missing:
                problems.append(f"{label}: message lacks {missing}: {message}")
            if "Traceback" in message:
                problems.append(f"{label}: a traceback in the message")
        except Exception as exc:  # the defect this test exists for
            problems.append(f"{label}: foreign {type(exc).__name__}: {exc}")
        else:
            problems.append(f"{label}: accepted")
    assert not problems, "\n".join(problems)
    assert loop.list_policies() == []


def test_unknown_model_is_refused(wine: Wine) -> None:
    """A policy for a model never registered says so."""
    with pytest.raises(NotFoundError, match="nope"):
        loop.set_policy("nope", **BASE)
    with pytest.raises(NotFoundError, match="no retraining policy"):
        loop.get_policy(MODEL)
    with pytest.raises(NotFoundError, match="no retraining policy"):
        loop.remove_policy(MODEL)


def test_policy_is_set_replaced_listed_and_removed(wine: Wine) -> None:
    """A policy set twice keeps the second; get, list and remove see it."""
    _rules()
    first = loop.set_policy(MODEL, **BASE)
    assert first.policy.on_data == ["wine"] and first.enabled and first.next_due_ms is None
    assert first.policy.triggers == ["data wine"]
    second = loop.set_policy(
        MODEL,
        **(BASE | {"on_alerts": ["wine-drift", "any-drift"], "cron": "0 3 * * 1",
                   "on_busy": "drop"}),
    )  # fmt: skip
    assert second.created_ms == first.created_ms and second.updated_ms >= first.updated_ms
    assert second.policy.triggers == [
        "alert wine-drift", "alert any-drift", "data wine", "cron 0 3 * * 1"
    ]  # fmt: skip
    assert second.next_due_ms is not None
    assert loop.get_policy(MODEL) == second
    assert [p.policy.model for p in loop.list_policies()] == [MODEL]
    assert loop.get_policy(MODEL).policy.on_busy == "drop"
    assert loop.remove_policy(MODEL) == second
    assert loop.list_policies() == []
    with pytest.raises(NotFoundError, match="no retraining policy"):
        loop.get_policy(MODEL)


def test_only_triggers_after_the_policy_start_a_retraining(wine: Wine) -> None:
    """A dataset version or an alert older than the policy starts nothing; a newer one does."""
    from tests.loop.test_runner import drift_alert

    _rules()
    wine.add_version(shifted(wine.train))  # before the policy
    drift_alert(version=1)
    loop.set_policy(MODEL, **(BASE | {"on_alerts": ["wine-drift"]}))
    retrainer = loop.Retrainer()
    try:
        retrainer.tick()
        assert loop.list_retrainings(MODEL) == []
        ref = wine.add_version(wine.train)
        retrainer.tick()
        [started] = loop.list_retrainings(MODEL)
        assert started.trigger == f"new version {ref}"
        assert started.evidence == {"dataset_version": ref}
    finally:
        retrainer.stop(30.0)


def test_a_scheduler_that_read_the_replaced_policy_queues_nothing_from_it(wine: Wine) -> None:
    """Setting a policy again makes a scheduler's read of the old one stale: its claim fails
    and the next read, of the new policy, decides."""
    from cairn.core.ids import now_ms
    from cairn.loop import _queries
    from cairn.store import get_store

    loop.set_policy(MODEL, **BASE)

    def row() -> Any:
        with get_store().db.read() as conn:
            return _queries.policy_row(conn, MODEL)

    old = row()
    wine.add_version(shifted(wine.train))
    loop.set_policy(MODEL, **(BASE | {"on_busy": "drop"}))  # after the version: not a trigger
    retrainer = loop.Retrainer()
    retrainer._queue_triggers(old, now_ms())
    assert loop.list_retrainings(MODEL) == []
    retrainer._queue_triggers(row(), now_ms())
    assert loop.list_retrainings(MODEL) == []
