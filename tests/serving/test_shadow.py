"""The shadow alias: a version that scores a copy of the live traffic, logged and never
returned, while the followed alias's version answers."""

from __future__ import annotations

import asyncio
from typing import Any

import pandas as pd
import pytest

import cairn
from cairn import registry
from cairn.serving import ModelSpec, ServerOptions, read_prediction_log
from tests.serving.test_server import Breakable, _forest, _frame, _metric, _records, client

SPECS = [ModelSpec("clf", "models:/clf@champion")]
OPTIONS = ServerOptions(swap_poll_s=0.05)


@pytest.fixture
def forests(quiet_capture: None) -> tuple[Any, Any]:
    """Two forests registered as ``clf`` versions 1 (champion) and 2 (shadow)."""
    first, second = _forest(), _forest(seed=7)
    x, _ = _frame()
    with cairn.run():
        cairn.log_model(first, "clf", input_example=x.head(3))
        cairn.log_model(second, "clf", input_example=x.head(3))
    registry.set_alias("clf", "champion", 1)
    registry.set_alias("clf", "shadow", 2)
    return first, second


async def _until_shadow(c: Any, label: str | None) -> None:
    """Wait until /readyz says the server shadows with ``label`` (None: with nothing)."""
    for _ in range(400):
        found = (await c.get("/readyz")).json()["models"]["clf"].get("shadow")
        if found == label:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"the server never shadowed with {label}")


def test_the_shadow_version_scores_a_copy_of_the_traffic(forests: tuple[Any, Any]) -> None:
    """Answers come from the champion unchanged; the log holds the shadow version's rows
    under the same request ids, and deleting the alias stops the shadowing."""
    first, second = forests
    x, _ = _frame()
    start = pd.Timestamp.now(tz="UTC")

    async def scenario() -> tuple[list[Any], str]:
        async with client(SPECS, OPTIONS) as c:
            await _until_shadow(c, "clf/2")
            answers = await asyncio.gather(
                *[
                    c.post(
                        "/predict",
                        json={"inputs": _records(x.iloc[i : i + 3])},
                        headers={"X-Request-ID": f"r{i}"},
                    )
                    for i in range(0, 60, 3)
                ]
            )
            for _ in range(200):  # the shadow's batches end after the answers
                metrics = (await c.get("/metrics")).text
                if _metric(metrics, 'cairn_shadow_rows_total{model="clf"}') >= 60:
                    break
                await asyncio.sleep(0.02)
            registry.delete_alias("clf", "shadow")
            await _until_shadow(c, None)
            after = await c.post("/predict", json={"inputs": _records(x.iloc[:2])})
            assert after.status_code == 200 and after.headers["X-Cairn-Model-Version"] == "clf/1"
        return answers, metrics

    answers, metrics = asyncio.run(scenario())
    for i, answer in zip(range(0, 60, 3), answers, strict=True):
        assert answer.status_code == 200 and answer.headers["X-Cairn-Model-Version"] == "clf/1"
        assert answer.json()["predictions"] == first.predict(x.iloc[i : i + 3]).tolist()
    assert _metric(metrics, 'cairn_shadow_rows_total{model="clf"}') == 60
    assert 'cairn_shadow_errors_total{model="clf"}' not in metrics
    log = read_prediction_log("clf", since=start.to_pydatetime())
    champion, shadow = log[log["_version"] == 1], log[log["_version"] == 2]
    assert len(champion) == 62 and len(shadow) == 60  # 2 rows answered after the deletion
    ids = {f"r{i}" for i in range(0, 60, 3)}
    assert set(shadow["_request_id"]) == ids
    assert not shadow["_fallback"].any()
    ordered = shadow.sort_values(["f0", "f1"])
    expected = x.head(60).assign(_prediction=second.predict(x.head(60))).sort_values(["f0", "f1"])
    assert ordered["_prediction"].tolist() == expected["_prediction"].tolist()


def test_a_failing_shadow_never_affects_an_answer(
    forests: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A shadow model that raises on every batch is counted; every request is answered by
    the champion as if there were no shadow."""
    first, _ = forests
    x, _ = _frame()
    with cairn.run():
        cairn.log_model(Breakable(), "clf", input_example=x.head(3))
    registry.set_alias("clf", "shadow", 3)
    monkeypatch.setattr(Breakable, "broken", True)

    async def scenario() -> tuple[list[Any], str]:
        async with client(SPECS, OPTIONS) as c:
            await _until_shadow(c, "clf/3")
            answers = [
                await c.post("/predict", json={"inputs": _records(x.iloc[i : i + 2])})
                for i in range(0, 40, 2)
            ]
            for _ in range(200):
                metrics = (await c.get("/metrics")).text
                if _metric(metrics, 'cairn_shadow_errors_total{model="clf"}') >= 1:
                    break
                await asyncio.sleep(0.02)
        return answers, metrics

    answers, metrics = asyncio.run(scenario())
    for i, answer in zip(range(0, 40, 2), answers, strict=True):
        assert answer.status_code == 200 and answer.headers["X-Cairn-Model-Version"] == "clf/1"
        body = answer.json()
        assert body["predictions"] == first.predict(x.iloc[i : i + 2]).tolist()
        assert not body["fallback"]
    assert _metric(metrics, 'cairn_shadow_errors_total{model="clf"}') >= 1
    assert 'cairn_shadow_rows_total{model="clf"}' not in metrics
    assert 'cairn_errors_total{model="clf"' not in metrics
