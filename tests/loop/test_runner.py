"""The retrainer's semantics: alert and cron triggers, what happens to a trigger while a
retraining is open, one retraining per model across schedulers, takeover of a stopped
holder's retraining, stale alerts, signature changes, failing pipelines, manual runs, stop."""

from __future__ import annotations

import socket
import textwrap
import time
from typing import Any

import pytest
from sqlalchemy import update

from cairn import loop, monitoring, pipelines, registry
from cairn.core.errors import InvalidInputError, NotFoundError
from cairn.core.ids import now_ms
from cairn.core.settings import configure
from cairn.store import get_store
from cairn.store.db.schema import retrain_policies, retrainings
from tests.loop.conftest import MODEL, Wine, set_policy, until

HOUR = 3_600_000
ALERT_RULES = [{"name": "wine-drift", "model": MODEL, "when": "drift_share > 0.2"}]
COLUMNS = ("alcohol", "proline", "color_intensity", "hue", "_prediction")

EXTRA = """
import time

import cairn
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


@cairn.step
def narrow_model(dataset: str):
    df = cairn.data.load(dataset).drop(columns="proline")
    X, y = df.drop(columns="target"), df["target"]
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(X, y)
    return cairn.log_model(model, "wine", input_example=X.head(5)).version


@cairn.step
def boom():
    raise RuntimeError("the feature store is down")


@cairn.step
def nothing():
    return 1


@cairn.pipeline
def narrow(dataset: str = "wine"):
    return narrow_model(dataset)


@cairn.pipeline
def failing():
    return boom()


@cairn.pipeline
def silent():
    return nothing()


@cairn.pipeline
def stamped(dataset: str = "", start: str = "", end: str = "", trigger: str = "", n: str = ""):
    return nothing()
"""


def _policy(**changes: Any) -> Any:
    # a new C for each retraining: no step is served from the cache; no data gate
    fields = {"dataset": None, "suite": None, "params": {"C": "{retraining}"}}
    return set_policy(**(fields | changes))


def _extra(wine: Wine) -> None:
    """Write the module of the narrow, failing and silent pipelines into the project."""
    import importlib
    import sys

    (wine.root / "loopextra.py").write_text(textwrap.dedent(EXTRA))
    sys.modules.pop("loopextra", None)
    importlib.invalidate_caches()


def drift_alert(version: int = 1) -> Any:
    """Store a drift window of model wine (its version ``version``) where most columns
    drifted, and check the alert rules: the alert rule ``wine-drift`` fires on it."""
    from tests.monitoring.test_alerts import _drift_window

    configure(monitoring={"alerts": ALERT_RULES})
    start = now_ms() - 2 * HOUR + time.monotonic_ns() % 1000  # a window of its own
    _drift_window(start, list(COLUMNS[:3]), model=MODEL, version=version, columns=COLUMNS)
    fired = [a for a in monitoring.check_alerts([MODEL]) if a.rule == "wine-drift"]
    assert len(fired) == 1, fired
    return fired[0]


def _drive(*retrainers: loop.Retrainer, stop: bool = True) -> list[loop.Retraining]:
    """Tick the retrainers until nothing is open or running; the model's retrainings."""

    def done() -> bool:
        for retrainer in retrainers:
            retrainer.tick()
        busy = sum(r.running() for r in retrainers)
        return busy == 0 and not any(not r.is_over for r in loop.list_retrainings(MODEL))

    until(done, every=0.3)
    if stop:
        for retrainer in retrainers:
            retrainer.stop(5.0)
    return loop.list_retrainings(MODEL)


def _set_retraining(number: int, **values: Any) -> None:
    get_store().db.transact(
        lambda conn: conn.execute(
            update(retrainings).where(retrainings.c.id == number).values(**values)
        )
    )


def _champion() -> int | None:
    return registry.get_model(MODEL).aliases.get("champion")


def test_drift_alert_retrains_with_its_evidence_and_promotes(wine: Wine) -> None:
    """A drift alert of a rule the policy names queues one retraining carrying the alert's
    window and version, which promotes the challenger."""
    configure(monitoring={"alerts": ALERT_RULES})
    _policy(on_alerts=["wine-drift"], on_data=[])
    alert = drift_alert(version=1)
    [done] = _drive(loop.Retrainer())
    assert done.state == "promoted", done.summary()
    assert done.trigger_kind == "alert" and done.trigger == f"alert wine-drift #{alert.id}"
    assert done.alert_id == alert.id
    assert done.evidence["version"] == 1
    assert done.evidence["window"] == alert.evidence["window"]
    assert done.evidence["alert_message"] == alert.message
    assert done.challenger == 2 and _champion() == 2
    move = registry.alias_history(MODEL)[-1]
    assert move.reason is not None and f"alert wine-drift #{alert.id}" in move.reason
    lines = "\n".join(loop.describe(done))
    assert f"drift: {alert.message}" in lines and "decision: version 2 promoted" in lines


def test_cron_due_queues_one_retraining_and_moves_the_next_time(wine: Wine) -> None:
    """A policy whose cron time passed queues a cron retraining and sets the next time."""
    stored = _policy(on_data=[], cron="0 3 * * *")
    assert stored.next_due_ms is not None and stored.next_due_ms > now_ms()
    past = now_ms() - 1000
    get_store().db.transact(
        lambda conn: conn.execute(
            update(retrain_policies)
            .where(retrain_policies.c.model == MODEL)
            .values(next_due_ms=past)
        )
    )
    [done] = _drive(loop.Retrainer())
    assert done.trigger_kind == "cron" and done.trigger == "cron 0 3 * * *"
    assert done.state == "promoted", done.summary()
    assert loop.get_policy(MODEL).next_due_ms == stored.next_due_ms


def test_trigger_while_one_is_queued_is_dropped_with_the_reason(wine: Wine) -> None:
    """A second trigger while a retraining waits is recorded as dropped, naming the queued."""
    _policy()
    first = loop.request_retraining(MODEL)
    second = loop.request_retraining(MODEL, reason="again")
    assert first.state == "queued" and second.state == "dropped"
    assert second.trigger == "manual: again" and second.is_over
    assert second.reason == f"retraining #{first.id} is queued already and will train on the " \
        "newest data"  # fmt: skip


def test_on_busy_drop_drops_a_trigger_while_one_runs(wine: Wine) -> None:
    """With on_busy=drop, a trigger while a retraining runs is dropped; the run goes on."""
    _policy(on_busy="drop")
    first = loop.request_retraining(MODEL)
    retrainer = loop.Retrainer()
    retrainer.tick()
    assert loop.get_retraining(first.id).state == "running"
    second = loop.request_retraining(MODEL)
    assert second.state == "dropped"
    assert second.reason is not None and f"#{first.id} is running" in second.reason
    ended = {r.id: r for r in _drive(retrainer)}
    assert ended[first.id].state == "promoted"


def test_on_busy_queue_runs_the_trigger_after_the_running_one(wine: Wine) -> None:
    """With on_busy=queue, a trigger while one runs waits, then runs after it."""
    _policy(on_busy="queue")
    first = loop.request_retraining(MODEL)
    retrainer = loop.Retrainer()
    retrainer.tick()
    second = loop.request_retraining(MODEL)
    assert second.state == "queued"
    ended = {r.id: r for r in _drive(retrainer)}
    assert ended[first.id].state == "promoted", ended[first.id].summary()
    assert ended[second.id].state == "promoted", ended[second.id].summary()
    started, before_ended = ended[second.id].started_ms, ended[first.id].ended_ms
    assert started is not None and before_ended is not None and started >= before_ended
    assert ended[second.id].champion == ended[first.id].challenger
    assert _champion() == 3


def test_two_retrainers_never_run_two_retrainings_of_one_model(wine: Wine) -> None:
    """Two schedulers ticking together hold at most one running retraining per model."""
    _policy()
    first = loop.request_retraining(MODEL)
    a, b = loop.Retrainer(), loop.Retrainer()
    a.tick()
    b.tick()
    assert a.running() == 1 and b.running() == 0
    second = loop.request_retraining(MODEL)
    seen_running = []

    def done() -> bool:
        a.tick()
        b.tick()
        seen_running.append(len([r for r in loop.list_retrainings(MODEL) if r.state == "running"]))
        return a.running() + b.running() == 0 and all(
            r.is_over for r in loop.list_retrainings(MODEL)
        )

    until(done, every=0.2)
    a.stop(5.0)
    b.stop(5.0)
    assert max(seen_running) == 1
    ended = {r.id: r for r in loop.list_retrainings(MODEL)}
    assert ended[first.id].state == ended[second.id].state == "promoted"
    assert ended[first.id].attempts == ended[second.id].attempts == 1


def test_retraining_of_a_dead_holder_is_taken_over_and_completes(wine: Wine) -> None:
    """A retraining held by a process of this machine that is gone is taken over."""
    _policy()
    queued = loop.request_retraining(MODEL)
    dead = f"{socket.gethostname()}:999999:dead"
    _set_retraining(
        queued.id, state="running", owner=dead, heartbeat_ms=now_ms(), attempts=1,
        started_ms=now_ms(),
    )  # fmt: skip
    [done] = _drive(loop.Retrainer())
    assert done.state == "promoted", done.summary()
    assert done.attempts == 2 and done.owner is None


def test_retraining_with_a_stale_heartbeat_is_taken_over(wine: Wine) -> None:
    """A retraining whose holder (on another machine) stopped beating is taken over."""
    _policy()
    queued = loop.request_retraining(MODEL)
    _set_retraining(
        queued.id, state="running", owner="elsewhere:1:gone", heartbeat_ms=now_ms() - 60_000,
        attempts=1, started_ms=now_ms(),
    )  # fmt: skip
    retrainer = loop.Retrainer(stale_s=30.0)
    [done] = _drive(retrainer)
    assert done.state == "promoted" and done.attempts == 2


def test_retraining_of_a_live_holder_is_left_alone(wine: Wine) -> None:
    """A retraining held by a live scheduler elsewhere, beating, is not taken."""
    _policy()
    queued = loop.request_retraining(MODEL)
    _set_retraining(
        queued.id, state="running", owner="elsewhere:1:alive", heartbeat_ms=now_ms(),
        attempts=1,
    )  # fmt: skip
    retrainer = loop.Retrainer()
    retrainer.tick()
    assert retrainer.running() == 0
    assert loop.get_retraining(queued.id).owner == "elsewhere:1:alive"
    retrainer.stop(5.0)
    assert loop.get_retraining(queued.id).owner == "elsewhere:1:alive"


def test_alert_about_a_version_no_longer_served_is_dropped(wine: Wine) -> None:
    """An alert about version 1 while the champion is version 2 ends its retraining dropped."""
    configure(monitoring={"alerts": ALERT_RULES})
    pipelines.run_pipeline("winepipe:training", params={"C": 0.5}, executor="inline")
    registry.set_alias(MODEL, "champion", 2, reason="by hand")
    _policy(on_alerts=["wine-drift"], on_data=[])
    alert = drift_alert(version=1)
    [done] = _drive(loop.Retrainer())
    assert done.state == "dropped", done.summary()
    assert done.reason == f"alert #{alert.id} is about version 1, and wine@champion serves " \
        "version 2 now"  # fmt: skip
    assert done.pipeline_run is None and _champion() == 2


def test_signature_change_is_refused_unless_allowed(wine: Wine) -> None:
    """A challenger taking other input columns is refused, unless the policy allows it."""
    _extra(wine)
    _policy(pipeline="loopextra:narrow", params={}, require="latency_p99_ms <= 100000")
    refused = loop.request_retraining(MODEL)
    ended = loop.run_retraining(refused.id)
    assert ended.state == "refused", ended.summary()
    assert ended.reason is not None and "signature changed" in ended.reason
    assert "proline" in ended.reason and "allow_signature_change" in ended.reason
    assert _champion() == 1
    _policy(pipeline="loopextra:narrow", params={}, require="latency_p99_ms <= 100000",
            allow_signature_change=True)  # fmt: skip
    ended = loop.run_retraining(loop.request_retraining(MODEL).id)
    assert ended.state == "promoted", ended.summary()
    assert _champion() == ended.challenger


def test_failing_pipeline_fails_the_retraining_with_an_alert(wine: Wine) -> None:
    """A pipeline that fails ends the retraining failed with a loop:failed alert; the
    champion keeps serving."""
    _extra(wine)
    _policy(pipeline="loopextra:failing", params={})
    ended = loop.run_retraining(loop.request_retraining(MODEL).id)
    assert ended.state == "failed", ended.summary()
    assert ended.reason is not None and "loopextra:failing failed" in ended.reason
    assert "the feature store is down" in ended.reason
    assert ended.result_alert_id is not None
    [alert] = monitoring.list_alerts(MODEL)
    assert alert.rule == "loop:failed" and alert.id == ended.result_alert_id
    assert _champion() == 1 and ended.challenger is None


def test_pipeline_registering_no_version_fails_clearly(wine: Wine) -> None:
    """A pipeline that logs no version of the model fails the retraining, saying so."""
    _extra(wine)
    _policy(pipeline="loopextra:silent", params={})
    ended = loop.run_retraining(loop.request_retraining(MODEL).id)
    assert ended.state == "failed", ended.summary()
    assert ended.reason is not None and "registered no version of model wine" in ended.reason
    assert ended.pipeline_run is not None and _champion() == 1


def test_manual_retraining_runs_in_the_foreground(wine: Wine) -> None:
    """request_retraining queues one by hand; run_retraining works on it here to the end."""
    _policy()
    queued = loop.request_retraining(MODEL, reason="new features")
    assert queued.state == "queued" and queued.trigger_kind == "manual"
    assert queued.trigger == "manual: new features"
    ended = loop.run_retraining(queued.id)
    assert ended.state == "promoted" and ended.attempts == 1 and ended.owner is None
    assert loop.run_retraining(queued.id) == loop.get_retraining(queued.id)  # over: as is
    assert _champion() == 2


def test_stop_lets_go_and_the_next_retrainer_resumes(wine: Wine) -> None:
    """Retrainer.stop asks the running retraining to stop and lets go of it; the next
    retrainer takes it up and finishes it."""
    _policy()
    queued = loop.request_retraining(MODEL)
    first = loop.Retrainer()
    first.tick()
    assert loop.get_retraining(queued.id).owner == first.owner
    first.stop(30.0)
    assert first.running() == 0
    held = loop.get_retraining(queued.id)
    assert held.state == "running" and held.owner is None, held
    first.tick()  # a stopped retrainer takes nothing again
    assert first.running() == 0
    [done] = _drive(loop.Retrainer())
    assert done.state == "promoted", done.summary()
    assert done.attempts == 2 and done.owner is None


def test_retraining_whose_policy_was_removed_fails_saying_so(wine: Wine) -> None:
    """A queued retraining whose policy was removed since ends failed, by a retrainer or
    by hand, saying its policy is gone."""
    _policy()
    queued = loop.request_retraining(MODEL)
    loop.remove_policy(MODEL)
    retrainer = loop.Retrainer()
    retrainer.tick()
    retrainer.stop(5.0)
    ended = loop.get_retraining(queued.id)
    assert ended.state == "failed" and ended.owner is None
    assert ended.reason is not None and "its policy is gone" in ended.reason
    _policy()
    again = loop.request_retraining(MODEL)
    loop.remove_policy(MODEL)
    with pytest.raises(NotFoundError, match="no retraining policy"):
        loop.run_retraining(again.id)
    ended = loop.get_retraining(again.id)
    assert ended.state == "failed" and "its policy is gone" in (ended.reason or "")


def _log_predictions(frame: Any, ts_ms: int) -> None:
    """Log ``frame``'s rows as answered by version 1 of wine at ``ts_ms`` (as cairn serve
    does), and seal the log."""
    from cairn.registry import load_model
    from cairn.serving.prediction_log import LoggedBatch, PredictionLog

    inputs = frame.drop(columns="target")
    predictions = load_model(f"models:/{MODEL}/1").predict(inputs)
    log = PredictionLog(group_s=0)
    log.start()
    rows = inputs.to_dict("records")
    ids = [f"r{i}" for i in range(len(rows))]
    batch = LoggedBatch(MODEL, 1, rows, list(predictions), ids, [False] * len(rows), ts_ms=ts_ms)
    assert log.append(batch)
    log.close()


def test_drift_in_the_prediction_log_is_monitored_and_retrains(wine: Wine) -> None:
    """With monitor_window, the retrainer computes the served model's drift windows from its
    prediction log; the drift alert they fire starts the retraining that promotes."""
    from tests.loop.conftest import shifted

    configure(monitoring={"alerts": ALERT_RULES})
    hour = now_ms() // HOUR * HOUR - 2 * HOUR  # a whole hour, over
    _log_predictions(shifted(wine.train), hour + 60_000)
    _policy(on_alerts=["wine-drift"], on_data=[], monitor_window="1h", monitor_every_s=600)
    retrainer = loop.Retrainer()

    def queued() -> list[loop.Retraining]:
        retrainer.tick()
        return loop.list_retrainings(MODEL)

    until(queued)
    [done] = _drive(retrainer)
    assert done.state == "promoted", done.summary()
    [alert] = [a for a in monitoring.list_alerts(MODEL) if a.rule == "wine-drift"]
    assert done.alert_id == alert.id and done.evidence["version"] == 1
    assert done.evidence["window"]["start_ms"] == hour
    assert set(done.evidence["drifted_columns"]) >= {"alcohol", "proline"}


def test_run_retraining_refuses_one_that_waits_or_runs_elsewhere(wine: Wine) -> None:
    """run_retraining of a retraining held by a live scheduler, or waiting behind one, says
    which runs and where, and changes nothing."""
    _policy()
    first = loop.request_retraining(MODEL)
    _set_retraining(first.id, state="running", owner="elsewhere:1:alive", heartbeat_ms=now_ms())
    second = loop.request_retraining(MODEL)
    with pytest.raises(InvalidInputError, match="running under elsewhere:1:alive"):
        loop.run_retraining(first.id)
    with pytest.raises(InvalidInputError, match=f"#{second.id} of wine waits: retraining "
                       f"#{first.id} under elsewhere:1:alive is running"):  # fmt: skip
        loop.run_retraining(second.id)
    assert loop.get_retraining(second.id).state == "queued"
    assert loop.get_retraining(first.id).attempts == 0


def test_placeholders_are_filled_in_when_the_retraining_starts(wine: Wine) -> None:
    """The pipeline gets the data version validated, the window's ISO times, the trigger in
    words and the retraining's number."""
    from datetime import datetime

    from cairn import tracking

    _extra(wine)
    params = {
        "dataset": "{dataset_version}", "start": "{window_start}", "end": "{window_end}",
        "trigger": "{trigger}", "n": "{retraining}",
    }  # fmt: skip
    _policy(pipeline="loopextra:stamped", params=params, dataset="wine", window="7d")
    ended = loop.run_retraining(loop.request_retraining(MODEL, reason="stamps").id)
    assert ended.pipeline_run is not None and ended.dataset_version == "wine@v1"
    got = tracking.get_run(ended.pipeline_run).params
    assert got["dataset"] == "wine@v1" and got["trigger"] == "manual: stamps"
    assert got["n"] == ended.id
    start = datetime.strptime(got["start"], "%Y-%m-%dT%H:%M:%SZ")
    end = datetime.strptime(got["end"], "%Y-%m-%dT%H:%M:%SZ")
    assert (end - start).days == 7


def test_retrainer_refuses_a_bad_owner_or_stale_time() -> None:
    """A Retrainer's owner is text a column holds, and its stale time a positive number."""
    with pytest.raises(InvalidInputError, match="owner"):
        loop.Retrainer(owner="a\x00b")
    with pytest.raises(InvalidInputError, match="stale_s"):
        loop.Retrainer(stale_s=0)
    with pytest.raises(InvalidInputError, match="stale_s"):
        loop.Retrainer(stale_s=float("nan"))
