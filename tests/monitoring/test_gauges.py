"""A server's ``/metrics`` exports its models' latest stored drift window as gauges."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

import cairn
from cairn.core.errors import InvalidInputError
from cairn.core.hookspecs import hookimpl
from cairn.core.plugins import plugin_manager
from cairn.monitoring import _queries
from cairn.serving import ModelSpec, ServerOptions, create_app
from cairn.store import Store, get_store

HOUR_MS = 3_600_000


def _frame(n: int = 400, shift: float = 0.0, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = pd.DataFrame({f"f{i}": rng.normal(size=n) for i in range(3)})
    x["f2"] += shift
    return x


@pytest.fixture
def churn(store: Store, quiet_capture: None) -> None:
    """A forest registered as ``churn`` version 1 (on each metadata store in turn)."""
    from sklearn.ensemble import RandomForestClassifier

    x = _frame()
    model = RandomForestClassifier(n_estimators=5, max_depth=3, random_state=0)
    model.fit(x, (x["f0"] > 0).astype(int))
    with cairn.run():
        cairn.log_model(model, "churn", input_example=x.head(3))


def _save_drift_window(start_ms: int, shift: float) -> dict[str, Any]:
    """Store a drift window of ``churn`` comparing training-like data with shifted data."""
    report = cairn.monitor.drift(_frame(), _frame(shift=shift, seed=2)).to_dict()

    def save(conn: Any) -> None:
        _queries.save_window(
            conn,
            model="churn",
            version=1,
            kind="drift",
            start_ms=start_ms,
            end_ms=start_ms + HOUR_MS,
            rows=400,
            verdict=report["verdict"],
            score=report["share"],
            result=report,
            digest=None,
            now=start_ms + HOUR_MS,
        )

    get_store().db.transact(save)
    return report


@asynccontextmanager
async def client(refresh_s: float = 30.0) -> AsyncIterator[httpx.AsyncClient]:
    """The app serving ``churn`` started, and a client talking to it in-process."""
    app = create_app(
        [ModelSpec("churn", "models:/churn/1")],
        ServerOptions(log_predictions=False, drift_refresh_s=refresh_s),
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://cairn") as c:
            yield c


def _value(text: str, sample: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(sample + " "):
            return float(line.rsplit(" ", 1)[1])
    return None


class _Plugin:
    """A third-party answer to the drift hook (it runs before monitoring's own)."""

    def __init__(self, behaviour: str) -> None:
        self.behaviour = behaviour

    @hookimpl
    def cairn_drift_gauges(self, model: str) -> dict[str, Any] | None:
        """Fail, answer slowly, or pass (None: monitoring answers), as the test asks."""
        if self.behaviour == "fail":
            raise RuntimeError("the store is down")
        if self.behaviour == "slow":
            time.sleep(3)
        return None


@pytest.fixture
def plugin() -> Iterator[_Plugin]:
    """A drift-hook plugin registered for the test (it passes monitoring's answer through)."""
    found = _Plugin("pass")
    manager = plugin_manager()
    manager.register(found, name="test-drift-gauges")
    try:
        yield found
    finally:
        manager.unregister(name="test-drift-gauges")


def test_metrics_show_the_latest_drift_window(churn: None) -> None:
    """The share, window start and each feature's effect and verdict of the newest window
    are gauges; a model without windows shows none."""
    _save_drift_window(10 * HOUR_MS, shift=0.0)
    report = _save_drift_window(11 * HOUR_MS, shift=1.5)
    assert report["drifted_columns"] == ["f2"]

    async def scenario() -> str:
        async with client() as c:
            response = await c.get("/metrics")
            assert response.status_code == 200
            return response.text

    text = asyncio.run(scenario())
    assert _value(text, 'cairn_drift_share{model="churn"}') == pytest.approx(report["share"])
    assert _value(text, 'cairn_drift_window_start_seconds{model="churn"}') == 11 * 3600
    assert _value(text, 'cairn_drift_window_version{model="churn"}') == 1
    assert _value(text, 'cairn_feature_drifted{feature="f2",model="churn"}') == 1.0
    assert _value(text, 'cairn_feature_drifted{feature="f0",model="churn"}') == 0.0
    effects = {c["column"]: c["effect"] for c in report["columns"]}
    shown = _value(text, 'cairn_feature_drift{feature="f2",model="churn"}')
    assert shown == pytest.approx(effects["f2"]) and shown > 1.0
    assert _value(text, 'cairn_drift_gauge_failures_total{model="churn"}') is None


def test_a_model_without_windows_has_no_drift_gauges(churn: None) -> None:
    """Before monitoring has run, /metrics answers without drift gauges."""

    async def scenario() -> str:
        async with client() as c:
            return (await c.get("/metrics")).text

    text = asyncio.run(scenario())
    assert "cairn_drift_share" not in text and "cairn_feature_drift" not in text


def test_a_failing_store_keeps_the_last_values_and_counts(
    churn: None, plugin: _Plugin, caplog: pytest.LogCaptureFixture
) -> None:
    """When reading the drift fails, /metrics still answers with the last values, counts
    each failure and logs it once."""
    _save_drift_window(11 * HOUR_MS, shift=1.5)

    async def scenario() -> list[str]:
        texts = []
        async with client(refresh_s=0.01) as c:
            plugin.behaviour = "pass"
            texts.append((await c.get("/metrics")).text)
            plugin.behaviour = "fail"
            for _ in range(2):
                await asyncio.sleep(0.02)
                response = await c.get("/metrics")
                assert response.status_code == 200
                texts.append(response.text)
        return texts

    first, _, last = asyncio.run(scenario())
    assert _value(first, 'cairn_feature_drifted{feature="f2",model="churn"}') == 1.0
    assert _value(last, 'cairn_feature_drifted{feature="f2",model="churn"}') == 1.0
    assert _value(last, 'cairn_drift_gauge_failures_total{model="churn"}') == 2.0
    warnings = [r for r in caplog.records if "latest drift" in r.getMessage()]
    assert len(warnings) == 1 and "the store is down" in warnings[0].getMessage()


def test_a_slow_store_never_holds_a_scrape(churn: None, plugin: _Plugin) -> None:
    """A drift read that takes seconds does not hold /metrics past its short wait."""
    plugin.behaviour = "slow"

    async def scenario() -> float:
        async with client() as c:
            started = time.perf_counter()
            response = await c.get("/metrics")
            assert response.status_code == 200
            return time.perf_counter() - started

    assert asyncio.run(scenario()) < 2.5


def test_drift_refresh_zero_shows_no_drift_and_a_bad_value_is_refused(churn: None) -> None:
    """drift_refresh_s=0 leaves the drift gauges out; a negative or non-number is refused."""
    _save_drift_window(11 * HOUR_MS, shift=1.5)

    async def scenario() -> str:
        async with client(refresh_s=0) as c:
            return (await c.get("/metrics")).text

    assert "cairn_drift_share" not in asyncio.run(scenario())
    for bad in (-1.0, float("nan"), "30", True):
        with pytest.raises(InvalidInputError, match="drift_refresh_s"):
            create_app(
                [ModelSpec("churn", "models:/churn/1")],
                ServerOptions(log_predictions=False, drift_refresh_s=bad),  # type: ignore[arg-type]
            )
