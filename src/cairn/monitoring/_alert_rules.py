"""The alert rules and webhooks of the ``monitoring:`` settings, read and checked.

The grammar is described in ``cairn.monitoring.alerts``; this module turns the settings
mapping into ``AlertRule`` objects and refuses, with the rule and the key named, anything it
cannot use.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from cairn.core.checks import check_name
from cairn.core.errors import ConfigError, InvalidInputError
from cairn.monitoring.windows import parse_window

CONDITIONS = ("drift_share", "feature_drift", "quality_below_training", "no_predictions", "stale")
#: The keys each condition takes besides ``name`` and ``when``.
_KEYS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {  # (required, optional)
    "drift_share": (("model",), ()),
    "feature_drift": (("model", "feature"), ()),
    "quality_below_training": (("model", "metric"), ("margin",)),
    "no_predictions": (("model", "for"), ()),
    "stale": (("dataset",), ()),
}
#: Metrics where a larger value is worse (the error metrics); the others are better larger.
LOWER_IS_BETTER = frozenset({"mae", "mse", "rmse", "mape", "log_loss", "logloss", "brier"})
SCORE_MARGIN = 0.05  # default: a score this far (absolute) below the training value
ERROR_MARGIN = 0.10  # default: an error this much (relative) above the training value
TOP_KEYS = ("alerts", "webhooks")
MIN_SILENCE_MS = 600_000  # the prediction log is sealed every few minutes: shorter is noise
_WHEN = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:(>=|>)\s*(\S+))?\s*")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}")


@dataclass(frozen=True)
class AlertRule:
    """One alert rule of ``monitoring.alerts``."""

    name: str
    condition: str  # one of CONDITIONS
    model: str | None = None  # a model name, "*" (every one), or None (dataset rules)
    dataset: str | None = None  # stale: a dataset name or "*"
    feature: str | None = None  # feature_drift: the column
    metric: str | None = None  # quality_below_training: the metric
    margin: float | None = None  # quality_below_training: how far worse counts (None: default)
    threshold: float | None = None  # drift_share: the share it must pass (None: the verdict)
    inclusive: bool = False  # drift_share: ">=" rather than ">"
    silence_ms: int | None = None  # no_predictions: how long without a prediction

    @property
    def effective_margin(self) -> float:
        """The margin of a quality rule (the given one, else the default for its metric)."""
        if self.margin is not None:
            return self.margin
        return ERROR_MARGIN if self.metric in LOWER_IS_BETTER else SCORE_MARGIN

    @property
    def is_drift(self) -> bool:
        """Whether the rule is about drift (its alerts reach the drift_detected hook)."""
        return self.condition in ("drift_share", "feature_drift")

    def covers(self, model: str) -> bool:
        """Whether the rule applies to ``model``."""
        return self.model in ("*", model)


@dataclass(frozen=True)
class AlertConfig:
    """The alert rules and the webhooks every alert is posted to."""

    rules: tuple[AlertRule, ...]
    webhooks: tuple[str, ...]


def read_config(settings: Mapping[str, Any]) -> AlertConfig:
    """Read and check the ``monitoring`` settings; raise ConfigError naming every problem."""
    problems: list[str] = []
    unknown = sorted(str(k) for k in settings if k not in TOP_KEYS)
    if unknown:
        problems.append(
            f"monitoring: unknown key(s) {', '.join(map(repr, unknown))}; use {', '.join(TOP_KEYS)}"
        )
    webhooks = _webhooks(settings.get("webhooks"), problems)
    rules: list[AlertRule] = []
    raw_rules = settings.get("alerts")
    if raw_rules is None:
        raw_rules = []
    if not isinstance(raw_rules, list):
        problems.append(
            f"monitoring.alerts: a list of rules, not {type(raw_rules).__name__}; e.g. "
            "[{name: churn-drift, model: churn, when: drift_share > 0.3}]"
        )
        raw_rules = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(raw_rules):
        rule = _rule(index, raw, problems)
        if rule is None:
            continue
        if rule.name in seen:
            problems.append(
                f"monitoring.alerts[{index}].name: {rule.name!r} is also the name of "
                f"monitoring.alerts[{seen[rule.name]}]; give each rule its own name"
            )
            continue
        seen[rule.name] = index
        rules.append(rule)
    if problems:
        raise ConfigError(
            "invalid monitoring settings (cairn.yaml, CAIRN_MONITORING or "
            "cairn.configure(monitoring=...)):\n  " + "\n  ".join(problems)
        )
    return AlertConfig(tuple(rules), tuple(webhooks))


def _webhooks(value: Any, problems: list[str]) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        problems.append(f"monitoring.webhooks: a list of http(s) URLs, not {type(value).__name__}")
        return []
    found = []
    for index, url in enumerate(value):
        where = f"monitoring.webhooks[{index}]"
        if not isinstance(url, str):
            problems.append(f"{where}: a URL (text), not {type(url).__name__}")
            continue
        parts = urlsplit(url.strip())
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            problems.append(
                f"{where}: {redact(url)!r} is not an http:// or https:// URL; give the "
                "incoming webhook's URL, e.g. https://hooks.slack.com/services/..."
            )
            continue
        found.append(url.strip())
    return found


def redact(url: str) -> str:
    """The URL without its path and query (a webhook's path is its secret)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unreadable URL>"
    if not parts.scheme or not parts.netloc:
        return url[:12] + ("..." if len(url) > 12 else "")
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}/..."


def _rule(index: int, raw: Any, problems: list[str]) -> AlertRule | None:
    where = f"monitoring.alerts[{index}]"
    if not isinstance(raw, Mapping):
        problems.append(
            f"{where}: a rule is a mapping (name, when, model or dataset, ...), not "
            f"{type(raw).__name__}"
        )
        return None
    count = len(problems)
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        problems.append(
            f"{where}.name: give each rule a name of letters, digits, '-', '_', '.' or ':' "
            f"(up to 128), not {name!r}"
        )
        name = None
    named = f" (rule {name!r})" if name else ""

    def at(key: str) -> str:
        return f"{where}.{key}{named}"

    condition, threshold, inclusive = _when(raw.get("when"), at("when"), problems)
    if condition is None:
        return None
    required, optional = _KEYS[condition]
    allowed = {"name", "when", *required, *optional}
    for key in raw:
        if key not in allowed:
            problems.append(
                f"{at(str(key))}: unknown key for a {condition} rule; it takes "
                f"{', '.join(sorted(allowed))}"
            )
    for key in required:
        if raw.get(key) in (None, ""):
            problems.append(f"{at(key)}: a {condition} rule needs {key}")
    if len(problems) > count:
        return None
    values: dict[str, Any] = {}
    for key in ("model", "dataset", "feature", "metric"):
        if key in raw:
            try:
                value = check_name(raw[key], "it", max_length=255)
            except InvalidInputError as exc:
                problems.append(f"{at(key)}: a name (text, 1 to 255 characters): {exc}")
                continue
            values[key] = value.strip()
    if "metric" in values:
        values["metric"] = values["metric"].lower()
    if "margin" in raw:
        margin = raw["margin"]
        if (
            isinstance(margin, bool)
            or not isinstance(margin, (int, float))
            or not math.isfinite(margin)
            or margin < 0
        ):
            problems.append(f"{at('margin')}: a number of 0 or more (e.g. 0.05), not {margin!r}")
        else:
            values["margin"] = float(margin)
    if "for" in raw:
        values["silence_ms"] = _duration(raw["for"], at("for"), problems)
    if len(problems) > count:
        return None
    assert name is not None
    return AlertRule(
        name=name, condition=condition, threshold=threshold, inclusive=inclusive, **values
    )


def _when(value: Any, where: str, problems: list[str]) -> tuple[str | None, float | None, bool]:
    choices = ", ".join(CONDITIONS)
    if not isinstance(value, str) or not value.strip():
        problems.append(f"{where}: give a condition, one of {choices}")
        return None, None, False
    match = _WHEN.fullmatch(value)
    if match is None:
        problems.append(
            f"{where}: cannot read {value!r}; give a condition ({choices}), and for "
            "drift_share optionally '> SHARE' (e.g. 'drift_share > 0.3')"
        )
        return None, None, False
    condition, operator, number = match.groups()
    if condition not in CONDITIONS:
        problems.append(f"{where}: unknown condition {condition!r}; use one of {choices}")
        return None, None, False
    if operator is None:
        return condition, None, False
    if condition != "drift_share":
        problems.append(
            f"{where}: only drift_share takes a comparison ('drift_share > 0.3'); "
            f"write {condition!r} alone"
        )
        return None, None, False
    try:
        threshold = float(number)
    except ValueError:
        threshold = math.nan
    if not 0 <= threshold <= 1:
        problems.append(
            f"{where}: the share in {value!r} must be a number from 0 to 1 "
            "(the share of columns that drifted), e.g. 'drift_share > 0.3'"
        )
        return None, None, False
    return condition, threshold, operator == ">="


def _duration(value: Any, where: str, problems: list[str]) -> int | None:
    try:
        spec = parse_window(value) if isinstance(value, str) else None
    except InvalidInputError:
        spec = None
    if spec is None or spec.kind != "time" or spec.size < MIN_SILENCE_MS:
        problems.append(
            f"{where}: a duration of at least 10 minutes, like 30m, 6h or 1d, not {value!r}"
        )
        return None
    return spec.size
