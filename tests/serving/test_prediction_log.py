"""The prediction log: durable per batch, sealed into the store, never silently lossy."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

import cairn
from cairn.serving import ModelSpec, ServerOptions, create_app, read_prediction_log
from cairn.serving.prediction_log import LoggedBatch, PredictionLog
from cairn.store import Store, get_store
from cairn.store.db.schema import prediction_log_files


def _batch(n: int, version: int = 1, start: int = 0) -> LoggedBatch:
    rows = [{"x": float(i)} for i in range(start, start + n)]
    return LoggedBatch(
        "m",
        version,
        rows,
        [i * 2 for i in range(start, start + n)],
        [f"r{i}" for i in range(start, start + n)],
        [False] * n,
    )


def test_batches_are_sealed_into_the_store_on_close(project: Path) -> None:
    """Appended batches are readable, in order, once the log is closed."""
    log = PredictionLog()
    log.start()
    for i in range(5):
        assert log.append(_batch(10, start=i * 10))
    log.close()
    frame = read_prediction_log("m")
    assert frame["x"].tolist() == [float(i) for i in range(50)]
    assert frame["_prediction"].tolist() == [2 * i for i in range(50)]
    assert list(Path(project / ".cairn" / "spool" / "predictions").iterdir()) == []


def test_a_spool_is_sealed_a_row_group_at_a_time(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sealing streams the spool into several row groups; every row and the time range stay."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from cairn.serving import _log_files

    monkeypatch.setattr(_log_files, "ROW_GROUP_ROWS", 25)
    log = PredictionLog(group_s=0)
    log.start()
    for i in range(10):  # one write per batch: many Arrow batches in the spool
        assert log.append(_batch(10, start=i * 10))
        deadline = time.monotonic() + 10
        while log.written_rows < (i + 1) * 10 and time.monotonic() < deadline:
            time.sleep(0.005)
    log.close()
    frame = read_prediction_log("m")
    assert frame["x"].tolist() == [float(i) for i in range(100)]
    store = get_store()
    with store.db.read() as conn:
        listed = conn.execute(prediction_log_files.select()).one()
    assert listed.rows == 100
    assert listed.first_ms <= listed.last_ms
    parquet = pq.ParquetFile(pa.BufferReader(store.artifacts.read_bytes(listed.digest)))
    assert parquet.metadata.num_row_groups >= 3


KILLED_WRITER = """
import os, sys
from cairn.serving.prediction_log import LoggedBatch, PredictionLog
from cairn.store import Store, get_store
from cairn.store.db.schema import prediction_log_files
log = PredictionLog(seal_after_s=3600)
log.start()
for i in range(3):
    log.append(LoggedBatch("m", 1, [{"x": float(i)}], [i], [f"r{i}"], [False]))
while log.written_rows < 3:
    pass
os._exit(9)  # killed: no close, no seal
"""


def test_a_killed_servers_spool_is_sealed_by_the_next(project: Path) -> None:
    """Rows fsynced before a crash are sealed into the store when the next log starts."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAIRN_")}
    env["CAIRN_HOME"] = str(project / ".cairn")
    done = subprocess.run([sys.executable, "-c", KILLED_WRITER], env=env, timeout=60)
    assert done.returncode == 9
    assert read_prediction_log("m").empty
    log = PredictionLog()
    log.start()
    log.close()
    assert read_prediction_log("m")["x"].tolist() == [0.0, 1.0, 2.0]


def test_a_live_spool_is_left_to_its_writer(project: Path) -> None:
    """A second log (another worker) never seals a spool the first is still writing."""
    first = PredictionLog(seal_after_s=3600)
    first.start()
    first.append(_batch(3))
    while first.written_rows < 3:
        pass
    second = PredictionLog()
    second.start()
    second.close()
    assert read_prediction_log("m").empty
    first.append(_batch(2, start=3))
    first.close()
    assert read_prediction_log("m")["x"].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]


def test_a_full_queue_counts_what_it_drops(project: Path) -> None:
    """When the writer cannot keep up, batches are dropped and counted, never blocking."""
    log = PredictionLog(max_queue=1)  # not started: nothing drains the queue
    assert log.append(_batch(4))
    assert not log.append(_batch(6))
    assert log.dropped_rows == 6


def test_since_and_until_select_by_time(project: Path) -> None:
    """since and until take aware datetimes or epoch milliseconds; naive ones are refused."""
    from datetime import datetime, timezone

    from cairn.core.errors import InvalidInputError

    log = PredictionLog()
    log.start()
    old = _batch(2)
    old.ts_ms = 1_000_000
    log.append(old)
    log.append(_batch(3, start=2))
    log.close()
    assert len(read_prediction_log("m")) == 5
    assert len(read_prediction_log("m", until=2_000_000)) == 2
    assert len(read_prediction_log("m", since=datetime(2020, 1, 1, tzinfo=timezone.utc))) == 3
    with pytest.raises(InvalidInputError, match="time zone"):
        read_prediction_log("m", since=datetime(2020, 1, 1))


def _wait(condition: Any, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_mixed_shapes_in_one_write_group_lose_no_row(store: Store) -> None:
    """A batch with probabilities beside one without, same model version, in one write group,
    keeps the writer alive and every row, then and after."""
    log = PredictionLog(group_s=0.05)
    log.start()
    with_proba = _batch(2)
    with_proba.probabilities = {"0": [0.4, 0.6], "1": [0.6, 0.4]}
    assert log.append(_batch(3, start=10))  # no probabilities
    assert log.append(with_proba)  # same 50 ms group, same model version, another schema
    _wait(lambda: log.written_rows == 5)
    for i in range(3):  # later groups, alternating shapes
        later = _batch(1, start=20 + i)
        if i % 2:
            later.probabilities = {"0": [0.5], "1": [0.5]}
        assert log.append(later)
        _wait(lambda i=i: log.written_rows == 6 + i)
    assert log.health is None
    log.close()
    assert (log.failures, log.dropped_rows) == (0, 0)
    frame = read_prediction_log("m")
    assert sorted(frame["x"].tolist()) == [0.0, 1.0, 10.0, 11.0, 12.0, 20.0, 21.0, 22.0]
    assert frame["_proba_1"].notna().sum() == 3


def test_a_failing_write_is_counted_retried_and_surfaced(project: Path) -> None:
    """A batch the writer cannot write is retried, then counted as dropped; the log reports
    the failure until a later write succeeds."""
    dropped: list[tuple[str, int]] = []
    log = PredictionLog(
        group_s=0, retry_s=(0.01, 0.01), on_dropped=lambda m, n: dropped.append((m, n))
    )
    log.start()
    bad = _batch(2)
    bad.rows = [{"x": "not a number"}, {"x": 1.0}]
    bad.dtypes = {"x": "float64"}  # the signature says float: Arrow refuses the text
    assert log.append(bad)
    _wait(lambda: log.dropped_rows == 2)
    assert log.failures == 3  # the first attempt and two retries
    assert log.health is not None and "could not write 2 row(s)" in log.health
    assert dropped == [("m", 2)]
    assert log.append(_batch(3, start=5))
    _wait(lambda: log.written_rows == 3)
    _wait(lambda: log.health is None)
    log.close()
    assert read_prediction_log("m")["x"].tolist() == [5.0, 6.0, 7.0]


def test_close_with_a_full_queue_does_not_hang(project: Path) -> None:
    """Closing while the queue is full returns promptly, every row written or counted."""
    log = PredictionLog(max_queue=2, group_s=30.0)  # the writer sits in a long write group
    log.start()
    appended = [log.append(_batch(1, start=i)) for i in range(6)]
    started = time.monotonic()
    log.close(timeout=20)
    assert time.monotonic() - started < 10
    assert log.written_rows + log.dropped_rows == 6
    assert log.dropped_rows >= appended.count(False)
    assert len(read_prediction_log("m")) == log.written_rows


def test_the_queue_is_bounded_in_rows(project: Path) -> None:
    """Batches beyond the queue's row budget are dropped and counted (memory stays bounded)."""
    log = PredictionLog(max_queue_rows=10)  # not started: nothing drains the queue
    assert log.append(_batch(8))
    assert not log.append(_batch(5))
    assert log.append(_batch(2))
    assert log.dropped_rows == 5


def _people(n: int, start: int = 0, ts_ms: int | None = None) -> LoggedBatch:
    rows = [
        {"x": float(i), "email": f"p{i}@example.com", "phone": f"+44 20 7946 {i:04d}"}
        for i in range(start, start + n)
    ]
    batch = LoggedBatch(
        "m", 1, rows, [0] * n, [f"r{i}" for i in range(start, start + n)], [False] * n
    )
    if ts_ms is not None:
        batch.ts_ms = ts_ms
    return batch


def test_redacted_columns_are_hashed_or_dropped(project: Path) -> None:
    """--log-redact stores a column as a keyed hash (equal values hash equally) or not at all;
    the raw values appear nowhere in the stored file."""
    log = PredictionLog(redact={"email": "hash", "phone": "drop"})
    log.start()
    log.append(_people(3))
    log.append(_people(1, start=1))  # p1 again: the same hash
    log.close()
    frame = read_prediction_log("m")
    assert "phone" not in frame.columns
    hashes = frame["email"].tolist()
    assert all(h.startswith("b3k:") for h in hashes)
    assert hashes[1] == hashes[3] and len(set(hashes)) == 3
    store = get_store()
    with store.db.read() as conn:
        digest = conn.execute(prediction_log_files.select()).one().digest
    stored = store.artifacts.read_bytes(digest)
    assert b"example.com" not in stored and b"7946" not in stored
    key = project / ".cairn" / "secrets" / "prediction-log.key"
    assert key.stat().st_mode & 0o077 == 0  # the key is its owner's only


@pytest.mark.usefixtures("artifacts")
def test_purge_erases_a_subjects_rows_and_their_old_objects(store: Store) -> None:
    """A purge by column value (through the keyed hash) and by request id removes exactly
    those rows, on every store, and deletes the objects that held them."""
    from cairn.serving import purge_prediction_log

    log = PredictionLog(redact={"email": "hash"})
    log.start()
    log.append(_people(4))
    log.close()
    with store.db.read() as conn:
        before = conn.execute(prediction_log_files.select()).one().digest
    result = purge_prediction_log("m", where={"email": "p1@example.com"}, request_ids=["r3"])
    assert (result.rows, result.files_rewritten, result.files_removed) == (2, 1, 0)
    assert read_prediction_log("m")["x"].tolist() == [0.0, 2.0]
    assert not store.artifacts.exists(before)  # erased now, not at the next gc
    assert purge_prediction_log("m", request_ids=["r0", "r2"]).files_removed == 1
    assert read_prediction_log("m").empty
    with store.db.read() as conn:
        assert conn.execute(prediction_log_files.select()).first() is None


def test_a_purge_must_say_which_rows(project: Path) -> None:
    """A purge with no criterion, or a bad one, is refused with a message saying what to give."""
    from cairn.core.errors import InvalidInputError
    from cairn.serving import purge_prediction_log

    with pytest.raises(InvalidInputError, match="say which rows"):
        purge_prediction_log("m")
    with pytest.raises(InvalidInputError, match="served under must be non-empty"):
        purge_prediction_log("", request_ids=["r1"])
    with pytest.raises(InvalidInputError, match="time zone"):
        from datetime import datetime

        purge_prediction_log("m", before=datetime(2020, 1, 1))


def test_retention_removes_rows_older_than_it(store: Store) -> None:
    """A server's retention removes logged rows older than it and keeps the rest."""
    from cairn.core.ids import now_ms

    day_ms = 86_400_000
    first = PredictionLog()
    first.start()
    first.append(_people(2, ts_ms=now_ms() - 40 * day_ms))  # its own (old) file
    first.append(_people(3, start=2))
    first.close()
    assert len(read_prediction_log("m")) == 5
    second = PredictionLog(retention_s=30 * 86_400, models=["m"])
    second.start()
    _wait(lambda: len(read_prediction_log("m")) == 3)
    second.close()
    assert read_prediction_log("m")["x"].tolist() == [2.0, 3.0, 4.0]


def test_durations_and_redact_options_are_parsed_or_refused() -> None:
    """--log-retention takes 30d-style durations and --log-redact COLUMN[:hash|:drop]."""
    from cairn.core.errors import InvalidInputError
    from cairn.serving._log_privacy import parse_duration, parse_redact

    assert parse_duration("30d") == 30 * 86_400 and parse_duration("12h") == 43_200
    assert parse_redact(["email", "phone:drop"]) == {"email": "hash", "phone": "drop"}
    with pytest.raises(InvalidInputError, match="30d"):
        parse_duration("30 days")
    with pytest.raises(InvalidInputError, match="hash or drop"):
        parse_redact(["email:encrypt"])


class Scorer(cairn.PythonModel):
    """Scores a customer: x doubled (the email is only carried along)."""

    def predict(self, inputs: Any) -> Any:
        return (inputs["x"] * 2).to_numpy()


@asynccontextmanager
async def _client(options: ServerOptions | None = None) -> AsyncIterator[httpx.AsyncClient]:
    """The server for the registered ``clf`` model, started, and a client talking to it."""
    app = create_app([ModelSpec("clf", "models:/clf/1")], options)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://cairn") as c:
            c.app = app  # type: ignore[attr-defined]
            yield c


def _register_clf() -> None:
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    x = pd.DataFrame({"f0": [0.0, 1.0, 2.0, 3.0], "f1": [1.0, 0.0, 1.0, 0.0]})
    with cairn.run():
        cairn.log_model(LogisticRegression().fit(x, [0, 0, 1, 1]), "clf", input_example=x.head(2))


@pytest.fixture
def clf(quiet_capture: None, store: Store) -> None:
    """A logistic regression on two float columns, registered as ``clf`` version 1."""
    _register_clf()


def test_requests_with_and_without_probabilities_in_one_group_lose_no_row(clf: None) -> None:
    """A request with "probabilities": true beside one without, in one 50 ms write group of
    the same model version, keeps every row and the server ready."""

    async def scenario() -> None:
        async with _client() as c:
            row = {"f0": 1.5, "f1": 0.0}
            first = await c.post("/predict", json={"inputs": [row], "probabilities": True})
            second = await c.post("/predict", json={"inputs": [row]})  # within 50 ms
            await asyncio.sleep(0.3)
            later = [await c.post("/predict", json={"inputs": [row]}) for _ in range(3)]
            await asyncio.sleep(0.3)
            ready = await c.get("/readyz")
        assert {r.status_code for r in (first, second, *later)} == {200}
        assert ready.status_code == 200, ready.json()
        assert ready.json()["prediction_log"] == {"problem": None, "failures": 0, "dropped_rows": 0}

    asyncio.run(scenario())
    frame = read_prediction_log("clf")
    assert len(frame) == 5 and frame["_proba_1"].notna().sum() == 1


def test_readyz_reports_a_failing_log_writer(clf: None) -> None:
    """A write the log cannot make turns /readyz 503 with the reason and the counts, until a
    later write succeeds."""

    async def scenario() -> None:
        async with _client() as c:
            log = c.app.state.cairn.log  # type: ignore[attr-defined]
            bad = LoggedBatch("clf", 1, [{"f0": "x", "f1": 0.0}], [0], ["r-bad"], [False])
            bad.dtypes = {"f0": "float64", "f1": "float64"}
            assert log.append(bad)
            for _ in range(200):
                answer = await c.get("/readyz")
                if answer.status_code == 503:
                    break
                await asyncio.sleep(0.02)
            body = answer.json()
            assert answer.status_code == 503 and not body["ready"]
            assert "could not write 1 row(s)" in body["prediction_log"]["problem"]
            while log.dropped_rows < 1:  # the retries run out, the row is counted
                await asyncio.sleep(0.05)
            assert log.failures == 4  # the first attempt and three retries
            metrics = (await c.get("/metrics")).text
            assert 'cairn_prediction_log_dropped_rows_total{model="clf"} 1.0' in metrics
            assert (await c.post("/predict", json={"inputs": [{"f0": 1, "f1": 0}]})).is_success
            for _ in range(200):
                if (await c.get("/readyz")).status_code == 200:
                    break
                await asyncio.sleep(0.02)
            assert (await c.get("/readyz")).status_code == 200

    asyncio.run(scenario())


def test_oversized_headers_are_refused_and_never_logged(clf: None) -> None:
    """A 60 KB X-Request-ID, or headers over 16 KB in all, get a 431 that says the limit, and
    nothing of them reaches the log."""

    async def scenario() -> None:
        async with _client() as c:
            body = {"inputs": [{"f0": 1.0, "f1": 0.0}]}
            huge_id = await c.post("/predict", json=body, headers={"X-Request-ID": "i" * 61_440})
            long_id = await c.post("/predict", json=body, headers={"X-Request-ID": "i" * 1_000})
            many = await c.post(
                "/predict", json=body, headers={f"x-h{i}": "v" * 1000 for i in range(20)}
            )
            fine = await c.post("/predict", json=body, headers={"X-Request-ID": "req-1"})
        assert huge_id.status_code == 431 and "16,384" in huge_id.json()["error"]
        assert long_id.status_code == 431 and "the limit is 256" in long_id.json()["error"]
        assert many.status_code == 431 and "headers" in many.json()["error"]
        assert fine.status_code == 200

    asyncio.run(scenario())
    assert read_prediction_log("clf")["_request_id"].tolist() == ["req-1"]


def test_a_422_does_not_echo_personal_data(clf: None) -> None:
    """A refused field is described by its type and size, never by its content."""

    async def scenario() -> None:
        async with _client() as c:
            row = {"f0": "jane.doe@example.com", "f1": 0.0}
            return await c.post("/predict", json={"inputs": [row]})

    answer = asyncio.run(scenario())
    assert answer.status_code == 422
    assert "jane" not in answer.text and "text (20 characters)" in answer.text


def test_personal_data_in_the_input_example_warns_at_start(
    quiet_capture: None, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    """A served model whose input example holds personal data warns that the log would store
    it and names --log-redact; a redacted column silences it, a misspelt one is refused."""
    import pandas as pd

    from cairn.core.errors import InvalidInputError

    example = pd.DataFrame({"x": [1.0, 2.0], "email": ["ann@example.com", "bo@example.org"]})
    with cairn.run():
        cairn.log_model(Scorer(), "scorer", input_example=example)
    spec = [ModelSpec("scorer", "models:/scorer/1")]
    create_app(spec)
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("'email'" in m and "--log-redact email" in m for m in warned), warned
    caplog.clear()
    create_app(spec, ServerOptions(log_redact={"email": "hash"}))
    assert not [r for r in caplog.records if "personal data" in r.getMessage()]
    with pytest.raises(InvalidInputError, match="no served model has such an input column"):
        create_app(spec, ServerOptions(log_redact={"emial": "hash"}))


def test_numbers_in_an_example_are_not_taken_for_personal_data() -> None:
    """Only text columns are searched: a float's digits never pass for a phone number."""
    from cairn.serving._log_privacy import personal_data_in

    example = [{"f0": -0.12345678901234, "note": "call +44 20 7946 0000"}]
    assert personal_data_in(example) == {"note": ["phone"]}


def test_cairn_serve_log_purge_erases_a_subject(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`cairn serve log purge MODEL --where COL=VALUE` erases those rows and says how many; a
    malformed --where is refused without a traceback."""
    from tests.cli.test_data_cli import cli

    log = PredictionLog()
    log.start()
    log.append(_people(3))
    log.close()
    code, out, _ = cli(capsys, "serve", "log", "purge", "m", "--where", "email=p1@example.com")
    assert code == 0 and "erased 1 row(s)" in out
    assert read_prediction_log("m")["x"].tolist() == [0.0, 2.0]
    code, _, err = cli(capsys, "serve", "log", "purge", "m", "--where", "email")
    assert code == 1 and "COLUMN=VALUE" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"model": "a\x00b", "request_ids": ["r"]}, "NUL"),
        ({"model": "a\ud800b", "request_ids": ["r"]}, "Unicode"),
        ({"model": "m" * 200, "request_ids": ["r"]}, "128 characters"),
        ({"model": None, "request_ids": ["r"]}, "non-empty text"),
        ({"model": "m", "request_ids": 123}, "list of ids"),
        ({"model": "m", "request_ids": ["r\x00"]}, "NUL"),
        ({"model": "m", "where": {"email": []}}, "a value or a list"),
        ({"model": "m", "where": "email=x"}, "column: value"),
        ({"model": "m", "before": 2**70}, "out of range"),
    ],
)
def test_hostile_purge_arguments_are_refused_on_every_store(
    store: Store, kwargs: dict[str, Any], message: str
) -> None:
    """Hostile purge arguments get an InvalidInputError naming the problem, on both stores."""
    from cairn.core.errors import InvalidInputError
    from cairn.serving import purge_prediction_log

    arguments = dict(kwargs)  # the parameters are shared by both stores' runs
    model = arguments.pop("model")
    with pytest.raises(InvalidInputError, match=message):
        purge_prediction_log(model, **arguments)
    with pytest.raises(InvalidInputError):
        read_prediction_log("a\x00b")


def test_a_real_server_under_mixed_traffic_logs_every_row_and_stops_promptly(
    quiet_capture: None, project: Path
) -> None:
    """`cairn serve` under concurrent requests with and without probabilities (and malformed
    ones) logs every answered row, stays ready, and stops on SIGINT within seconds."""
    import signal
    import socket
    from concurrent.futures import ThreadPoolExecutor

    _register_clf()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAIRN_")}
    env["CAIRN_HOME"] = str(project / ".cairn")
    command = [sys.executable, "-m", "cairn.cli.main", "serve", "models:/clf/1"]
    proc = subprocess.Popen(
        [*command, "--port", str(port)], cwd=project, env=env, stderr=subprocess.PIPE, text=True
    )
    url = f"http://127.0.0.1:{port}"

    def send(i: int) -> int:
        if i % 10 == 9:
            body: Any = b'{"inputs": [{"f0": "oops"'  # malformed
            return httpx.post(f"{url}/predict", content=body, timeout=30).status_code
        row = {"f0": float(i % 7), "f1": 1.0}
        answer = httpx.post(
            f"{url}/predict", json={"inputs": [row], "probabilities": i % 2 == 0}, timeout=30
        )
        return answer.status_code

    try:
        _wait(lambda: _ready(url), 60)
        with ThreadPoolExecutor(16) as pool:
            statuses = list(pool.map(send, range(200)))
        ready = httpx.get(f"{url}/readyz", timeout=10)
    finally:
        started = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    assert time.monotonic() - started < 20, err
    assert proc.returncode == 0, err
    assert ready.status_code == 200, ready.text
    assert statuses.count(400) == 20
    assert len(read_prediction_log("clf")) == statuses.count(200) == 180


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def test_a_spool_the_store_refuses_is_kept_and_sealed_later(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the artifact store refuses a sealed spool, the failure is counted and reported,
    the spool stays on disk, and it is sealed once the store takes it again."""
    from cairn.core.settings import configure
    from cairn.serving import prediction_log

    monkeypatch.setattr(prediction_log, "SEAL_RETRY_S", 0.05)
    blocker = project / "artifact-store"
    blocker.write_text("a file where the store's folder should be")
    configure(artifacts=str(blocker))
    log = PredictionLog(rows_per_file=3, group_s=0)
    log.start()
    log.append(_batch(3))  # full: sealed at once, and refused
    _wait(lambda: log.failures >= 1)
    assert log.health is not None and "could not seal" in log.health
    spool = project / ".cairn" / "spool" / "predictions"
    assert len(list(spool.glob("*.arrow"))) == 1  # kept, not lost
    blocker.unlink()  # the store works again
    log.append(_batch(3, start=3))  # also sealed at once; the retry takes the first one too
    _wait(lambda: not list(spool.glob("*.arrow")))
    _wait(lambda: log.health is None)
    log.close()
    assert read_prediction_log("m")["x"].tolist() == [float(i) for i in range(6)]


def test_a_suites_failure_is_reported_without_the_values() -> None:
    """What a failed expectation observed reaches a 422 with sampled values masked."""
    from cairn.serving._log_privacy import without_values

    observed = {"unseen_share": 0.5, "unseen": ["jane.doe@example.com", 7]}
    assert without_values(observed) == {"unseen_share": 0.5, "unseen": ["j***.***@*******.***", 7]}
