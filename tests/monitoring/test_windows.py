"""Monitoring a served model: its prediction log read window by window, each window compared
with the version's training reference and stored (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import cairn
from cairn import registry
from cairn.core.errors import InvalidInputError, NotFoundError
from cairn.monitoring import get_reference
from cairn.monitoring.windows import monitor_history, monitor_model, parse_time
from cairn.serving.prediction_log import LoggedBatch, PredictionLog
from cairn.store import Store

HOUR_MS = 3_600_000
DAY0 = int(datetime(2026, 11, 2, tzinfo=timezone.utc).timestamp() * 1000)  # a Monday, 00:00
INPUTS = ["age", "income", "city"]


class IncomeRule(cairn.PythonModel):
    """Predicts 1 for incomes above 50,000 (age and city play no part)."""

    def predict(self, inputs: Any) -> Any:
        return (inputs["income"].to_numpy() > 50_000).astype(np.int64)


def customers(n: int, seed: int, *, age_shift: float = 0.0) -> pd.DataFrame:
    """Customers: age ~ N(40, 10) (+ ``age_shift`` sd), income ~ N(50k, 10k), three cities."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "age": rng.normal(40, 10, n) + 10 * age_shift,
            "income": rng.normal(50_000, 10_000, n),
            "city": rng.choice(["paris", "lyon", "nice"], n),
        }
    )


def register(project: Path, name: str = "churn") -> None:
    """Version 1 of ``name``, trained in a run that read the catalog dataset ``customers``."""
    folder = project / "train"
    if not folder.exists():
        folder.mkdir()
        customers(4000, 1).assign(label=0).to_parquet(folder / "t.parquet", index=False)
        cairn.data.add(folder, "customers")
    with cairn.run():
        train = cairn.data.load("customers")
        cairn.log_model(IncomeRule(), name, input_example=train[INPUTS].head(5))


def write_log(
    batches: list[tuple[int, pd.DataFrame]],
    *,
    model: str = "churn",
    version: int = 1,
    redact: dict[str, str] | None = None,
    fallback: bool = False,
) -> None:
    """Write ``(time ms, rows)`` batches to the prediction log as a server does, then seal it
    (``fallback``: the rows were answered by the fallback model)."""
    log = PredictionLog(group_s=0, redact=redact)
    log.start()
    predictor = IncomeRule()
    for n, (ts, frame) in enumerate(batches):
        rows = frame.to_dict("records")
        ids = [f"r{n}-{i}" for i in range(len(rows))]
        predictions = predictor.predict(frame).tolist()
        batch = LoggedBatch(
            model, version, rows, predictions, ids, [fallback] * len(rows), ts_ms=ts
        )
        assert log.append(batch)
    log.close()


def hours(*shifts: float | None, rows: int = 600) -> list[tuple[int, pd.DataFrame]]:
    """One batch per hour from DAY0 (age shifted by the given sd; None: only 40 rows)."""
    out = []
    for hour, shift in enumerate(shifts):
        n = 40 if shift is None else rows
        out.append((DAY0 + hour * HOUR_MS + 60_000, customers(n, 100 + hour, age_shift=shift or 0)))
    return out


@pytest.fixture
def churn(store: Store, quiet_capture: None, project: Path) -> Store:
    """``churn`` v1 registered from the dataset ``customers`` (on each metadata store)."""
    register(project)
    return store


def test_the_reference_is_made_when_the_model_is_logged(churn: Store) -> None:
    """Logging a model whose run read a catalog dataset stores its reference at once."""
    found = get_reference("churn/1", compute=False)
    assert found is not None
    assert found.datasets == ["customers@v1"] and found.rows == 4000
    assert {"age", "income", "city", "_prediction"} <= set(found.sketch.columns)


def test_hourly_windows_flag_the_shifted_feature_and_no_other(churn: Store) -> None:
    """Three hourly windows: the shifted hour flags age alone, a thin hour has too few rows."""
    write_log(hours(0.0, 1.0, None))
    run = monitor_model("churn", window="1h")
    assert run.model == "churn" and run.versions == [1] and run.window == "1h"
    assert [w.start_ms for w in run.windows] == [DAY0, DAY0 + HOUR_MS, DAY0 + 2 * HOUR_MS]
    assert [w.rows for w in run.windows] == [600, 600, 40]
    calm, shifted, thin = run.windows
    assert calm.drifted == [] and calm.verdict == "no drift"
    assert shifted.drifted == ["age"]
    assert thin.verdict == "not enough data" and thin.share is None
    assert not any(w.partial for w in run.windows)
    stored = monitor_history("churn")
    assert [(w.start_ms, w.rows, w.verdict) for w in stored] == [
        (w.start_ms, w.rows, w.verdict) for w in run.windows
    ]
    result = stored[1].result
    assert result["drifted_columns"] == ["age"] and result["window"] == "1h"
    assert [c["column"] for c in result["columns"]] == [*INPUTS, "_prediction"]
    assert stored[1].digest is not None and stored[1].end_ms == DAY0 + 2 * HOUR_MS
    assert [w.start_ms for w in monitor_history("churn/1", limit=1)] == [DAY0 + 2 * HOUR_MS]


def test_a_second_run_reads_only_what_is_new(churn: Store) -> None:
    """Windows stored complete are not computed again unless since asks for them."""
    write_log(hours(0.0, 1.0))
    assert len(monitor_model("churn", window="1h").windows) == 2
    again = monitor_model("churn", window="1h")
    assert again.windows == [] and "computed already" in again.notes[0]
    write_log([(DAY0 + 5 * HOUR_MS, customers(300, 9))])
    later = monitor_model("churn", window="1h")
    assert [w.start_ms for w in later.windows] == [DAY0 + 5 * HOUR_MS]
    redone = monitor_model("churn", window="1h", since=DAY0)
    assert len(redone.windows) == 3
    assert len(monitor_history("churn")) == 3  # replaced, not added twice


def test_row_windows_cut_consecutive_rows_and_the_last_is_partial(churn: Store) -> None:
    """Windows of 500 rows over 1,240 rows: two full ones and a partial one of 240."""
    write_log(hours(0.0, 0.0, None))
    run = monitor_model("churn/1", window=500)
    assert [(w.rows, w.partial) for w in run.windows] == [(500, False), (500, False), (240, True)]
    assert run.windows[0].start_ms == DAY0 + 60_000
    assert all(w.drifted == [] for w in run.windows)


def test_the_current_window_is_partial(churn: Store) -> None:
    """The window still open now is computed and marked partial."""
    now = int(datetime.now(timezone.utc).timestamp() * 1000)
    write_log([(now - 1000, customers(200, 3))])
    (current,) = monitor_model("churn", window="1d").windows
    assert current.partial and current.rows == 200
    assert monitor_history("churn")[0].result["partial"] is True


def test_since_and_until_choose_whole_windows(churn: Store) -> None:
    """since picks the window it falls in; until ends the span (a window it cuts is partial)."""
    write_log(hours(0.0, 1.0, 0.0, 0.0))
    run = monitor_model(
        "churn", window="1h", since="2026-11-02T01:30Z", until=DAY0 + 2 * HOUR_MS + 120_000
    )
    assert [(w.start_ms, w.partial) for w in run.windows] == [
        (DAY0 + HOUR_MS, False),
        (DAY0 + 2 * HOUR_MS, True),
    ]
    assert run.windows[0].drifted == ["age"]


def test_every_logged_version_is_compared_with_its_own_reference(
    churn: Store, project: Path
) -> None:
    """A plain name monitors each version in the log; name@alias only the one it points at."""
    register(project)
    registry.set_alias("churn", "champion", 2)
    write_log(hours(0.0), version=1)
    write_log(hours(1.0), version=2)
    run = monitor_model("churn", window="1h")
    assert run.versions == [1, 2]
    assert {(w.version, tuple(w.drifted)) for w in run.windows} == {(1, ()), (2, ("age",))}
    only = monitor_model("models:/churn@champion", window="1h", since=DAY0)
    assert [w.version for w in only.windows] == [2]
    assert {w.version for w in monitor_history("churn@champion")} == {2}
    assert monitor_model("churn/latest", window="1h", since=DAY0).versions == [2]


def test_a_version_without_reference_says_how_to_make_one(
    store: Store, quiet_capture: None
) -> None:
    """A model whose run read no dataset has no reference: the error names the command."""
    with cairn.run():
        cairn.log_model(IncomeRule(), "bare", input_example=customers(5, 1))
    write_log(hours(0.0), model="bare")
    with pytest.raises(NotFoundError, match=r"cairn monitor reference bare/1 --data PATH"):
        monitor_model("bare")


def test_a_logged_version_without_reference_is_left_out_of_the_whole_model(
    churn: Store,
) -> None:
    """Monitoring every version leaves out (and names) one without reference; naming it fails."""
    with cairn.run():
        cairn.log_model(IncomeRule(), "churn", input_example=customers(5, 1))
    write_log(hours(1.0), version=1)
    write_log(hours(0.0), version=2)
    run = monitor_model("churn", window="1h")
    assert run.versions == [1] and [w.drifted for w in run.windows] == [["age"]]
    assert "version 2 left out" in run.notes[0] and "reference churn/2 --data" in run.notes[0]
    with pytest.raises(NotFoundError, match="cannot monitor churn/2"):
        monitor_model("churn/2")


def test_a_model_without_a_log_is_told_to_serve_it(churn: Store) -> None:
    """No prediction log: a clear message, nothing stored."""
    with pytest.raises(NotFoundError, match=r"no prediction log yet.*cairn serve churn"):
        monitor_model("churn")
    with pytest.raises(NotFoundError, match="no model named"):
        monitor_model("nobody")
    assert monitor_history("churn") == []


def test_dask_workers_summarize_the_files(churn: Store) -> None:
    """With a Dask scheduler, each file is summarized on a worker; the windows are the same."""
    from dask.distributed import LocalCluster

    write_log(hours(0.0, 1.0, None))
    here = monitor_model("churn", window="1h")
    with LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
    ) as cluster:
        there = monitor_model("churn", window="1h", since=DAY0, executor=cluster.scheduler_address)
    assert there.windows == here.windows
    local = monitor_model("churn", window="1h", since=DAY0, executor="dask")
    assert local.windows == here.windows


def test_files_are_read_a_row_group_at_a_time(
    churn: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A log sealed in row groups of 64 rows gives the same windows as one read whole."""
    from cairn.serving import _log_files

    write_log(hours(0.0, 1.0))
    whole = monitor_model("churn", window="1h")
    monkeypatch.setattr(_log_files, "ROW_GROUP_ROWS", 64)
    # The same rows again, in batches of 60: row groups of 120 rows.
    write_log(
        [(ts, frame.iloc[i : i + 60]) for ts, frame in hours(0.0, 1.0) for i in range(0, 600, 60)]
    )
    again = monitor_model("churn", window="1h", since=DAY0)
    assert [w.rows for w in again.windows] == [2 * w.rows for w in whole.windows]
    assert [w.drifted for w in again.windows] == [[], ["age"]]


def test_alert_rules_are_checked_after_the_windows_are_stored(churn: Store) -> None:
    """A feature_drift rule fires for the shifted window, once: a rerun fires it no more."""
    from cairn.core.settings import configure

    rule = {"name": "age-drift", "model": "churn", "when": "feature_drift", "feature": "age"}
    configure(monitoring={"alerts": [rule]})
    write_log(hours(0.0, 1.0))
    run = monitor_model("churn", window="1h")
    assert [(a.rule, a.window_start_ms) for a in run.alerts] == [("age-drift", DAY0 + HOUR_MS)]
    assert monitor_model("churn", window="1h", since=DAY0).alerts == []


def test_fallback_rows_and_hashed_columns_are_left_out(churn: Store) -> None:
    """Rows the fallback answered are not the version's; a column kept as hashes is reported
    missing, never as drift."""
    write_log(hours(0.0), redact={"city": "hash"})
    write_log([(DAY0 + 120_000, customers(500, 8, age_shift=3.0))], fallback=True)
    (window,) = monitor_model("churn", window="1h").windows
    assert window.rows == 600 and window.drifted == []
    (stored,) = monitor_history("churn")
    city = next(c for c in stored.result["columns"] if c["column"] == "city")
    assert city["verdict"] == "missing"
    assert any("'city' is missing" in finding for finding in stored.result["findings"])


@pytest.mark.slow
def test_workers_of_a_real_scheduler_read_the_callers_store(
    quiet_capture: None, project: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A dask scheduler and worker started in another folder, with no cairn settings, read the
    log's files from the caller's artifact store and give the same windows."""
    import json
    import os
    import subprocess
    import sys
    import time

    register(project)
    write_log(hours(0.0, 1.0, None))
    here = monitor_model("churn", window="1h")
    outside = tmp_path_factory.mktemp("dask-outside")
    file = outside / "scheduler.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAIRN_")}
    dask = str(Path(sys.executable).with_name("dask"))
    started = []
    try:
        for args in (
            ["scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard"],
            ["worker", "--nthreads", "1", "--no-dashboard"],
        ):
            args += ["--scheduler-file", str(file)]
            with (outside / f"{args[0]}.log").open("wb") as log:  # the child keeps its own
                started.append(
                    subprocess.Popen([dask, *args], cwd=outside, env=env, stdout=log, stderr=log)
                )
            deadline = time.monotonic() + 60
            while not (
                file.exists()
                and (
                    args[0] == "scheduler"
                    or "Registered to" in (outside / "worker.log").read_text()
                )
            ):
                assert time.monotonic() < deadline, f"the dask {args[0]} did not start"
                time.sleep(0.1)
        address = json.loads(file.read_text())["address"]
        there = monitor_model("churn", window="1h", since=DAY0, executor=address)
    finally:
        for process in reversed(started):
            process.terminate()
            process.wait(timeout=30)
    assert there.windows == here.windows
    assert not (outside / ".cairn").exists()  # the worker opened no store of its own


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"model": None}, "name a model"),
        ({"model": ""}, "name a model"),
        ({"model": "churn\x00"}, "NUL"),
        ({"model": 5}, "name a model"),
        ({"model": "runs:/abc/model"}, "run's files"),
        ({"model": "a\ud800b"}, "Unicode"),
        ({"model": "x" * 1_000_000}, "characters"),
        ({"window": "a\ud800b"}, "cannot read the window"),
        ({"since": "a\ud800b"}, "is not a time"),
        ({"until": object()}, "takes a datetime"),
        ({"executor": "a\ud800b"}, "executor is 'dask'"),
        ({"window": "0"}, "at least 1 row"),
        ({"window": "soon"}, "cannot read the window"),
        ({"window": 10**30}, "cannot read the window"),
        ({"window": 1.5}, "a window is a duration"),
        ({"since": "\x00"}, "is not a time"),
        ({"since": ""}, "is not a time"),
        ({"since": "yesterday"}, "cannot read since"),
        ({"since": 10**30}, "outside the times"),
        ({"since": -1}, "outside the times"),
        ({"since": True}, "takes a time"),
        ({"since": 3.5}, "takes a datetime"),
        ({"since": datetime(2026, 1, 1)}, "no time zone"),
        ({"since": "9" * 5000}, "is not a time"),
        ({"since": "2026-12-02", "until": "2026-12-01"}, "before until"),
        ({"executor": 5}, "executor is 'dask'"),
        ({"executor": "ftp://host"}, "executor is 'dask'"),
        ({"executor": "dask", "window": 100}, "row windows"),
    ],
)
def test_hostile_arguments_get_clear_errors(
    churn: Store, arguments: dict[str, Any], message: str
) -> None:
    """Bad models, windows, times and executors are refused with a message, never a traceback."""
    call: dict[str, Any] = {"model": "churn", **arguments}
    with pytest.raises(InvalidInputError, match=message):
        monitor_model(call.pop("model"), **call)


def test_history_refuses_bad_limits(churn: Store) -> None:
    """monitor_history takes a positive limit and a readable since."""
    for bad in (0, -3, True, "5", 10**12):
        with pytest.raises(InvalidInputError, match="limit is a number"):
            monitor_history("churn", limit=bad)
    with pytest.raises(InvalidInputError, match="cannot read since"):
        monitor_history("churn", since="later")


def test_times_read_as_utc_or_as_a_span_back_from_now() -> None:
    """Dates without a zone are UTC; '24h' and timedeltas count back from now."""
    now = DAY0 + 5 * HOUR_MS
    assert parse_time("2026-11-02", "since", now) == DAY0
    assert parse_time("2026-11-02T02:00+01:00", "since", now) == DAY0 + HOUR_MS
    assert parse_time("24h", "since", now) == now - 24 * HOUR_MS
    assert parse_time(timedelta(hours=1), "since", now) == now - HOUR_MS
    assert parse_time("now", "until", now) == now
    assert parse_time(None, "since", now) is None


def test_traffic_answered_by_cairn_serve_is_monitored(churn: Store) -> None:
    """Rows a real server answered (in-process) land in today's window, partial while open."""
    import asyncio

    import httpx

    from cairn.serving import ModelSpec, create_app

    async def send() -> None:
        app = create_app([ModelSpec("churn", "models:/churn/1")])
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://cairn") as c:
                for i in range(0, 300, 50):
                    rows = customers(50, 500 + i, age_shift=1.0).to_dict("records")
                    answer = await c.post("/predict", json={"inputs": rows})
                    assert answer.status_code == 200, answer.text

    asyncio.run(send())
    (today,) = monitor_model("churn", window="1d").windows
    assert today.rows == 300 and today.partial and today.drifted == ["age"]
