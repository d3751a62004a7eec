"""What is monitored at a glance, and a model's quality windows over time."""

from __future__ import annotations

from typing import Any

import pytest

import cairn
from cairn import monitoring
from cairn.core.errors import NotFoundError
from cairn.monitoring import _queries
from cairn.registry import PythonModel
from cairn.store import Store, get_store

HOUR = 3_600_000
T0 = 1_780_000_000_000 - 1_780_000_000_000 % HOUR


class Half(PythonModel):
    """Predicts 0.5 for every row."""

    def predict(self, inputs: Any) -> Any:
        return [0.5] * len(inputs)


def _window(name: str, kind: str, start: int, verdict: str, version: int = 1) -> None:
    result: dict[str, Any] = (
        {"drifted_columns": ["age"] if verdict == "drift" else [], "columns": []}
        if kind == "drift"
        else {"task": "regression", "main": "r2", "metrics": {"r2": {"value": 0.8}}}
    )
    get_store().db.transact(
        lambda conn: _queries.save_window(
            conn,
            model=name,
            version=version,
            kind=kind,
            start_ms=start,
            end_ms=start + HOUR,
            rows=10,
            verdict=verdict,
            score=0.5,
            result=result,
            digest=None,
            now=start + HOUR,
        )
    )


def _alert(name: str, start: int) -> None:
    get_store().db.transact(
        lambda conn: _queries.insert_alert(
            conn,
            rule="r",
            subject=name,
            window_start_ms=start,
            window_end_ms=start + HOUR,
            message="m",
            evidence={},
            delivery="none",
            now=start + HOUR,
        )
    )


def test_monitored_models_say_their_newest_verdict_and_firing_alerts(
    quiet_capture: None, store: Store
) -> None:
    """Each model with windows is listed, most recently monitored first, with its versions,
    window counts, newest drift window, and its alerts (those of the newest window firing)."""
    assert monitoring.monitored_models() == []
    _window("churn", "drift", T0, "no drift")
    _window("churn", "drift", T0 + HOUR, "drift", version=2)
    _window("churn", "quality", T0, "ok")
    _alert("churn", T0)
    _alert("churn", T0 + HOUR)
    _window("fraud", "quality", T0 + 5 * HOUR, "ok")
    found = monitoring.monitored_models()
    assert [m.model for m in found] == ["fraud", "churn"]
    fraud, churn = found
    assert (fraud.latest, fraud.quality_windows, fraud.alerts, fraud.firing) == (None, 1, 0, 0)
    assert churn.versions == [1, 2] and (churn.drift_windows, churn.quality_windows) == (2, 1)
    assert churn.latest.verdict == "drift" and churn.latest.start_ms == T0 + HOUR
    assert (churn.alerts, churn.firing) == (2, 1)
    assert [m.model for m in monitoring.monitored_models(limit=1)] == ["fraud"]


def test_quality_history_reads_the_quality_windows_of_a_model(quiet_capture: None) -> None:
    """Only quality windows, oldest first (the newest ``limit``); an unknown model is not
    found."""
    with cairn.run():
        cairn.log_model(Half(), "churn")
    for i in range(3):
        _window("churn", "quality", T0 + i * HOUR, "ok")
    _window("churn", "drift", T0, "drift")
    assert [w.start_ms for w in monitoring.quality_history("churn")] == [
        T0, T0 + HOUR, T0 + 2 * HOUR,
    ]  # fmt: skip
    assert [w.kind for w in monitoring.quality_history("churn", limit=2)] == ["quality"] * 2
    assert monitoring.quality_history("churn/1", limit=1)[0].start_ms == T0 + 2 * HOUR
    with pytest.raises(NotFoundError):
        monitoring.quality_history("nothing")
