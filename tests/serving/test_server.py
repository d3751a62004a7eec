"""The model server, in-process through httpx's ASGI transport, and once under real uvicorn."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

import cairn
from cairn import registry
from cairn.serving import BatchOptions, ModelSpec, ServerOptions, create_app, read_prediction_log
from cairn.store import Store


def _frame(n: int = 300) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(1)
    x = pd.DataFrame({f"f{i}": rng.normal(size=n) for i in range(5)})
    return x, pd.Series((x["f0"] + x["f1"] > 0).astype(int))


def _forest(seed: int = 0) -> Any:
    from sklearn.ensemble import RandomForestClassifier

    x, y = _frame()
    return RandomForestClassifier(n_estimators=10, max_depth=4, random_state=seed).fit(x, y)


class Failing(cairn.PythonModel):
    """A model that always raises."""

    def predict(self, inputs: Any) -> Any:
        raise RuntimeError("broken on purpose")


class Slow(cairn.PythonModel):
    """A model slower than any sensible deadline."""

    def predict(self, inputs: Any) -> Any:
        time.sleep(0.5)
        return np.zeros(len(inputs))


class Picky(cairn.PythonModel):
    """Doubles x, and refuses negative values (and text, quoting it)."""

    def predict(self, inputs: Any) -> Any:
        values = inputs["x"].astype(float)
        if (values < 0).any():
            raise ValueError("x must not be negative")
        return (values * 2).to_numpy()


class Constant(cairn.PythonModel):
    """The fallback: answers -1 for every row."""

    def predict(self, inputs: Any) -> Any:
        return np.full(len(inputs), -1)


@pytest.fixture
def forest(quiet_capture: None) -> Any:
    """A forest registered as ``clf`` version 1, alias champion."""
    model = _forest()
    x, _ = _frame()
    with cairn.run():
        cairn.log_model(model, "clf", input_example=x.head(3))
    registry.set_alias("clf", "champion", 1)
    return model


@asynccontextmanager
async def client(
    specs: list[ModelSpec], options: ServerOptions | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """The app started (lifespan) and a client talking to it in-process."""
    app = create_app(specs, options)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://cairn") as c:
            c.app = app  # type: ignore[attr-defined]
            yield c


def _records(x: pd.DataFrame) -> list[dict[str, Any]]:
    return list(x.to_dict(orient="records"))


def test_concurrent_requests_are_batched_and_each_gets_its_own_rows(forest: Any) -> None:
    """Many concurrent one-row requests share predict calls; each gets its own row's answer."""
    x, _ = _frame()
    expected = forest.predict(x)

    async def scenario() -> None:
        async with client([ModelSpec("clf", "models:/clf@champion")]) as c:
            answers = await asyncio.gather(
                *[c.post("/predict", json={"inputs": [row]}) for row in _records(x)]
            )
            multi = await c.post(
                "/v1/models/clf/predict",
                json={
                    "dataframe_split": {
                        "columns": list(x.columns),
                        "data": x.head(4).values.tolist(),
                    }
                },
            )
            metrics = (await c.get("/metrics")).text
        assert {a.status_code for a in answers} == {200}
        assert [a.json()["predictions"][0] for a in answers] == expected.tolist()
        assert answers[0].headers["X-Cairn-Model-Version"] == "clf/1"
        assert multi.json()["predictions"] == expected[:4].tolist()
        calls = next(
            float(line.split()[-1])
            for line in metrics.splitlines()
            if line.startswith('cairn_batch_rows_count{model="clf"}')
        )
        assert calls < len(x)  # batched: fewer predict calls than requests

    asyncio.run(scenario())


def test_probabilities_come_with_their_classes(forest: Any) -> None:
    """Asking for probabilities returns one row of class probabilities per input row."""
    x, _ = _frame()

    async def scenario() -> None:
        async with client([ModelSpec("clf", "models:/clf/1")]) as c:
            r = await c.post(
                "/predict", json={"inputs": _records(x.head(2)), "probabilities": True}
            )
        body = r.json()
        assert body["classes"] == [0, 1]
        assert np.allclose(body["probabilities"], forest.predict_proba(x.head(2)))

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b"{not json", 400, "not valid JSON"),
        (b"[1, 2]", 422, "JSON object"),
        (b'{"rows": []}', 422, '"inputs"'),
        (b'{"inputs": []}', 422, "inputs is empty"),
        (b'{"inputs": [{"f0": 1}]}', 422, "inputs[0].f1: missing"),
        (
            b'{"inputs": [{"f0": "a", "f1": 1, "f2": 1, "f3": 1, "f4": true}]}',
            422,
            "expected a number",
        ),
        (b'{"inputs": [' + b",".join([b'{"f0": 1}'] * 3000) + b"]}", 413, "limit"),
    ],
)
def test_bad_requests_get_a_4xx_with_a_message(
    forest: Any, body: bytes, status: int, message: str
) -> None:
    """Malformed JSON, wrong shapes and types, empty and oversized inputs: 4xx, never 500."""

    async def scenario() -> httpx.Response:
        options = ServerOptions(max_body_bytes=20_000)
        async with client([ModelSpec("clf", "models:/clf/1")], options) as c:
            return await c.post("/predict", content=body)

    answer = asyncio.run(scenario())
    assert answer.status_code == status
    assert message in answer.json()["error"]


def test_a_bad_row_fails_only_its_own_request(store: Store, quiet_capture: None) -> None:
    """Rows the model refuses get a 422 with its reason, never the fallback; the requests
    batched with them are answered by the model in a few extra predict calls."""
    with cairn.run():
        cairn.log_model(Picky(), "picky", input_example=pd.DataFrame({"x": [1.0]}))
        cairn.log_model(Constant(), "constant", input_example=pd.DataFrame({"x": [1.0]}))

    async def scenario() -> None:
        spec = ModelSpec("picky", "models:/picky/1", "models:/constant/1")
        async with client([spec]) as c:
            rows = [{"x": float(i)} for i in range(64)]
            rows[17] = rows[40] = {"x": -1.0}
            answers = await asyncio.gather(
                *[c.post("/predict", json={"inputs": [row]}) for row in rows]
            )
            metrics = (await c.get("/metrics")).text
        assert [a.status_code for a in answers] == [
            422 if i in (17, 40) else 200 for i in range(64)
        ]
        refused = answers[17].json()
        assert "x must not be negative" in refused["error"] and "picky/1" in refused["error"]
        assert [a.json()["predictions"][0] for a in answers if a.status_code == 200] == [
            2 * i for i in range(64) if i not in (17, 40)
        ]
        assert not any(a.json()["fallback"] for a in answers if a.status_code == 200)
        assert "cairn_fallback_rows_total{" not in metrics
        assert 'cairn_errors_total{kind="refused",model="picky"} 2.0' in metrics
        calls = _metric(metrics, 'cairn_batch_rows_count{model="picky"}')
        assert calls <= 40  # bisected: not every request scored again on its own

    asyncio.run(scenario())


def _metric(text: str, prefix: str) -> float:
    return next(float(line.split()[-1]) for line in text.splitlines() if line.startswith(prefix))


class Wide(cairn.PythonModel):
    """Sums its columns (or the values of each array row)."""

    def predict(self, inputs: Any) -> Any:
        return np.asarray(inputs, dtype=np.float64).sum(axis=1)


def test_values_outside_the_signature_dtype_range_are_refused_at_parsing(
    quiet_capture: None,
) -> None:
    """A finite number a column's dtype cannot hold (1e300 as float32, 40,000 as int16) is a
    422 naming the field and the range, before the model sees it; values in range pass."""
    example = pd.DataFrame(
        {"x": np.array([1.0], dtype=np.float32), "n": np.array([1], dtype=np.int16)}
    )
    with cairn.run():
        cairn.log_model(Wide(), "wide", input_example=example)
        cairn.log_model(Wide(), "tensor", input_example=np.zeros((1, 2), dtype=np.float32))

    async def scenario() -> None:
        specs = [ModelSpec("wide", "models:/wide/1"), ModelSpec("tensor", "models:/tensor/1")]
        async with client(specs) as c:
            url = "/v1/models/wide/predict"
            huge = await c.post(url, json={"inputs": [{"x": 1e300, "n": 1}]})
            wide_int = await c.post(url, json={"inputs": [{"x": 1.0, "n": 40_000}]})
            big_int = await c.post(url, json={"inputs": [{"x": 1.0, "n": 1e23}]})
            fits = await c.post(url, json={"inputs": [{"x": -3e38, "n": -32_768}]})
            array = await c.post("/v1/models/tensor/predict", json={"inputs": [[1.0, -1e39]]})
        assert huge.status_code == 422
        assert "inputs[0].x: 1e+300 is outside the range of float32" in huge.json()["error"]
        assert "3.4028235e+38" in huge.json()["error"]
        assert wide_int.status_code == 422
        assert (
            "inputs[0].n: 40000 is outside the range of int16 (-32768 to 32767)"
            in (wide_int.json()["error"])
        )
        assert big_int.status_code == 422 and "int16" in big_int.json()["error"]
        assert fits.status_code == 200
        assert fits.json()["predictions"] == [pytest.approx(-3e38 - 32_768, rel=1e-6)]
        assert array.status_code == 422 and "inputs[0]: -1e+39" in array.json()["error"]

    asyncio.run(scenario())


class Breakable(cairn.PythonModel):
    """Answers 0 until ``broken`` is set (on the class), then raises for every input."""

    broken = False

    def predict(self, inputs: Any) -> Any:
        if Breakable.broken:
            raise RuntimeError("broken on purpose")
        return np.zeros(len(inputs))


def test_a_model_failing_every_input_is_the_servers_fault(
    quiet_capture: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A model that fails even on its own input example sends every request of the batch to
    the fallback (or 503 without one), never a 422."""
    example = pd.DataFrame({"x": [1.0]})
    with cairn.run():
        cairn.log_model(Breakable(), "failing", input_example=example)
        cairn.log_model(Constant(), "constant", input_example=example)
    monkeypatch.setattr(Breakable, "broken", True)

    async def scenario() -> None:
        specs = [
            ModelSpec("failing", "models:/failing/1", "models:/constant/1"),
            ModelSpec("bare", "models:/failing/1"),
        ]
        async with client(specs) as c:
            answered = await asyncio.gather(
                *[
                    c.post("/v1/models/failing/predict", json={"inputs": [{"x": float(i)}]})
                    for i in range(20)
                ]
            )
            unanswered = await asyncio.gather(
                *[c.post("/v1/models/bare/predict", json={"inputs": [{"x": 1.0}]})] * 3
            )
            metrics = (await c.get("/metrics")).text
        assert {a.status_code for a in answered} == {200}
        assert all(a.json()["fallback"] and a.json()["predictions"] == [-1] for a in answered)
        assert {a.status_code for a in unanswered} == {503}
        assert "broken on purpose" in unanswered[0].json()["error"]
        assert 'cairn_fallback_rows_total{model="failing",reason="error"} 20.0' in metrics
        assert _metric(metrics, 'cairn_batch_rows_count{model="failing"}') <= 3

    asyncio.run(scenario())


def test_a_model_without_a_signature_warns_and_its_errors_are_422(
    store: Store, quiet_capture: None, caplog: pytest.LogCaptureFixture
) -> None:
    """Serving a model without a signature warns that its inputs are unchecked and how to add
    a signature; what it raises on a request's own rows is then a 422, not a 503, and never
    echoes the request's text back."""
    with cairn.run():
        cairn.log_model(Picky(), "unsigned")

    async def scenario() -> None:
        async with client([ModelSpec("unsigned", "models:/unsigned/1")]) as c:
            good = await c.post("/predict", json={"inputs": [{"x": 2.0}]})
            bad = await c.post("/predict", json={"inputs": [{"x": -2.0}]})
            odd = await c.post("/predict", json={"inputs": [{"y": 1}]})
            secret = await c.post("/predict", json={"inputs": [{"x": "jane.doe@example.com"}]})
            after = await c.post("/predict", json={"inputs": [{"x": 3.0}]})
        assert good.status_code == 200 and good.json()["predictions"] == [4.0]
        assert bad.status_code == 422 and "x must not be negative" in bad.json()["error"]
        assert odd.status_code == 422 and "KeyError" in odd.json()["error"]
        assert secret.status_code == 422 and "jane.doe@example.com" not in secret.text
        assert "<text (20 characters)>" in secret.json()["error"]
        assert after.status_code == 200 and after.json()["predictions"] == [6.0]

    asyncio.run(scenario())
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any(
        "unsigned" in m and "no signature" in m and "not checked" in m and "input_example=" in m
        for m in warned
    ), warned


def test_the_fallback_answers_when_the_model_raises_or_is_late(quiet_capture: None) -> None:
    """A raising or slow primary is answered by the fallback, flagged and counted."""
    example = pd.DataFrame({"x": [1.0, 2.0]})
    with cairn.run():
        cairn.log_model(Failing(), "failing", input_example=None)
        cairn.log_model(Slow(), "slow", input_example=None)
        cairn.log_model(Constant(), "constant", input_example=example)

    async def scenario() -> None:
        specs = [
            ModelSpec("failing", "models:/failing/1", "models:/constant/1"),
            ModelSpec("slow", "models:/slow/1", "models:/constant/1", BatchOptions(timeout_ms=50)),
            ModelSpec("bare", "models:/failing/1"),
        ]
        async with client(specs) as c:
            raised = await c.post("/v1/models/failing/predict", json={"inputs": [{"x": 1.0}]})
            late = await c.post("/v1/models/slow/predict", json={"inputs": [{"x": 1.0}]})
            bare = await c.post("/v1/models/bare/predict", json={"inputs": [{"x": 1.0}]})
            metrics = (await c.get("/metrics")).text
        assert raised.status_code == 200 and raised.json()["predictions"] == [-1]
        assert (
            raised.json()["fallback"] is True
            and "broken on purpose" in raised.json()["fallback_reason"]
        )
        assert late.json()["fallback"] is True and late.json()["fallback_reason"].startswith(
            "the model missed"
        )
        assert bare.status_code == 503 and "no fallback" in bare.json()["error"]
        assert 'cairn_fallback_rows_total{model="failing",reason="error"} 1.0' in metrics
        assert 'cairn_fallback_rows_total{model="slow",reason="deadline"} 1.0' in metrics

    asyncio.run(scenario())


def test_load_is_shed_when_the_queue_is_full(quiet_capture: None) -> None:
    """Beyond max_queue_rows waiting rows, requests get 503 with Retry-After."""
    with cairn.run():
        cairn.log_model(Slow(), "slow")

    async def scenario() -> None:
        spec = ModelSpec("slow", "models:/slow/1", batching=BatchOptions(max_queue_rows=2))
        async with client([spec]) as c:
            answers = await asyncio.gather(
                *[c.post("/predict", json={"inputs": [{"x": 1.0}]}) for _ in range(8)]
            )
        shed = [a for a in answers if a.status_code == 503]
        assert shed and all(a.headers["Retry-After"] == "1" for a in shed)
        assert any(a.status_code == 200 for a in answers)

    asyncio.run(scenario())


def test_an_alias_move_is_swapped_in_without_a_failed_request(forest: Any) -> None:
    """Moving champion mid-stream switches the server to the new version; nothing fails."""
    x, _ = _frame()
    with cairn.run():
        cairn.log_model(_forest(seed=7), "clf", input_example=x.head(3))

    async def scenario() -> None:
        options = ServerOptions(swap_poll_s=0.05)
        async with client([ModelSpec("clf", "models:/clf@champion")], options) as c:
            seen: list[str] = []
            statuses: list[int] = []
            moved = False
            for i in range(400):
                r = await c.post("/predict", json={"inputs": _records(x.iloc[[i % len(x)]])})
                statuses.append(r.status_code)
                seen.append(r.headers["X-Cairn-Model-Version"])
                if i == 20 and not moved:
                    registry.set_alias("clf", "champion", 2)
                    moved = True
                if seen[-1] == "clf/2" and i > 40:
                    break
                await asyncio.sleep(0.005)
            ready = (await c.get("/readyz")).json()
        assert set(statuses) == {200}
        assert seen[0] == "clf/1" and seen[-1] == "clf/2"
        assert ready["models"]["clf"]["version"] == 2

    asyncio.run(scenario())


def test_the_prediction_log_holds_every_row_after_a_graceful_stop(forest: Any) -> None:
    """Every answered row is in the log, with its prediction, version and request id."""
    x, _ = _frame()
    start = pd.Timestamp.now(tz="UTC")

    async def scenario() -> list[str]:
        async with client([ModelSpec("clf", "models:/clf@champion")]) as c:
            answers = await asyncio.gather(
                *[
                    c.post(
                        "/predict",
                        json={"inputs": _records(x.iloc[i : i + 3])},
                        headers={"X-Request-ID": f"r{i}"},
                    )
                    for i in range(0, 90, 3)
                ]
            )
        return [a.headers["X-Request-ID"] for a in answers]

    ids = asyncio.run(scenario())
    log = read_prediction_log("clf", since=start.to_pydatetime())
    assert len(log) == 90 and set(log["_request_id"]) == set(ids)
    assert (log["_version"] == 1).all() and not log["_fallback"].any()
    merged = log.sort_values(["f0", "f1"]).reset_index(drop=True)
    direct = x.head(90).assign(_prediction=forest.predict(x.head(90))).sort_values(["f0", "f1"])
    assert merged["_prediction"].tolist() == direct["_prediction"].tolist()
    assert read_prediction_log("clf", until=start.to_pydatetime() - pd.Timedelta("1h")).empty


def test_several_models_and_docs(forest: Any) -> None:
    """Several models share one server; /docs and the OpenAPI schema show each model's inputs."""

    async def scenario() -> None:
        specs = [ModelSpec("a", "models:/clf/1"), ModelSpec("b", "models:/clf@champion")]
        async with client(specs) as c:
            schema = (await c.get("/openapi.json")).json()
            docs = await c.get("/docs")
            only = await c.post("/predict", json={"inputs": [{"f0": 1}]})
            unknown = await c.post("/v1/models/zzz/predict", json={"inputs": [{}]})
        body = schema["paths"]["/v1/models/a/predict"]["post"]["requestBody"]
        row = body["content"]["application/json"]["schema"]["properties"]["inputs"]["items"]
        assert row["required"] == ["f0", "f1", "f2", "f3", "f4"]
        assert docs.status_code == 200
        assert only.status_code == 404  # /predict exists only when one model is served
        assert unknown.status_code == 404

    asyncio.run(scenario())


def test_fastapi_answers_the_same_as_the_direct_path(forest: Any) -> None:
    """The prediction routes FastAPI documents answer like the direct path that serves them
    (for an app mounted elsewhere), and both honour a mount's root path, request ids and the
    body limit, however the body arrives."""
    x, _ = _frame()
    body = {"inputs": _records(x.head(3))}

    async def scenario() -> None:
        options = ServerOptions(max_body_bytes=2_000)
        async with client([ModelSpec("clf", "models:/clf/1")], options) as c:
            direct = await c.post("/predict", json=body, headers={"X-Request-ID": "abc"})
            api = httpx.AsyncClient(
                transport=httpx.ASGITransport(app=c.app.api), base_url="http://cairn"
            )
            async with api:
                via_fastapi = await api.post("/v1/models/clf/predict", json=body)
            mounted = httpx.AsyncClient(
                transport=httpx.ASGITransport(app=c.app, root_path="/ml"), base_url="http://cairn"
            )
            async with mounted:
                under_root = await mounted.post("/ml/predict", json=body)

            async def chunks() -> AsyncIterator[bytes]:  # no content-length: read in parts
                for _ in range(40):
                    yield b" " * 100

            streamed = await c.post("/predict", content=chunks())
            plain = await c.post("/predict", json=body)
        assert direct.json()["predictions"] == forest.predict(x.head(3)).tolist()
        assert direct.headers["X-Request-ID"] == "abc"
        assert via_fastapi.json()["predictions"] == direct.json()["predictions"]
        assert under_root.json()["predictions"] == direct.json()["predictions"]
        assert streamed.status_code == 413 and "limit" in streamed.json()["error"]
        assert len({plain.headers["X-Request-ID"], via_fastapi.headers["X-Request-ID"]}) == 2

    asyncio.run(scenario())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_cairn_serve_under_uvicorn(forest: Any, project: Path) -> None:
    """`cairn serve` answers on 127.0.0.1, reports ready, warns on stderr about a model served
    without a signature, and stops cleanly on SIGINT."""
    import os
    import signal

    with cairn.run():
        cairn.log_model(_forest(), "bare")  # no input example: no signature
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAIRN_")}
    env["CAIRN_HOME"] = str(project / ".cairn")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cairn.cli.main",
            "serve",
            "models:/clf@champion",
            "--model",
            "bare=models:/bare/1",
            "--port",
            str(port),
        ],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        ready = None
        while time.monotonic() < deadline:
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1)
                if ready.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        assert ready is not None and ready.status_code == 200, proc.stderr
        x, _ = _frame()
        r = httpx.post(
            f"http://127.0.0.1:{port}/v1/models/clf/predict", json={"inputs": _records(x.head(2))}
        )
        assert r.json()["predictions"] == forest.predict(x.head(2)).tolist()
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "bare (models:/bare/1) has no signature" in err and "input_example=" in err
    assert "no signature" not in out
    assert len(read_prediction_log("clf")) == 2  # flushed on the graceful stop


def test_a_suite_checks_every_requests_rows(forest: Any) -> None:
    """With a suite, rows that fail one of its error expectations get a 422 naming it."""
    x, _ = _frame()
    suite = cairn.validation.profile(x, "features")
    cairn.validation.save_suite(suite)

    async def scenario() -> None:
        spec = ModelSpec("clf", "models:/clf/1", suite="features")
        async with client([spec]) as c:
            good = await c.post("/predict", json={"inputs": _records(x.head(1))})
            odd = dict(_records(x.head(1))[0], f0=1e6)
            bad = await c.post("/predict", json={"inputs": [odd]})
        assert good.status_code == 200  # one row: the suite's row count does not apply
        assert bad.status_code == 422 and "f0 in [" in bad.json()["error"]

    asyncio.run(scenario())


def test_refused_rows_barely_slow_valid_traffic(forest: Any) -> None:
    """Valid requests answered in a fixed window while 30 requests a second carry a row the
    model refuses (f0 = 1e300 fits the float64 signature but overflows float32 inside
    scikit-learn) stay at >= 80 % of those answered without them (in one of 4 tries: the
    machine is shared)."""
    x, _ = _frame()
    valid = [_json({"inputs": _records(x.iloc[[i]])}) for i in range(50)]
    refused = _json({"inputs": [dict(_records(x.head(1))[0], f0=1e300)]})

    async def window(c: httpx.AsyncClient, seconds: float, bad_per_s: float) -> int:
        """Valid requests answered by 32 clients in ``seconds``, with refused ones sent on a
        schedule beside them."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        end = start + seconds
        answered = 0
        statuses: list[int] = []

        async def client_loop(k: int) -> None:
            nonlocal answered
            while loop.time() < end:
                r = await c.post("/predict", content=valid[k % len(valid)])
                assert r.status_code == 200, r.text
                answered += 1
                k += 1

        async def refuse_one() -> None:
            r = await c.post("/predict", content=refused)
            statuses.append(r.status_code)

        async def refusals() -> None:
            sent: list[asyncio.Task[None]] = []
            while bad_per_s and loop.time() < end:  # on a schedule, however late the loop
                while len(sent) < (loop.time() - start) * bad_per_s:
                    sent.append(asyncio.create_task(refuse_one()))
                await asyncio.sleep(1 / bad_per_s)
            await asyncio.gather(*sent)

        await asyncio.gather(refusals(), *[client_loop(k) for k in range(32)])
        assert set(statuses) <= {422}
        if seconds >= 1:  # the warm-up's first calls may hold the loop for a while
            assert len(statuses) >= 0.8 * bad_per_s * seconds
        return answered

    async def scenario() -> list[tuple[int, int]]:
        tries: list[tuple[int, int]] = []
        async with client([ModelSpec("clf", "models:/clf/1")]) as c:
            await window(c, 0.5, 30)  # warm-up
            while len(tries) < 4:
                tries.append((await window(c, 1.0, 0), await window(c, 1.0, 30)))
                if tries[-1][1] >= 0.8 * tries[-1][0]:
                    break
        return tries

    tries = asyncio.run(scenario())
    assert any(dirty >= 0.8 * clean for clean, dirty in tries), tries


def test_a_model_that_refuses_numbers_beyond_float32_has_them_refused_at_parsing(
    store: Store, forest: Any
) -> None:
    """Once the model refused a number beyond float32's range, and provably for that number
    (the same rows just inside the range are answered), later such requests are refused as
    they are read, naming the field; a model that takes such numbers still answers them."""
    x, _ = _frame()
    row = dict(_records(x.head(1))[0], f0=1e300)
    with cairn.run():
        cairn.log_model(Wide(), "wide", input_example=x.head(2))

    async def scenario() -> None:
        specs = [ModelSpec("clf", "models:/clf/1"), ModelSpec("wide", "models:/wide/1")]
        async with client(specs) as c:
            first = await c.post("/v1/models/clf/predict", json={"inputs": [row]})
            calls = _metric((await c.get("/metrics")).text, 'cairn_batch_rows_count{model="clf"}')
            later = await c.post("/v1/models/clf/predict", json={"inputs": [row, row]})
            metrics = (await c.get("/metrics")).text
            valid = await c.post("/v1/models/clf/predict", json={"inputs": _records(x.head(2))})
            wide = await c.post("/v1/models/wide/predict", json={"inputs": [row]})
        assert first.status_code == 422
        assert "the model clf/1 cannot score this request's rows" in first.json()["error"]
        assert later.status_code == 422
        assert later.json()["problems"][1].startswith(
            "inputs[1].f0: 1e+300 is beyond float32's range"
        )
        assert "which the model clf/1 cannot score" in later.json()["error"]
        assert _metric(metrics, 'cairn_batch_rows_count{model="clf"}') == calls
        assert valid.status_code == 200
        assert wide.status_code == 200 and wide.json()["predictions"] == [pytest.approx(1e300)]

    asyncio.run(scenario())


def _json(payload: Any) -> bytes:
    import orjson

    return orjson.dumps(payload)
