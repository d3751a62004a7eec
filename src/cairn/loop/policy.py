"""A model's retraining policy: which pipeline retrains it, on which triggers, the data it must
pass first, the held-out data both models are scored on, and the rule that promotes.

    cairn models policy wine --pipeline pipeline:training --on-alert wine-drift \\
        --dataset wine --suite wine --holdout wine-holdout --target target \\
        --require "accuracy >= champion.accuracy and latency_p99_ms <= 50"

Everything a policy names is checked when it is set (the pipeline loads and declares the
params given, the alert rules are configured, the datasets and the suite exist, the rule parses
and names only scores the loop measures), so a typo is refused now, not at 3 a.m.

Params passed to the pipeline (``--set``) may hold placeholders the loop fills in when it
starts a retraining: ``{dataset_version}`` (the catalog version validated, ``wine@v3``),
``{window_start}`` and ``{window_end}`` (ISO times: now minus the policy's ``window``, and now),
``{retraining}`` (the retraining's number) and ``{trigger}`` (what started it, in words).
The pipeline gets a param that holds a placeholder as text (``{retraining}`` alone: a number).

A shadow period (``shadow_rows``): before the decision, alias ``shadow`` points at the
challenger, so servers following the served alias score a copy of the live traffic with it
(logged, not returned); once ``shadow_rows`` of its rows are logged (or ``shadow_timeout_s``
passed: refused), the two versions are compared on the requests both answered, and the rule
may name ``shadow_rows``, ``shadow_agreement`` (classifiers: the share of equal predictions)
and ``shadow_mae`` (regressors: the mean absolute difference).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from cairn.core.checks import check_bool, check_optional_text, check_text, check_texts, show
from cairn.core.errors import InvalidInputError, NotFoundError
from cairn.core.uris import check_alias, check_model_name

ON_BUSY = ("queue", "drop")
PLACEHOLDERS = ("dataset_version", "window_start", "window_end", "retraining", "trigger")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_]+)\}")
_DURATION = re.compile(r"(\d{1,6})([mhdw])")
_UNIT_MS = {"m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 7 * 86_400_000}
_MONITOR_EVERY_S = 60.0
_MAX_WINDOW_MS = 36_500 * 86_400_000  # {window_start} must be a date: at most 100 years back
#: What a shadow period measures of the challenger (names the rule may use).
SHADOW_KEYS = ("shadow_rows", "shadow_agreement", "shadow_mae")
_SHADOW_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class RetrainPolicy:
    """How the loop retrains, checks and promotes one model."""

    model: str
    pipeline: str  # MODULE:PIPELINE
    holdout: str  # the catalog dataset both models are scored on (its newest version)
    target: str  # the holdout's label column
    require: str  # the promotion rule: accuracy >= champion.accuracy - 0.01
    params: dict[str, str] = field(default_factory=dict)  # --set values, with placeholders
    executor: str | None = None
    on_alerts: list[str] = field(default_factory=list)  # alert rule names
    on_data: list[str] = field(default_factory=list)  # catalog dataset names
    cron: str | None = None
    dataset: str | None = None  # the dataset trained on: validated, passed as {dataset_version}
    suite: str | None = None  # the validation suite that dataset must pass
    window: str | None = None  # the data window, as {window_start}/{window_end}: 30d
    alias: str = "champion"  # the alias served, moved on promotion
    challenger_alias: str = "challenger"
    on_busy: str = "queue"  # a trigger while a retraining runs: queue it, or drop it
    allow_signature_change: bool = False
    monitor_window: str | None = None  # the scheduler monitors the model with this window
    monitor_every_s: float = _MONITOR_EVERY_S
    shadow_rows: int | None = None  # a shadow period of this many rows before deciding
    shadow_timeout_s: float = _SHADOW_TIMEOUT_S  # fewer rows by then: refused

    @property
    def triggers(self) -> list[str]:
        """What starts a retraining, in words."""
        found = [f"alert {a}" for a in self.on_alerts] + [f"data {d}" for d in self.on_data]
        return found + ([f"cron {self.cron}"] if self.cron else [])

    def to_dict(self) -> dict[str, Any]:
        """The policy as plain JSON-ready values."""
        return asdict(self)

    def to_json(self) -> str:
        """The policy as stored."""
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> RetrainPolicy:
        """A policy as stored (fields added later take their defaults)."""
        raw = json.loads(text)
        known = {k: v for k, v in raw.items() if k in cls.__dataclass_fields__}
        return cls(**known)


def window_ms(text: str) -> int:
    """A data window (``30d``, ``12h``, ``90m``, ``2w``) in milliseconds."""
    found = _DURATION.fullmatch(text.strip())
    if found is None or int(found.group(1)) == 0:
        raise InvalidInputError(
            f"window {show(text)} is not a duration: give a number and a unit, m, h, d or w "
            "(e.g. 30d for the last thirty days)"
        )
    ms = int(found.group(1)) * _UNIT_MS[found.group(2)]
    if ms > _MAX_WINDOW_MS:
        raise InvalidInputError(
            f"window {show(text)} reaches back more than 100 years: give a shorter one (365d)"
        )
    return ms


def fill_params(params: Mapping[str, str], values: Mapping[str, str]) -> dict[str, str]:
    """The params with each ``{placeholder}`` replaced by its value, as ``--set`` texts: a
    text that holds a placeholder reaches the pipeline as that very text (quoted, so that
    ``manual: by hand`` or an ISO time is not read as YAML), except ``{retraining}`` alone,
    which reaches it as a number."""
    filled = {}
    for key, text in params.items():
        found = _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)
        if _PLACEHOLDER.search(text) and text.strip() != "{retraining}":
            found = json.dumps(found)
        filled[key] = found
    return filled


def check_policy(
    model: str,
    *,
    pipeline: str,
    holdout: str,
    target: str,
    require: str,
    params: Mapping[str, Any] | None = None,
    executor: str | None = None,
    on_alerts: Sequence[str] = (),
    on_data: Sequence[str] = (),
    cron: str | None = None,
    dataset: str | None = None,
    suite: str | None = None,
    window: str | None = None,
    alias: str = "champion",
    challenger_alias: str = "challenger",
    on_busy: str = "queue",
    allow_signature_change: bool = False,
    monitor_window: str | None = None,
    monitor_every_s: float = _MONITOR_EVERY_S,
    shadow_rows: int | None = None,
    shadow_timeout_s: float = _SHADOW_TIMEOUT_S,
    root: Any = None,
) -> RetrainPolicy:
    """A policy whose every name is checked against the project: a clear error for the first
    thing that does not exist or does not parse."""
    from cairn import pipelines, registry

    check_model_name(model)
    registry.get_model(model)  # the model must exist (a first version registered by hand)
    check_alias(alias)
    check_alias(challenger_alias)
    if alias == challenger_alias:
        raise InvalidInputError(
            f"the served alias and the challenger's alias are both {alias!r}; give two aliases"
        )
    if on_busy not in ON_BUSY:
        raise InvalidInputError(
            f"on_busy is 'queue' (a trigger while a retraining runs waits for it) or 'drop', "
            f"not {show(on_busy)}"
        )
    check_bool(allow_signature_change, "allow_signature_change")
    alerts = _names(on_alerts, "on_alerts (alert rule names)")
    datasets = _names(on_data, "on_data (dataset names)")
    cron = pipelines.check_cron(cron) if cron is not None else None
    if not (alerts or datasets or cron):
        raise InvalidInputError(
            f"a policy needs at least one trigger: an alert rule (--on-alert NAME), a "
            f"dataset's new version (--on-data NAME) or a cron expression (--cron '0 3 * * 1'); "
            f"`cairn models retrain {model}` starts one by hand"
        )
    _check_alert_rules(model, alerts)
    for name in datasets:
        pipelines.require_dataset(name)
    if dataset:
        _require_dataset(dataset, "dataset (the data trained on)")
    dataset = check_optional_text(dataset, "dataset", max_length=255)
    suite = check_optional_text(suite, "suite", max_length=255)
    if suite is not None:
        if dataset is None:
            raise InvalidInputError(
                f"suite {show(suite)} validates the dataset trained on: name it too (--dataset)"
            )
        _check_suite(suite)
    if window is not None:
        window_ms(check_text(window, "window", empty=False, max_length=32))
    target = _check_holdout(holdout, target)
    shadow_rows, shadow_timeout_s = _check_shadow(shadow_rows, shadow_timeout_s)
    _check_rule(require, alias, challenger_alias, shadow=shadow_rows is not None)
    texts = pipelines.param_texts(params)
    for key, text in texts.items():
        for name in _PLACEHOLDER.findall(text):
            if name not in PLACEHOLDERS:
                raise InvalidInputError(
                    f"param {show(key)} names {{{name}}}, which the loop does not fill in; "
                    f"it knows {', '.join('{' + p + '}' for p in PLACEHOLDERS)}"
                )
        if "{dataset_version}" in text and dataset is None:
            raise InvalidInputError(
                f"param {show(key)} uses {{dataset_version}}: name the dataset (--dataset)"
            )
        if ("{window_start}" in text or "{window_end}" in text) and window is None:
            raise InvalidInputError(f"param {show(key)} uses the window: give it (--window 30d)")
    executor = pipelines.check_executor(executor)
    if monitor_window is not None:
        from cairn.monitoring.windows import parse_window

        parse_window(check_text(monitor_window, "monitor_window", empty=False, max_length=32))
        if not alerts:
            raise InvalidInputError(
                "monitor_window has the scheduler compute drift windows so that alert rules "
                "fire; name the alert rules that start a retraining (--on-alert NAME)"
            )
    from cairn.core.checks import check_number

    every = check_number(monitor_every_s, "monitor_every_s (seconds)", finite=True)
    if every <= 0:
        raise InvalidInputError(f"monitor_every_s must be positive, not {every:g}")
    target_pipeline = check_text(pipeline, "pipeline (MODULE:PIPELINE)", empty=False)
    pipelines.check_pipeline(pipelines.check_target(target_pipeline), root, texts)
    return RetrainPolicy(
        model=model,
        pipeline=target_pipeline.strip(),
        holdout=holdout,
        target=target,
        require=require,
        params=texts,
        executor=executor,
        on_alerts=alerts,
        on_data=datasets,
        cron=cron,
        dataset=dataset,
        suite=suite,
        window=window,
        alias=alias,
        challenger_alias=challenger_alias,
        on_busy=on_busy,
        allow_signature_change=allow_signature_change,
        monitor_window=monitor_window,
        monitor_every_s=every,
        shadow_rows=shadow_rows,
        shadow_timeout_s=shadow_timeout_s,
    )


def _names(values: Sequence[str] | None, what: str) -> list[str]:
    """A list of names (a text is one name; None, none)."""
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, (list, tuple)):
        raise InvalidInputError(f"{what} is a list of names, not {show(values)}")
    names = [v.strip() for v in check_texts(list(values), what, empty=False, max_length=255)]
    return list(dict.fromkeys(names))


def _check_alert_rules(model: str, names: list[str]) -> None:
    """Each alert rule named is configured and can fire for ``model``."""
    if not names:
        return
    from cairn.monitoring import alert_config

    rules = {rule.name: rule for rule in alert_config().rules}
    for name in names:
        rule = rules.get(name)
        if rule is None:
            known = ", ".join(sorted(rules)) or "none configured"
            raise NotFoundError(
                f"no alert rule named {show(name)} (rules: {known}); add it under monitoring: "
                "alerts: in cairn.yaml, e.g. {name: wine-drift, model: wine, when: drift_share "
                "> 0.3}"
            )
        if rule.model not in (model, "*"):
            raise InvalidInputError(
                f"alert rule {name} watches {rule.model or rule.dataset!r}, not model {model}: "
                "name a rule about this model (or model: '*')"
            )


def _require_dataset(name: Any, what: str) -> None:
    """``name`` is a dataset of the catalog; a clear error naming ``what`` it is otherwise."""
    from cairn.data import list_datasets

    text = check_text(name, what, empty=False, max_length=255)
    known = [d.name for d in list_datasets()]
    if text not in known:
        raise NotFoundError(
            f"{what}: no dataset named {show(text)} (known: {', '.join(known[:10]) or 'none yet'}"
            "); add it first with cairn data add PATH --name NAME"
        )


def _check_holdout(holdout: str, target: str) -> str:
    """The label column ``target``, which the holdout's newest version has (when the catalog
    knows its tables' columns)."""
    from cairn.data import show_dataset

    _require_dataset(holdout, "holdout (the data both models are scored on)")
    target = check_text(target, "target (the holdout's label column)", empty=False, max_length=255)

    detail = show_dataset(holdout)
    live = [v.number for v in detail.versions if not v.deleted]
    tables = detail.tables.get(max(live)) if live else None
    if not tables:
        return target
    columns = list(dict.fromkeys(name for facts in tables.values() for name, _ in facts.columns))
    if target not in columns:
        shown = ", ".join(columns[:30]) + (", ..." if len(columns) > 30 else "")
        raise InvalidInputError(
            f"the holdout {holdout} has no column {show(target)} to score on (its columns: "
            f"{shown}); name its label column (--target)"
        )
    return target


def _check_suite(name: str) -> None:
    from cairn.validation import load_suite

    load_suite(name)


def _check_shadow(rows: Any, timeout_s: Any) -> tuple[int | None, float]:
    """The shadow period's row count (None or 0: none) and timeout in seconds."""
    from cairn.core.checks import check_number, check_optional_int

    count = check_optional_int(
        rows, "shadow_rows (rows the challenger shadows)", minimum=0, maximum=1_000_000_000
    )
    seconds = check_number(timeout_s, "shadow_timeout_s (seconds)", finite=True)
    if not 0 < seconds <= 30 * 86_400:
        raise InvalidInputError(
            f"shadow_timeout_s is the seconds a shadow period may last, above 0 and at most "
            f"30 days (2592000), not {seconds:g}"
        )
    return count or None, float(seconds)


def _check_rule(require: str, alias: str, challenger_alias: str, *, shadow: bool = False) -> None:
    """The rule parses and names only scores the loop measures, of the two models it has (and
    the shadow period's figures of the challenger, when the policy has one)."""
    from cairn.monitoring import SCORE_KEYS
    from cairn.registry import rule_references

    check_text(require, "require (the promotion rule)", empty=False, max_length=10_000)
    for side, section, key in rule_references(require):
        if key in SHADOW_KEYS and section == "metrics":
            if not shadow:
                raise InvalidInputError(
                    f"the rule names {key}, which only a shadow period measures: give the "
                    "policy one (shadow_rows, --shadow-rows 500)"
                )
            if side not in (None, challenger_alias):
                raise InvalidInputError(
                    f"the rule names {side}.{key}, but a shadow period measures the "
                    f"challenger only: write {key}"
                )
            continue
        if side not in (None, alias, challenger_alias):
            raise InvalidInputError(
                f"the rule names {side}.{key}, but the loop scores only the challenger and "
                f"the {alias}: write {key} (the challenger's) or {alias}.{key}"
            )
        if section != "metrics":
            raise InvalidInputError(
                f"the rule names {section}.{key}: a loop's rule compares scores on the held-out "
                f"data ({', '.join(sorted(SCORE_KEYS))})"
            )
        if key not in SCORE_KEYS:
            import difflib

            close = [k for k in SCORE_KEYS if k.endswith(f"_{key}")] or difflib.get_close_matches(
                key, SCORE_KEYS, n=1
            )
            raise InvalidInputError(
                f"the rule names the score {show(key)}, which scoring on held-out data does not "
                "measure"
                + (f" (use {close[0]})" if close else "")
                + f"; the scores: {', '.join(sorted(SCORE_KEYS))}"
                + f"; with a shadow period also {', '.join(SHADOW_KEYS)}"
            )


# -- stored policies ---------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredPolicy:
    """A policy as kept in the store, with where the scheduler stands on it."""

    policy: RetrainPolicy
    root: str
    enabled: bool
    next_due_ms: int | None
    created_ms: int
    updated_ms: int
    updated_by: str | None


def set_policy(model: str, **fields: Any) -> StoredPolicy:
    """Set (or replace) the retraining policy of ``model``; see ``check_policy`` for the
    fields. Only triggers after this call start a retraining."""
    from cairn import pipelines
    from cairn.core.ids import now_ms
    from cairn.core.settings import get_settings
    from cairn.core.user import current_user
    from cairn.loop import _queries
    from cairn.store import get_store

    store = get_store()
    if store.remote is not None:
        raise InvalidInputError(
            "retraining policies live with the team's stores, where `cairn scheduler` runs: "
            "set them there (without CAIRN_SERVER)"
        )
    _check_fields(fields)
    root = get_settings().root
    policy = check_policy(model, root=root, **fields)
    now = now_ms()

    def write(conn: Any) -> None:
        values = {
            "spec": policy.to_json(),
            "root": str(root),
            "enabled": True,
            "next_due_ms": pipelines.next_cron_ms(policy.cron, now) if policy.cron else None,
            # Only what comes after the policy is set starts a retraining.
            "seen_alert_id": _queries.newest_alert_id(conn),
            "seen_version_id": _queries.newest_version_id(conn),
            "updated_ms": now,
            "updated_by": current_user(),
        }
        existing = _queries.policy_row(conn, policy.model)
        if existing is None:
            _queries.insert_policy(
                conn, {**values, "model": policy.model, "claim": 0, "created_ms": now}
            )
        else:  # a scheduler that read the old policy queues nothing from it (its claim fails)
            _queries.update_policy(conn, policy.model, {**values, "claim": existing.claim + 1})

    store.db.transact(write)
    return get_policy(policy.model)


def _check_fields(fields: Mapping[str, Any]) -> None:
    """The fields of ``set_policy``: each known, the required ones given."""
    import difflib
    import inspect

    parameters = inspect.signature(check_policy).parameters
    known = [name for name in parameters if name not in ("model", "root")]
    for name in fields:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            raise InvalidInputError(
                f"a retraining policy has no field {show(name)}"
                + (f" (did you mean {close[0]}?)" if close else "")
                + f"; its fields: {', '.join(known)}"
            )
    missing = [
        name
        for name in known
        if parameters[name].default is inspect.Parameter.empty and name not in fields
    ]
    if missing:
        raise InvalidInputError(
            f"a retraining policy needs {', '.join(missing)} too (the pipeline that retrains "
            "the model, the held-out dataset and its label column, and the promotion rule)"
        )


def get_policy(model: str) -> StoredPolicy:
    """The retraining policy of ``model``."""
    from cairn.loop import _queries
    from cairn.loop.retraining import local_store

    check_model_name(model)
    with local_store().db.read() as conn:
        row = _queries.policy_row(conn, model)
        if row is None:
            known = ", ".join(r.model for r in _queries.policy_rows(conn)) or "none yet"
            raise NotFoundError(
                f"model {model} has no retraining policy (policies: {known}); set one with "
                f"cairn models policy {model} --pipeline MODULE:PIPELINE ..."
            )
    return stored_policy(row)


def list_policies() -> list[StoredPolicy]:
    """Every retraining policy, by model."""
    from cairn.loop import _queries
    from cairn.loop.retraining import local_store

    with local_store().db.read() as conn:
        return [stored_policy(row) for row in _queries.policy_rows(conn)]


def remove_policy(model: str) -> StoredPolicy:
    """Remove the retraining policy of ``model`` (its retrainings' records stay); return it."""
    from cairn.loop import _queries
    from cairn.loop.retraining import local_store

    found = get_policy(model)
    local_store().db.transact(lambda conn: _queries.delete_policy(conn, model))
    return found


def stored_policy(row: Any) -> StoredPolicy:
    """A policy row as a ``StoredPolicy``."""
    return StoredPolicy(
        policy=RetrainPolicy.from_json(row.spec),
        root=row.root,
        enabled=bool(row.enabled),
        next_due_ms=row.next_due_ms,
        created_ms=int(row.created_ms),
        updated_ms=int(row.updated_ms),
        updated_by=row.updated_by,
    )
