"""Alerts: rules in the settings, checked against the stored monitoring windows, the
prediction log and the data catalog; each alert stored with its evidence, logged, posted to
webhooks and, for drift, handed to the ``drift_detected`` hook (a pipeline can retrain).

Rules live under ``monitoring:`` in ``cairn.yaml`` (or ``CAIRN_MONITORING`` as JSON, or
``cairn.configure(monitoring=...)``)::

    monitoring:
      webhooks: ["https://hooks.slack.com/services/..."]    # every alert is posted to each
      alerts:
        - {name: churn-drift, model: churn, when: drift_share > 0.3}
        - {name: any-drift, model: "*", when: drift_share}   # the window's own verdict
        - {name: age-drift, model: churn, when: feature_drift, feature: age}
        - {name: churn-quality, model: churn, when: quality_below_training, metric: accuracy,
           margin: 0.05}
        - {name: churn-silent, model: churn, when: no_predictions, for: 6h}
        - {name: stale-customers, dataset: customers, when: stale}

Every rule has a ``name`` (unique; letters, digits, ``-_.:``) and a ``when``:

- ``drift_share > S`` (or ``>= S``; S from 0 to 1): a drift window where that share of the
  columns drifted; ``drift_share`` alone: a window whose verdict is drift. Takes ``model``.
- ``feature_drift``: a drift window where the column ``feature`` drifted (``_prediction`` is
  the model's prediction). Takes ``model`` and ``feature``.
- ``quality_below_training``: a quality window where ``metric`` (accuracy, f1, roc_auc, rmse,
  mae) is worse than the training run's value by more than ``margin`` (scores: absolute,
  default 0.05; errors: relative to the training value, default 0.10). Takes ``model``,
  ``metric`` and optionally ``margin``.
- ``no_predictions``: a model that logged predictions logged none for ``for`` (a duration of
  10 minutes or more: 30m, 6h, 1d; the log is sealed every few minutes). Takes ``model``.
- ``stale``: a catalog dataset whose latest version is older than its declared frequency
  allows (``cairn data edit NAME --frequency daily``). Takes ``dataset``.

``model`` and ``dataset`` may be ``"*"``: every monitored model (or every dataset).

One alert per rule, subject and window: a window is a stored monitoring window (drift and
quality rules look at the newest ``RECENT_WINDOWS`` of each model); for ``no_predictions``
and ``stale`` it is each ``for`` period of silence (each frequency period overdue), so a
lasting condition is reminded once per period, never on every check.

``raise_alert`` stores, logs and posts an alert that code raises (the closed loop's
``loop:refused``, ...) the same way, once per rule, subject and window.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from cairn.core import ids
from cairn.core.checks import (
    check_int,
    check_mapping,
    check_name,
    check_number,
    check_optional_int,
    check_optional_text,
    check_text,
    check_texts,
    show,
)
from cairn.core.errors import InvalidInputError
from cairn.core.logging import logger
from cairn.core.settings import get_settings
from cairn.monitoring import _alert_rules, _queries, _webhooks
from cairn.monitoring._alert_checks import (
    DATA_PREFIX,
    RECENT_WINDOWS,
    Candidate,
    Scope,
    evaluate,
    iso,
    stale,
)
from cairn.monitoring._alert_rules import AlertConfig, AlertRule, read_config
from cairn.store import Store, get_store

__all__ = [
    "RECENT_WINDOWS",
    "Alert",
    "AlertConfig",
    "AlertRule",
    "alert_config",
    "check_alerts",
    "flush_alerts",
    "list_alerts",
    "raise_alert",
]

STUCK_MS = 30 * 60_000  # a pending alert this old lost its process: the next check posts it
RESUBMIT_LIMIT = 50  # pending alerts a check posts again at most
_LAST_MS = 253_402_300_799_999  # 9999-12-31, the last instant a date can show


@dataclass(frozen=True)
class Alert:
    """A fired alert: what it is about, why (the evidence), and how its delivery went."""

    id: int
    rule: str
    condition: str
    subject: str  # a model's name, or data:<dataset>
    window_start_ms: int
    window_end_ms: int
    message: str
    evidence: dict[str, Any]
    fired_ms: int
    delivery: str  # none (no webhook) | pending | delivered | failed
    attempts: int = 0
    last_error: str | None = None

    @property
    def model(self) -> str | None:
        """The model the alert is about (None for a dataset's)."""
        return None if self.subject.startswith(DATA_PREFIX) else self.subject

    def to_dict(self) -> dict[str, Any]:
        """The alert as plain JSON-ready values."""
        return asdict(self)


def alert_config() -> AlertConfig:
    """The alert rules and webhooks of the settings, checked (ConfigError names each problem)."""
    return read_config(get_settings().monitoring)


def check_alerts(
    models: str | Sequence[str] | None = None, *, now_ms: int | None = None
) -> list[Alert]:
    """Evaluate every alert rule now and return the alerts that fired (each once per window).

    ``models`` limits the check to those models' rules (dataset rules then wait for a full
    check). Fired alerts are stored, logged, queued for the webhooks (posted in the
    background: ``flush_alerts`` waits for them) and, for drift, passed to the
    ``drift_detected`` hook once per model version.
    """
    names = _model_names(models)
    now = (
        ids.now_ms() if now_ms is None else check_int(now_ms, "now_ms", minimum=0, maximum=_LAST_MS)
    )
    config = alert_config()
    if not config.rules:
        return []
    store = get_store()
    candidates: list[Candidate] = []
    with store.db.read() as conn:
        scope = Scope(conn, names)
        for rule in config.rules:
            if rule.condition != "stale":
                for model in scope.subjects(rule):
                    candidates.extend(evaluate(scope, rule, model, now))
    stale_rules = [r for r in config.rules if r.condition == "stale"]
    if stale_rules and names is None:
        candidates.extend(stale(stale_rules, now))
    fired = [alert for c in candidates if (alert := _fire(store, c, config, now)) is not None]
    if config.webhooks:
        _resubmit_stuck(store, config, now)
    _publish(store, fired, config)
    _announce_drift(fired)
    return fired


def raise_alert(
    rule: str,
    subject: str,
    message: str,
    evidence: Mapping[str, Any],
    *,
    window_start_ms: int,
    window_end_ms: int,
) -> Alert | None:
    """Store, log and post an alert raised by code rather than by a configured rule (the
    closed loop's ``loop:refused``, ...): once per rule, subject and window (None when that
    one was raised already). ``evidence`` is JSON; its ``condition`` (default ``loop``) is
    the alert's condition."""
    if not isinstance(rule, str) or not _alert_rules._NAME.fullmatch(rule):
        raise InvalidInputError(
            f"rule is a name of letters, digits, '-', '_', '.' or ':' (up to 128), such as "
            f"'loop:refused', not {show(rule)}"
        )
    subject = check_name(subject, "subject", max_length=255).strip()
    check_text(message, "message", empty=False)
    start = check_int(window_start_ms, "window_start_ms", minimum=0, maximum=_LAST_MS)
    end = check_int(window_end_ms, "window_end_ms", minimum=start, maximum=_LAST_MS)
    document = _json_evidence(check_mapping(evidence, "evidence"))
    document.setdefault("condition", "loop")
    condition = check_name(document["condition"], "evidence['condition']", max_length=128)
    store = get_store()
    config = alert_config()
    candidate = Candidate(AlertRule(rule, condition), subject, start, end, message, document)
    alert = _fire(store, candidate, config, ids.now_ms())
    if alert is not None:
        _publish(store, [alert], config)
    return alert


def _json_evidence(evidence: Mapping[Any, Any]) -> dict[str, Any]:
    """``evidence`` as it reads back from the store (JSON), or InvalidInputError."""
    if any(not isinstance(key, str) for key in evidence):
        raise InvalidInputError("evidence's keys are texts; convert the others with str()")
    try:
        document = json.loads(json.dumps(dict(evidence), allow_nan=False))
    except (TypeError, ValueError, RecursionError) as exc:
        raise InvalidInputError(
            f"evidence must be JSON (texts, finite numbers, true/false, null, lists and "
            f"mappings): {str(exc)[:200]}; convert other values (str(), float(), .tolist())"
        ) from None
    assert isinstance(document, dict)
    return document


def _publish(store: Store, fired: list[Alert], config: AlertConfig) -> None:
    """Log each fired alert and queue it for the webhooks."""
    for alert in fired:
        logger.warning("alert %s: %s", alert.rule, alert.message)
        if config.webhooks:
            body = webhook_body(alert)
            _webhooks.submit(_webhooks.Delivery(store, alert.id, body, config.webhooks))


def flush_alerts(timeout: float = 30.0) -> bool:
    """Wait up to ``timeout`` seconds for queued webhook deliveries; return whether none is
    left (each one's outcome is recorded on its alert)."""
    seconds = check_number(timeout, "timeout", finite=True)
    if seconds < 0:
        raise InvalidInputError(f"timeout must be a number of seconds >= 0, not {timeout!r}")
    return _webhooks.flush(seconds)


def list_alerts(
    subject: str | None = None, *, limit: int | None = 50, alert_ids: Iterable[int] | None = None
) -> list[Alert]:
    """Stored alerts, newest first: of one model (or ``data:<dataset>``), or every one.

    ``alert_ids`` keeps only those alerts (the ones a check just fired)."""
    subject = check_optional_text(subject, "subject", empty=False, max_length=255)
    limit = check_optional_int(limit, "limit", minimum=1)
    wanted = None if alert_ids is None else {check_int(i, "alert id") for i in alert_ids}
    with get_store().db.read() as conn:
        rows = _queries.alerts(
            conn,
            subject=None if subject is None else subject.strip(),
            limit=None if wanted is not None else limit,
        )
    found = [_alert(row) for row in rows if wanted is None or row.id in wanted]
    return found if limit is None else found[:limit]


def webhook_body(alert: Alert) -> dict[str, Any]:
    """The JSON posted for ``alert``: ``text`` (what Slack and Microsoft Teams incoming
    webhooks show) and the details under ``cairn``."""
    return {
        "text": f"cairn alert {alert.rule}: {alert.message}",
        "cairn": {
            "id": alert.id,
            "rule": alert.rule,
            "condition": alert.condition,
            "subject": alert.subject,
            "window_start": iso(alert.window_start_ms),
            "window_end": iso(alert.window_end_ms),
            "fired": iso(alert.fired_ms),
            "evidence": alert.evidence,
        },
    }


# -- firing -----------------------------------------------------------------------------------


def _fire(store: Store, candidate: Candidate, config: AlertConfig, now: int) -> Alert | None:
    delivery = "pending" if config.webhooks else "none"

    def insert(conn: Connection) -> int | None:
        return _queries.insert_alert(
            conn,
            rule=candidate.rule.name,
            subject=candidate.subject,
            window_start_ms=candidate.start_ms,
            window_end_ms=candidate.end_ms,
            message=candidate.message,
            evidence=candidate.evidence,
            delivery=delivery,
            now=now,
        )

    try:
        alert_id = store.db.transact(insert)
    except IntegrityError:  # another check stored it between our look and our insert
        return None
    if alert_id is None:
        return None
    return Alert(
        id=alert_id,
        rule=candidate.rule.name,
        condition=candidate.rule.condition,
        subject=candidate.subject,
        window_start_ms=candidate.start_ms,
        window_end_ms=candidate.end_ms,
        message=candidate.message,
        evidence=candidate.evidence,
        fired_ms=now,
        delivery=delivery,
    )


def _resubmit_stuck(store: Store, config: AlertConfig, now: int) -> None:
    """Post again the alerts still pending long after they fired: the process that fired
    them ended before their webhooks answered (delivery is at least once, never lost)."""
    with store.db.read() as conn:
        rows = _queries.alerts(conn, delivery="pending", limit=RESUBMIT_LIMIT)
    mine = _webhooks.in_flight()
    for row in rows:
        if row.fired_ms > now - STUCK_MS or row.id in mine:
            continue
        logger.info("alert %s is still pending since %s; posting it again", row.id, row.fired_ms)
        alert = _alert(row)
        _webhooks.submit(_webhooks.Delivery(store, alert.id, webhook_body(alert), config.webhooks))


def _announce_drift(fired: list[Alert]) -> None:
    """Call the drift_detected hook once per model version with drift alerts (the newest)."""
    drift = [a for a in fired if a.condition in ("drift_share", "feature_drift")]
    if not drift:
        return
    newest: dict[tuple[str, int | None], Alert] = {}
    for alert in sorted(drift, key=lambda a: a.window_start_ms):
        version = alert.evidence.get("version")
        newest[(alert.subject, version if isinstance(version, int) else None)] = alert
    from cairn.core.plugins import plugin_manager

    hook = plugin_manager().hook
    for (model, version), alert in newest.items():
        details = {
            "alert_id": alert.id,
            "rule": alert.rule,
            "condition": alert.condition,
            "window_start_ms": alert.window_start_ms,
            "window_end_ms": alert.window_end_ms,
            "share": alert.evidence.get("share"),
            "drifted_columns": alert.evidence.get("drifted_columns"),
            "feature": alert.evidence.get("feature"),
            "alerts": [a.id for a in drift if a.subject == model],
            "message": alert.message,
        }
        try:
            hook.cairn_drift_detected(model=model, version=version, details=details)
        except Exception as exc:  # a plugin's failure must not lose the alert
            logger.warning(
                "the drift_detected hook failed for %s v%s (alert %s): %s",
                model,
                version,
                alert.id,
                exc,
            )


def _alert(row: _queries.AlertRow) -> Alert:
    condition = row.evidence.get("condition") if isinstance(row.evidence, dict) else None
    return Alert(
        id=row.id,
        rule=row.rule,
        condition=str(condition or ""),
        subject=row.subject,
        window_start_ms=row.window_start_ms,
        window_end_ms=row.window_end_ms,
        message=row.message,
        evidence=row.evidence if isinstance(row.evidence, dict) else {},
        fired_ms=row.fired_ms,
        delivery=row.delivery,
        attempts=row.attempts,
        last_error=row.last_error,
    )


# -- small helpers ----------------------------------------------------------------------------


def _model_names(models: str | Sequence[str] | None) -> list[str] | None:
    if models is None:
        return None
    return [m.strip() for m in check_texts(models, "models", empty=False, max_length=128)]
