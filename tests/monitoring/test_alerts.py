"""Alert rules: evaluated against stored windows, the prediction log and the catalog; one
alert per rule per window; delivered to webhooks in the background, retried, failures
surfaced; drift alerts reach the drift_detected hook."""

from __future__ import annotations

import json
import math
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select, update

import cairn
from cairn.cli.main import main
from cairn.core.errors import ConfigError, InvalidInputError
from cairn.core.settings import configure
from cairn.monitoring import (
    _queries,
    alert_config,
    check_alerts,
    flush_alerts,
    list_alerts,
    raise_alert,
)
from cairn.store import Store, get_store
from cairn.store.db.schema import dataset_versions, pipeline_events, prediction_log_files

HOUR = 3_600_000
T0 = 1_796_000_400_000  # 2026-11-30 (aligned to the hour)


class Receiver:
    """A webhook receiver on 127.0.0.1 that records what it is sent and answers as scripted."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.failures = 0  # answer 500 to this many requests first
        self.delay_s = 0.0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length))
                time.sleep(receiver.delay_s)
                receiver.paths.append(self.path)
                receiver.bodies.append(body)
                if receiver.failures > 0:
                    receiver.failures -= 1
                    self.send_response(500)
                else:
                    self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/services/T0/B0/secret"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook receiver started for the test."""
    made = Receiver()
    yield made
    made.close()


@pytest.fixture(autouse=True)
def _deliveries_end() -> Iterator[None]:
    """No delivery of one test runs on into the next."""
    yield
    flush_alerts(30)


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/services/T0/B0/secret"


def _rules(*rules: dict[str, Any], webhooks: list[str] | None = None) -> None:
    # New settings open a new store: the helpers below write through get_store(), never a
    # store object the test was handed before.
    configure(monitoring={"alerts": list(rules), "webhooks": webhooks or []})


def _drift_window(
    start_ms: int,
    drifted: list[str],
    *,
    model: str = "churn",
    version: int = 3,
    columns: tuple[str, ...] = ("age", "income", "plan", "_prediction"),
) -> int:
    """Store a drift window whose ``drifted`` columns drifted (the result as DriftReport's)."""
    share = len(drifted) / len(columns)
    result = {
        "verdict": "drift" if share >= 0.5 else "no drift",
        "share": share,
        "threshold": 0.5,
        "reference_rows": 5000,
        "current_rows": 800,
        "drifted_columns": drifted,
        "findings": [],
        "columns": [
            {
                "column": name,
                "kind": "numeric",
                "verdict": "drift" if name in drifted else "no drift",
                "test": "wasserstein+ks",
                "statistic": 0.3 if name in drifted else 0.01,
                "p_value": 1e-9 if name in drifted else 0.6,
                "effect": 0.5 if name in drifted else 0.01,
                "reference_rows": 5000,
                "current_rows": 800,
            }
            for name in columns
        ],
    }
    return get_store().db.transact(
        lambda conn: _queries.save_window(
            conn,
            model=model,
            version=version,
            kind="drift",
            start_ms=start_ms,
            end_ms=start_ms + HOUR,
            rows=800,
            verdict=result["verdict"],
            score=share,
            result=result,
            digest=None,
            now=start_ms + HOUR,
        )
    )


def _quality_window(start_ms: int, metrics: dict[str, tuple[float, float]]) -> None:
    result = {
        "task": "classification",
        "metrics": {m: {"value": v, "training": t} for m, (v, t) in metrics.items()},
    }
    get_store().db.transact(
        lambda conn: _queries.save_window(
            conn,
            model="churn",
            version=3,
            kind="quality",
            start_ms=start_ms,
            end_ms=start_ms + HOUR,
            rows=500,
            verdict="ok",
            score=None,
            result=result,
            digest=None,
            now=start_ms + HOUR,
        )
    )


def test_a_drift_alert_fires_once_per_window_and_reaches_the_webhook(
    store: Store, receiver: Receiver
) -> None:
    """A drifting window fires once (a second check fires nothing), and the webhook gets a
    body Slack and Teams accept: text plus the details under "cairn"."""
    _rules(
        {"name": "churn-drift", "model": "churn", "when": "drift_share > 0.3"},
        webhooks=[receiver.url],
    )
    _drift_window(T0, ["age", "income"])
    _drift_window(T0 + HOUR, [])
    fired = check_alerts()
    assert [(a.rule, a.subject, a.window_start_ms) for a in fired] == [("churn-drift", "churn", T0)]
    assert fired[0].delivery == "pending"
    assert check_alerts() == []
    _drift_window(T0 + 2 * HOUR, ["age", "plan", "income"])
    assert [a.window_start_ms for a in check_alerts()] == [T0 + 2 * HOUR]
    assert flush_alerts(30)
    assert len(receiver.bodies) == 2
    body = receiver.bodies[0]
    assert isinstance(body["text"], str) and "churn-drift" in body["text"] and "age" in body["text"]
    assert body["cairn"]["rule"] == "churn-drift"
    assert body["cairn"]["evidence"]["drifted_columns"] == ["age", "income"]
    assert body["cairn"]["evidence"]["window"]["start_ms"] == T0
    assert receiver.paths == ["/services/T0/B0/secret"] * 2
    stored = list_alerts("churn")
    assert [a.delivery for a in stored] == ["delivered", "delivered"]
    assert [a.attempts for a in stored] == [1, 1]
    assert stored[0].evidence["share"] == 0.75  # newest first


def test_a_failing_webhook_is_retried_until_delivered(store: Store, receiver: Receiver) -> None:
    """A receiver that fails twice and then answers gets the alert on the third attempt."""
    receiver.failures = 2
    _rules({"name": "d", "model": "churn", "when": "drift_share"}, webhooks=[receiver.url])
    _drift_window(T0, ["age", "income"])
    (alert,) = check_alerts()
    assert flush_alerts(30)
    assert len(receiver.bodies) == 3
    (stored,) = list_alerts()
    assert (stored.id, stored.delivery, stored.attempts, stored.last_error) == (
        alert.id,
        "delivered",
        3,
        None,
    )


def test_a_slow_webhook_never_holds_up_the_check(store: Store, receiver: Receiver) -> None:
    """check_alerts returns at once while a slow receiver is still answering."""
    receiver.delay_s = 1.5
    _rules({"name": "d", "model": "churn", "when": "drift_share"}, webhooks=[receiver.url])
    _drift_window(T0, ["age", "income"])
    started = time.monotonic()
    assert len(check_alerts()) == 1
    assert time.monotonic() - started < 1.0
    assert flush_alerts(30)
    assert [a.delivery for a in list_alerts()] == ["delivered"]


def test_an_unreachable_webhook_ends_failed_is_shown_and_check_exits_1(
    store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    """An unreachable webhook: the alert is stored as failed after 3 attempts (the URL's secret
    path never shown), `cairn monitor alerts` shows it, and `cairn monitor check` exits 1."""
    url = _closed_port_url()
    _rules({"name": "d", "model": "churn", "when": "drift_share"}, webhooks=[url])
    _drift_window(T0, ["age", "income"])
    started = time.monotonic()
    assert len(check_alerts()) == 1
    assert time.monotonic() - started < 1.0
    assert flush_alerts(30)
    (stored,) = list_alerts()
    assert (stored.delivery, stored.attempts) == ("failed", 3)
    assert stored.last_error and "127.0.0.1" in stored.last_error
    assert "secret" not in stored.last_error

    code, out, _ = _cli(capsys, "monitor", "alerts", "churn")
    assert code == 0 and "failed after 3 attempt(s)" in out and "d" in out
    code, out, _ = _cli(capsys, "monitor", "alerts", "--json")
    assert code == 0 and json.loads(out)[0]["delivery"] == "failed"

    _drift_window(T0 + HOUR, ["age", "plan"])
    code, out, err = _cli(capsys, "monitor", "check", "churn")
    assert code == 1
    assert "not delivered" in err and "churn" in out


def test_an_alert_left_pending_by_a_process_that_ended_is_posted_by_the_next_check(
    store: Store, receiver: Receiver
) -> None:
    """An alert still pending long after it fired (its process ended first) is posted again
    by the next check and ends delivered."""
    _rules({"name": "d", "model": "churn", "when": "drift_share"}, webhooks=[receiver.url])
    fired_ms = int(time.time() * 1000) - 2 * HOUR
    alert_id = get_store().db.transact(
        lambda conn: _queries.insert_alert(
            conn,
            rule="d",
            subject="churn",
            window_start_ms=T0,
            window_end_ms=T0 + HOUR,
            message="churn drifted",
            evidence={"condition": "drift_share"},
            delivery="pending",
            now=fired_ms,
        )
    )
    assert check_alerts() == []
    assert flush_alerts(30)
    assert [b["cairn"]["id"] for b in receiver.bodies] == [alert_id]
    assert [a.delivery for a in list_alerts()] == ["delivered"]


def test_arguments_the_store_cannot_keep_are_refused(store: Store) -> None:
    """Model names, limits and times that are not usable are refused with a clear error."""
    _rules({"name": "d", "model": "churn", "when": "drift_share"})
    with pytest.raises(InvalidInputError, match="NUL"):
        check_alerts(models=["chu\x00rn"])
    with pytest.raises(InvalidInputError, match="now_ms"):
        check_alerts(now_ms=2**70)
    with pytest.raises(InvalidInputError, match="limit"):
        list_alerts(limit=0)
    with pytest.raises(InvalidInputError, match="timeout"):
        flush_alerts(-1)


def test_check_prints_nothing_fired_and_exits_0(
    store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    """`cairn monitor check` with nothing to fire says so on stderr and exits 0."""
    _rules({"name": "d", "model": "churn", "when": "drift_share > 0.9"})
    _drift_window(T0, ["age"])
    code, out, err = _cli(capsys, "monitor", "check")
    assert (code, out) == (0, "")
    assert "no alert fired" in err


def test_check_without_rules_says_how_to_add_them(
    store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    """`cairn monitor check` with no rule says where rules go and exits 0."""
    code, out, err = _cli(capsys, "monitor", "check")
    assert (code, out) == (0, "")
    assert "monitoring.alerts in cairn.yaml" in err


def test_drift_alerts_reach_the_drift_detected_hook(store: Store) -> None:
    """A drift alert records the pipelines event drift_detected (once per model version)."""
    _rules(
        {"name": "share", "model": "churn", "when": "drift_share > 0.3"},
        {"name": "age", "model": "churn", "when": "feature_drift", "feature": "age"},
    )
    _drift_window(T0, ["age", "income"])
    _drift_window(T0 + HOUR, ["age", "plan"])
    assert len(check_alerts()) == 4
    with get_store().db.read() as conn:
        rows = conn.execute(select(pipeline_events)).all()
    assert [row.name for row in rows] == ["drift_detected"]
    payload = json.loads(rows[0].payload)
    assert (payload["model"], payload["version"]) == ("churn", 3)
    assert payload["details"]["window_start_ms"] == T0 + HOUR
    check_alerts()  # nothing new: no new event
    with get_store().db.read() as conn:
        assert len(conn.execute(select(pipeline_events)).all()) == 1


def test_feature_drift_fires_only_where_the_feature_drifted(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    """feature_drift fires on the windows where its column drifted; a column no window has
    is logged as a problem of the rule."""
    _rules(
        {"name": "age", "model": "churn", "when": "feature_drift", "feature": "age"},
        {"name": "typo", "model": "churn", "when": "feature_drift", "feature": "agee"},
    )
    _drift_window(T0, ["income"])
    _drift_window(T0 + HOUR, ["age"])
    fired = check_alerts()
    assert [(a.rule, a.window_start_ms) for a in fired] == [("age", T0 + HOUR)]
    assert fired[0].evidence["column"]["effect"] == 0.5
    assert "'agee'" in caplog.text and "age, income" in caplog.text


def test_every_model_rule_and_the_models_filter(store: Store) -> None:
    """model "*" covers every monitored model; check_alerts(models=[...]) checks only those."""
    _rules({"name": "any", "model": "*", "when": "drift_share > 0.3"})
    _drift_window(T0, ["age", "income"], model="churn")
    _drift_window(T0, ["age", "income"], model="fraud", version=1)
    assert [a.subject for a in check_alerts(models=["fraud"])] == ["fraud"]
    assert [a.subject for a in check_alerts()] == ["churn"]


def test_quality_below_training(store: Store) -> None:
    """A score below the training value by more than the margin fires; within it does not;
    an error metric counts relative to the training value."""
    _rules(
        {
            "name": "acc",
            "model": "churn",
            "when": "quality_below_training",
            "metric": "accuracy",
            "margin": 0.05,
        },
        {"name": "rmse", "model": "churn", "when": "quality_below_training", "metric": "rmse"},
    )
    _quality_window(T0, {"accuracy": (0.88, 0.9), "rmse": (1.05, 1.0)})
    _quality_window(T0 + HOUR, {"accuracy": (0.80, 0.9), "rmse": (1.2, 1.0)})
    fired = check_alerts()
    assert sorted((a.rule, a.window_start_ms) for a in fired) == [
        ("acc", T0 + HOUR),
        ("rmse", T0 + HOUR),
    ]
    acc = next(a for a in fired if a.rule == "acc")
    assert (acc.evidence["value"], acc.evidence["training"]) == (0.80, 0.9)
    assert "accuracy 0.8 is below the training run's 0.9" in acc.message


def test_no_predictions(store: Store) -> None:
    """A served model silent for the rule's period fires once per period of silence; a
    model that never served fires nothing."""
    _rules(
        {"name": "silent", "model": "churn", "when": "no_predictions", "for": "6h"},
        {"name": "never", "model": "fraud", "when": "no_predictions", "for": "1h"},
    )
    get_store().db.transact(
        lambda conn: conn.execute(
            insert(prediction_log_files).values(
                model="churn",
                version=3,
                day="2026-11-30",
                digest="blake3:" + "0" * 64,
                rows=10,
                first_ms=T0 - HOUR,
                last_ms=T0,
                created_ms=T0,
            )
        )
    )
    assert check_alerts(now_ms=T0 + 5 * HOUR) == []
    (alert,) = check_alerts(now_ms=T0 + 7 * HOUR)
    assert (alert.subject, alert.window_start_ms, alert.window_end_ms) == (
        "churn",
        T0 + 6 * HOUR,
        T0 + 12 * HOUR,
    )
    assert alert.evidence["last_prediction_ms"] == T0
    assert check_alerts(now_ms=T0 + 11 * HOUR) == []
    assert [a.window_start_ms for a in check_alerts(now_ms=T0 + 13 * HOUR)] == [T0 + 12 * HOUR]


def test_a_stale_dataset(store: Store, project: Path) -> None:
    """A dataset past its declared frequency fires once per overdue period."""
    folder = project / "customers"
    folder.mkdir()
    (folder / "rows.csv").write_text("id\n1\n")
    cairn.data.add(folder, "customers", frequency="daily")
    (folder / "rows.csv").write_text("id\n1\n2\n")
    cairn.data.add(folder, "orders")  # no frequency: never stale
    _rules({"name": "stale", "dataset": "*", "when": "stale"})
    assert check_alerts() == []
    old = int(time.time() * 1000) - 3 * 86_400_000 - 3_600_000
    get_store().db.transact(
        lambda conn: conn.execute(update(dataset_versions).values(created_ms=old))
    )
    (alert,) = check_alerts()
    assert alert.subject == "data:customers"
    assert alert.window_start_ms == old + 3 * 86_400_000
    assert "daily" in alert.message and alert.evidence["latest_version"] == 1
    assert check_alerts() == []
    assert check_alerts(models=["churn"]) == []  # a models check leaves datasets alone


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        (
            {"alerts": [{"name": "a", "model": "churn", "when": "drif_share"}]},
            "monitoring.alerts[0].when (rule 'a'): unknown condition 'drif_share'; use one of "
            "drift_share, feature_drift",
        ),
        (
            {"alerts": [{"name": "a", "model": "churn", "when": "feature_drift"}]},
            "monitoring.alerts[0].feature (rule 'a'): a feature_drift rule needs feature",
        ),
        (
            {"alerts": [{"name": "a", "model": "m", "when": "drift_share > 1.5"}]},
            "must be a number from 0 to 1",
        ),
        (
            {"alerts": [{"name": "a", "model": "m", "when": "no_predictions", "for": "2m"}]},
            "monitoring.alerts[0].for (rule 'a'): a duration of at least 10 minutes",
        ),
        (
            {"alerts": [{"name": "a", "model": "m", "when": "stale"}]},
            "monitoring.alerts[0].model (rule 'a'): unknown key for a stale rule",
        ),
        (
            {"alerts": [{"when": "stale", "dataset": "d"}]},
            "monitoring.alerts[0].name: give each rule a name",
        ),
        (
            {"alerts": [{"name": "a", "dataset": "d", "when": "stale"}] * 2},
            "monitoring.alerts[1].name: 'a' is also the name of monitoring.alerts[0]",
        ),
        (
            {
                "alerts": [
                    {
                        "name": "q",
                        "model": "m",
                        "when": "quality_below_training",
                        "metric": "accuracy",
                        "margin": -1,
                    }
                ]
            },
            "monitoring.alerts[0].margin (rule 'q'): a number of 0 or more",
        ),
        ({"alerts": {"name": "a"}}, "monitoring.alerts: a list of rules"),
        ({"webhooks": ["file:///etc/passwd"]}, "monitoring.webhooks[0]: 'file://"),
        ({"webhooks": ["hooks.slack.com/services/x"]}, "is not an http:// or https:// URL"),
        ({"alert": []}, "monitoring: unknown key(s) 'alert'; use alerts, webhooks"),
    ],
)
def test_bad_rules_are_refused_with_the_rule_and_key_named(
    store: Store, settings: dict[str, Any], expected: str
) -> None:
    """A rule or webhook monitoring cannot use is refused, naming where it is and what to do."""
    configure(monitoring=settings)
    with pytest.raises(ConfigError) as error:
        check_alerts()
    assert expected in str(error.value)


def test_rules_from_the_environment_and_cairn_yaml(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rules come from cairn.yaml, and CAIRN_MONITORING (JSON) replaces them."""
    (project / "cairn.yaml").write_text(
        "monitoring:\n"
        "  webhooks: ['https://hooks.slack.com/services/x']\n"
        "  alerts:\n"
        "    - {name: churn-drift, model: churn, when: drift_share >= 0.3}\n"
    )
    configure()
    config = alert_config()
    assert config.webhooks == ("https://hooks.slack.com/services/x",)
    (rule,) = config.rules
    assert (rule.name, rule.model, rule.threshold, rule.inclusive) == (
        "churn-drift",
        "churn",
        0.3,
        True,
    )
    monkeypatch.setenv(
        "CAIRN_MONITORING",
        json.dumps({"alerts": [{"name": "s", "dataset": "*", "when": "stale"}]}),
    )
    configure()
    assert [r.name for r in alert_config().rules] == ["s"]


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run the CLI in-process; return (exit code, stdout, stderr)."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


# -- alerts raised by code (the closed loop) ---------------------------------------------------


def test_a_raised_alert_is_stored_listed_posted_and_raised_once_per_window(
    store: Store, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    """raise_alert stores the alert like a fired rule's (condition "loop" by default), logs it,
    posts it to the configured webhooks, and raises it once per rule, subject and window."""
    _rules(webhooks=[receiver.url])
    evidence = {"champion": "churn/3", "challenger": "churn/4", "metrics": {"f1": [0.9, 0.8]}}
    with caplog.at_level("WARNING", logger="cairn"):
        alert = raise_alert(
            "loop:refused",
            "churn",
            "churn/4 not promoted: f1 0.8 < 0.9",
            evidence,
            window_start_ms=T0,
            window_end_ms=T0 + HOUR,
        )
    assert alert is not None
    assert (alert.rule, alert.condition, alert.subject, alert.delivery) == (
        "loop:refused",
        "loop",
        "churn",
        "pending",
    )
    assert alert.evidence == {**evidence, "condition": "loop"}
    assert "loop:refused" in caplog.text and "not promoted" in caplog.text
    again = raise_alert(
        "loop:refused", "churn", "again", evidence, window_start_ms=T0, window_end_ms=T0 + HOUR
    )
    assert again is None
    later = raise_alert(
        "loop:refused",
        "churn",
        "refused again",
        {"condition": "promotion_rule"},
        window_start_ms=T0 + HOUR,
        window_end_ms=T0 + 2 * HOUR,
    )
    assert later is not None and later.condition == "promotion_rule"
    assert flush_alerts(30)
    assert sorted(b["cairn"]["id"] for b in receiver.bodies) == [alert.id, later.id]
    body = next(b for b in receiver.bodies if b["cairn"]["id"] == alert.id)
    assert "loop:refused" in body["text"] and "not promoted" in body["text"]
    assert body["cairn"]["evidence"]["metrics"] == {"f1": [0.9, 0.8]}
    stored = list_alerts("churn")
    assert [(a.id, a.condition, a.delivery) for a in stored] == [
        (later.id, "promotion_rule", "delivered"),
        (alert.id, "loop", "delivered"),
    ]
    assert stored[1].evidence == alert.evidence


def test_a_raised_alert_without_webhooks_is_stored_undelivered(store: Store) -> None:
    """Without webhooks the raised alert is stored with delivery "none"."""
    _rules()
    alert = raise_alert(
        "loop:data-failed", "data:wine-holdout", "the holdout failed validation", {},
        window_start_ms=T0, window_end_ms=T0,
    )  # fmt: skip
    assert alert is not None and alert.delivery == "none" and alert.model is None
    assert [a.id for a in list_alerts("data:wine-holdout")] == [alert.id]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"rule": "loop refused"}, "letters, digits"),
        ({"rule": "x" * 129}, "up to 128"),
        ({"rule": 3}, "letters, digits"),
        ({"subject": "chu\x00rn"}, "NUL"),
        ({"subject": ""}, "subject"),
        ({"message": ""}, "message"),
        ({"evidence": {"when": object()}}, "evidence must be JSON"),
        ({"evidence": {"value": math.nan}}, "evidence must be JSON"),
        ({"evidence": {1: "one"}}, "keys are texts"),
        ({"evidence": ["not", "a", "mapping"]}, "evidence must be a mapping"),
        ({"evidence": {"condition": 7}}, "condition"),
        ({"window_start_ms": -1}, "window_start_ms"),
        ({"window_end_ms": T0 - 1}, "window_end_ms"),
        ({"window_end_ms": 2**70}, "window_end_ms"),
    ],
)
def test_a_raised_alert_refuses_what_it_cannot_store(
    store: Store, change: dict[str, Any], message: str
) -> None:
    """Bad rule names, subjects, messages, non-JSON evidence and windows are refused with an
    InvalidInputError, and nothing is stored."""
    _rules()
    arguments: dict[str, Any] = {
        "rule": "loop:refused",
        "subject": "churn",
        "message": "refused",
        "evidence": {},
        "window_start_ms": T0,
        "window_end_ms": T0 + HOUR,
        **change,
    }
    with pytest.raises(InvalidInputError, match=message):
        raise_alert(**arguments)
    assert list_alerts() == []
