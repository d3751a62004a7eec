"""One trip round the loop: validate the data, run the pipeline, register the challenger,
score both models on the same held-out data, promote by rule or raise an alert.

A retraining is a row (``retrainings``) that moves through stages: ``validate`` → ``train`` →
``score`` → ``decide``. Each stage's result is stored before the next begins, so a scheduler
that dies anywhere (SIGKILL included) leaves a row another scheduler resumes from its last
finished stage: a pipeline run it started is found again by its tag (``cairn.retrain=<n>``)
and waited for, or run again (its finished steps come from the cache). The promotion moves the
alias and marks the retraining promoted in one transaction: the alias is moved or not, never
half, and the move's reason names the retraining, its trigger and both scores.

A policy with a shadow period adds ``shadow`` before ``decide``: alias ``shadow`` points at the
challenger, servers following the served alias score a copy of the live traffic with it (logged,
not returned), and once it logged enough rows both versions are compared on the same requests.
Its start time is kept in the scores, so a resumed stage counts on from it.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Connection

from cairn.core.errors import CairnError, InvalidInputError
from cairn.core.ids import now_ms
from cairn.core.logging import logger
from cairn.core.uris import SHADOW_ALIAS
from cairn.loop import _queries
from cairn.loop._lineage import with_lineage
from cairn.loop.policy import RetrainPolicy, fill_params, window_ms
from cairn.loop.retraining import Retraining, get_retraining
from cairn.store import get_store

RETRAIN_TAG = "cairn.retrain"
_POLL_S = 0.5


class LostRetrainingError(CairnError):
    """Another scheduler took over the retraining this one was working on."""


# -- working on one retraining -----------------------------------------------------------------


@dataclass
class Worker:
    """Moves one held retraining through its stages (in a scheduler's thread)."""

    number: int
    owner: str
    root: str
    stopping: Callable[[], bool] = field(default=lambda: False)

    def run(self) -> Retraining:
        """Do every stage not done yet; return the retraining as it ended."""
        current = get_retraining(self.number)
        policy = RetrainPolicy.from_json(json.dumps(current.policy))
        stages: dict[str, Callable[[Retraining, RetrainPolicy], dict[str, Any]]] = {
            "validate": self._validate,
            "train": self._train,
            "score": self._score,
            "shadow": self._shadow,
            "decide": self._decide,
        }
        try:
            if current.stage == "validate" and self._stale_alert(current, policy):
                return get_retraining(self.number)
            while current.state == "running" and current.stage in stages:
                values = stages[current.stage](current, policy)
                if values:
                    self._save(values)
                current = get_retraining(self.number)
        except LostRetrainingError:
            logger.warning("retraining #%s was taken over by another scheduler", self.number)
            return get_retraining(self.number)
        except _Stopped:
            return get_retraining(self.number)
        except Exception as exc:
            why = str(exc) if isinstance(exc, CairnError) else f"{type(exc).__name__}: {exc}"
            logger.error("retraining #%s of %s failed: %s", self.number, current.model, why)
            if current.stage == "shadow":
                _end_shadow(policy.model, current.challenger)
            with contextlib.suppress(LostRetrainingError):
                self._end(current, "failed", f"{current.stage} failed: {why}", "loop:failed")
            current = get_retraining(self.number)
        return current

    def _stale_alert(self, current: Retraining, policy: RetrainPolicy) -> bool:
        """End as dropped a retraining started by an alert about a version no longer served
        (the alias moved since): the drift it saw is not the served model's."""
        from cairn import registry

        about = current.evidence.get("version")
        if current.trigger_kind != "alert" or not isinstance(about, int):
            return False
        served = registry.get_model(policy.model).aliases.get(policy.alias)
        if served is None or served == about:
            return False
        reason = (
            f"alert #{current.alert_id} is about version {about}, and "
            f"{policy.model}@{policy.alias} serves version {served} now"
        )
        self._end(current, "dropped", reason, None)
        return True

    # -- stages --

    def _validate(self, current: Retraining, policy: RetrainPolicy) -> dict[str, Any]:
        """Pin the dataset version trained on, and check it against the suite."""
        if policy.dataset is None:
            return {"stage": "train"}
        from cairn import data

        ref = current.dataset_version
        if ref is None:
            pinned = current.evidence.get("dataset_version")
            if isinstance(pinned, str) and pinned.startswith(f"{policy.dataset}@"):
                ref = pinned
            else:
                ref = data.version(policy.dataset).ref
        if policy.suite is None:
            return {"stage": "train", "dataset_version": ref}
        from cairn.validation import load_suite, record_result, validate

        suite, suite_version = load_suite(policy.suite)
        result = validate(data.load(ref), suite)
        try:
            record_result(result, suite_version, target=ref, dataset_version=ref)
        except CairnError as exc:  # the check stands; only its record failed
            logger.warning("could not record the validation of %s: %s", ref, exc)
        failures = [f"{f.expectation} (observed {str(f.observed)[:200]})" for f in result.errors]
        found = {
            "passed": result.passed,
            "suite": policy.suite,
            "rows": result.rows,
            "failures": failures,
        }
        values: dict[str, Any] = {"dataset_version": ref, "validation": json.dumps(found)}
        if not result.passed:
            self._save(values)
            reason = (
                f"data {ref} failed suite {policy.suite}: "
                + "; ".join(failures[:5])
                + "; the champion keeps serving"
            )
            self._end(current, "blocked", reason, "loop:data-failed")
            raise _Stopped
        return values | {"stage": "train"}

    def _train(self, current: Retraining, policy: RetrainPolicy) -> dict[str, Any]:
        """Run the pipeline (or find the run a previous scheduler started), and register
        what it logged as the challenger."""
        run_id = self._pipeline_run(current, policy)
        self._save({"pipeline_run": run_id})
        version = _registered_version(policy.model, run_id)
        if version is None:
            raise InvalidInputError(
                f"pipeline run {run_id} registered no version of model {policy.model}: its "
                f"last step must log the model (cairn.log_model(model, {policy.model!r}))"
            )
        from cairn import registry

        reason = f"retraining #{current.id} ({current.trigger}): pipeline run {run_id}"
        registry.set_alias(
            policy.model,
            policy.challenger_alias,
            version,
            reason=reason,
            also=with_lineage(
                current.id,
                lambda conn: self._save_in(conn, {"challenger": version, "stage": "score"}),
            ),
        )
        return {}

    def _score(self, current: Retraining, policy: RetrainPolicy) -> dict[str, Any]:
        """Score the challenger and the served version on the same held-out data."""
        from cairn import data, registry
        from cairn.monitoring import score_model

        assert current.challenger is not None
        model = registry.get_model(policy.model)
        champion = model.aliases.get(policy.alias)
        holdout = data.version(policy.holdout).ref
        scores: dict[str, Any] = {"holdout": holdout, "target": policy.target}
        frame = data.load(holdout)
        challenger_scores = score_model(
            f"{policy.model}/{current.challenger}", frame, policy.target
        )
        scores["challenger"] = challenger_scores.metrics
        scores["task"] = challenger_scores.task
        after = "decide"
        if champion is not None and champion != current.challenger:
            champion_scores = score_model(f"{policy.model}/{champion}", frame, policy.target)
            scores["champion"] = champion_scores.metrics
            if policy.shadow_rows:
                after = "shadow"
        return {"scores": json.dumps(scores), "champion": champion, "stage": after}

    def _shadow(self, current: Retraining, policy: RetrainPolicy) -> dict[str, Any]:
        """Point alias ``shadow`` at the challenger, so that servers score a copy of the live
        traffic with it; once it logged ``shadow_rows`` rows, compare both versions on the
        requests both answered (too few rows by ``shadow_timeout_s``: refused)."""
        from cairn import registry

        assert current.challenger is not None and current.scores is not None
        assert current.champion is not None and policy.shadow_rows is not None
        challenger, scores = current.challenger, dict(current.scores)
        period = dict(scores.get("shadow") or {})
        started = period.get("started_ms")
        if not isinstance(started, int):  # a resumed stage keeps counting from its start
            started = now_ms()
            period = {"started_ms": started, "champion": current.champion}
            self._save({"scores": json.dumps(scores | {"shadow": period})})
        if registry.get_model(policy.model).aliases.get(SHADOW_ALIAS) != challenger:
            registry.set_alias(
                policy.model,
                SHADOW_ALIAS,
                challenger,
                reason=f"retraining #{current.id}: shadow period",
            )
        deadline = started + int(policy.shadow_timeout_s * 1000)
        seen = self._shadow_rows(policy.model, challenger, started)
        while seen < policy.shadow_rows and now_ms() < deadline:
            self._check_stop()
            time.sleep(_POLL_S)
            self.beat()
            seen = self._shadow_rows(policy.model, challenger, started)
        _end_shadow(policy.model, challenger)
        if seen < policy.shadow_rows:
            period["rows_seen"] = seen
            self._save({"scores": json.dumps(scores | {"shadow": period})})
            reason = (
                f"version {challenger} not promoted: its shadow period saw {seen} of the "
                f"{policy.shadow_rows} rows asked for in {policy.shadow_timeout_s:g} s (does a "
                f"server follow {policy.model}@{policy.alias} with --swap-poll-s and its "
                f"prediction log on?); {policy.model}@{policy.alias} keeps version "
                f"{current.champion}"
            )
            self._end(current, "refused", reason, "loop:refused")
            return {}
        found = shadow_comparison(
            policy.model,
            current.champion,
            challenger,
            started,
            regression=scores.get("task") == "regression",
        )
        period["rows_seen"] = seen
        scores["shadow"] = period
        scores["challenger"] = dict(scores.get("challenger") or {}) | found
        return {"scores": json.dumps(scores), "stage": "decide"}

    def _shadow_rows(self, model: str, version: int, since_ms: int) -> int:
        """Rows of ``version`` sealed in the prediction log since ``since_ms``."""
        with get_store().db.read() as conn:
            return _queries.logged_rows(conn, model, version, since_ms)

    def _decide(self, current: Retraining, policy: RetrainPolicy) -> dict[str, Any]:
        """Promote when the rule holds and the signature did not change; otherwise say why."""
        from cairn import registry

        assert current.challenger is not None and current.scores is not None
        challenger = current.challenger
        served = registry.get_model(policy.model).aliases.get(policy.alias)
        if served == challenger:
            # Moved by this retraining in a run that died after the move (the move and the
            # record commit together, so this is someone else's move, or the same version).
            reason = f"{policy.model}@{policy.alias} already serves version {challenger}"
            self._end(current, "unchanged", reason, None)
            return {}
        if current.champion is not None and served != current.champion:
            # The alias moved since the scores were taken: score again against the new one.
            return {"stage": "score"}
        ours = current.scores.get("challenger") or {}
        theirs = current.scores.get("champion")
        sides: dict[str | None, Any] = {
            None: ours,
            policy.challenger_alias: ours,
            policy.alias: theirs,
        }
        checks = registry.evaluate_rule(policy.require, sides)
        check_dicts = [
            {"text": c.text, "left": c.left, "right": c.right, "ok": c.ok, "why": c.why}
            for c in checks
        ]
        problems = [f"{c.text}: {c.why}" for c in checks if not c.ok]
        if served is not None and not policy.allow_signature_change:
            changes = _signature_changes(policy.model, served, challenger)
            problems += [f"signature changed: {c}" for c in changes]
            if changes:
                problems.append(
                    "set allow_signature_change on the policy (--allow-signature-change) once "
                    "every client sends the new inputs"
                )
        if problems:
            self._save({"checks": json.dumps(check_dicts)})
            reason = (
                f"version {challenger} not promoted: "
                + "; ".join(problems)
                + f"; {policy.model}@{policy.alias} keeps version {served}"
            )
            self._end(current, "refused", reason, "loop:refused")
            return {}
        scores = ", ".join(
            f"{key} {_num(ours.get(key))} vs {_num((theirs or {}).get(key))}"
            for key in _rule_keys(policy.require)
        )
        trigger = current.trigger
        why = (
            f"retraining #{current.id} ({trigger}): challenger {scores or 'scored'} "
            f"on {current.scores.get('holdout')}; rule {policy.require}"
        )
        if served is None:
            why += f"; no {policy.alias} before"
        now = now_ms()
        registry.set_alias(
            policy.model,
            policy.alias,
            challenger,
            reason=why,
            also=with_lineage(
                current.id,
                lambda conn: self._save_in(
                    conn,
                    {
                        "state": "promoted",
                        "stage": "done",
                        "checks": json.dumps(check_dicts),
                        "reason": f"version {challenger} promoted to {policy.alias} "
                        f"(was {served if served is not None else 'nothing'})",
                        "ended_ms": now,
                        "owner": None,
                    },
                ),
            ),
        )
        logger.warning(
            "retraining #%s: %s@%s -> version %s (was %s)",
            current.id,
            policy.model,
            policy.alias,
            challenger,
            served,
        )
        return {}

    # -- the pipeline --

    def _pipeline_run(self, current: Retraining, policy: RetrainPolicy) -> str:
        """The finished pipeline run of this retraining: found again, waited for, or run."""
        from cairn import pipelines, tracking

        found = _tagged_runs(current.id)
        for run in found:
            status = tracking.get_run(run).status
            while status == "running":  # started by a scheduler that died: wait for it
                self._check_stop()
                time.sleep(_POLL_S)
                self.beat()
                status = tracking.get_run(run).status
            if status == "finished":
                return run
        values = _placeholders(current)
        process = pipelines.start_pipeline(
            policy.pipeline,
            params=fill_params(policy.params, values),
            tags={RETRAIN_TAG: str(current.id), f"{RETRAIN_TAG}.model": policy.model},
            executor=policy.executor,
            root=self.root,
            label=f"retrain {policy.model} #{current.id}",
        )
        while not process.poll():
            if self.stopping():
                process.terminate()
                process.wait(30.0)
                process.finish()
                raise _Stopped
            time.sleep(_POLL_S)
            self.beat()
        ended = process.finish()
        if ended.exit_code != 0 or ended.run_id is None:
            raise InvalidInputError(
                f"pipeline {policy.pipeline} failed"
                + (f" (pipeline run {ended.run_id})" if ended.run_id else "")
                + _failed_steps(ended.run_id)
                + f": {(ended.error or 'no error text').splitlines()[0]}"
            )
        return ended.run_id

    # -- records --

    def beat(self) -> None:
        """Say this scheduler still works on it (LostRetrainingError when another took it)."""
        self._save({})

    def _check_stop(self) -> None:
        if self.stopping():
            raise _Stopped

    def _save(self, values: dict[str, Any]) -> None:
        get_store().db.transact(lambda conn: self._save_in(conn, values))

    def _save_in(self, conn: Connection, values: dict[str, Any]) -> None:
        changed = _queries.update_retraining(
            conn, self.number, {**values, "heartbeat_ms": now_ms()}, owner=self.owner
        )
        if not changed:
            raise LostRetrainingError(f"retraining #{self.number} is not held by {self.owner}")

    def _end(self, current: Retraining, state: str, reason: str, alert_rule: str | None) -> None:
        """End the retraining as ``state``, raising an alert that says why (when named)."""
        alert_id = None
        if alert_rule is not None:
            alert_id = _raise(alert_rule, current, reason)
        self._save(
            {
                "state": state,
                "stage": "done",
                "reason": reason[:20_000],
                "result_alert_id": alert_id,
                "ended_ms": now_ms(),
                "owner": None,
            }
        )


class _Stopped(Exception):
    """The retraining ended early (the data failed) or the scheduler is stopping."""


def _raise(rule: str, current: Retraining, reason: str) -> int | None:
    """Raise the loop's alert about ``current``; its id (None when it could not be raised)."""
    from cairn.monitoring import raise_alert

    fresh = get_retraining(current.id)
    try:
        alert = raise_alert(
            rule,
            current.model,
            f"retraining #{current.id} of {current.model} ({current.trigger}): {reason}",
            {
                "condition": "loop",
                "retraining": current.id,
                "trigger": current.trigger,
                "alert_id": current.alert_id,
                "dataset_version": fresh.dataset_version,
                "validation": fresh.validation,
                "pipeline_run": fresh.pipeline_run,
                "challenger": fresh.challenger,
                "champion": fresh.champion,
                "scores": fresh.scores,
            },
            window_start_ms=current.started_ms or current.created_ms,
            window_end_ms=now_ms(),
        )
    except Exception as exc:  # the retraining's record still says why
        logger.error("could not raise the alert of retraining #%s: %s", current.id, exc)
        return None
    return None if alert is None else alert.id


def _end_shadow(model: str, challenger: int | None) -> None:
    """Remove alias ``shadow`` when it points at ``challenger`` (servers stop shadowing)."""
    from cairn import registry

    try:
        if challenger is not None and (
            registry.get_model(model).aliases.get(SHADOW_ALIAS) == challenger
        ):
            registry.delete_alias(model, SHADOW_ALIAS)
    except CairnError as exc:  # gone already, or the store refused: said, not raised
        logger.warning("could not remove %s@%s: %s", model, SHADOW_ALIAS, exc)


def shadow_comparison(
    model: str, champion: int, challenger: int, since_ms: int, *, regression: bool
) -> dict[str, Any]:
    """How the challenger's shadow predictions compare with the champion's answers to the
    same requests (joined by request id, row by row) logged since ``since_ms``:
    ``shadow_rows`` compared, and ``shadow_agreement`` (the share of equal predictions) or,
    for a regressor, ``shadow_mae`` (their mean absolute difference)."""
    import pandas as pd

    from cairn.serving import read_prediction_log

    log = read_prediction_log(model, since=since_ms)
    if log.empty:
        return {"shadow_rows": 0}
    log = log[log["_version"].isin([champion, challenger])].copy()
    log["_n"] = log.groupby(["_version", "_request_id"], sort=False).cumcount()
    keys = ["_request_id", "_n"]
    ours = log[log["_version"] == challenger][[*keys, "_prediction"]]
    theirs = log[(log["_version"] == champion) & ~log["_fallback"].astype(bool)]
    both = ours.merge(theirs[[*keys, "_prediction"]], on=keys, suffixes=("_c", "_s"))
    found: dict[str, Any] = {"shadow_rows": len(both)}
    if both.empty:
        return found
    left, right = both["_prediction_c"], both["_prediction_s"]
    if regression:
        diff = (pd.to_numeric(left, errors="coerce") - pd.to_numeric(right, errors="coerce")).abs()
        if diff.notna().any():
            found["shadow_mae"] = float(diff.mean())
        return found
    numeric = pd.api.types.is_numeric_dtype(left) and pd.api.types.is_numeric_dtype(right)
    equal = left == right if numeric else left.astype(str) == right.astype(str)
    found["shadow_agreement"] = float(equal.mean())
    return found


def _failed_steps(run_id: str | None) -> str:
    """The steps of pipeline run ``run_id`` that failed, with their errors, in words."""
    if run_id is None:
        return ""
    from cairn import pipelines

    try:
        graph = pipelines.pipeline_run_graph(run_id)
    except CairnError:
        return ""
    failed = [
        f"step {s.node} failed: {(s.error or 'no error text').strip().splitlines()[-1][:500]}"
        for s in graph.steps
        if s.status in ("failed", "crashed", "killed")
    ]
    return f" ({'; '.join(failed[:3])})" if failed else ""


def _tagged_runs(number: int) -> list[str]:
    """Pipeline runs tagged with retraining ``number``, newest first."""
    from cairn import tracking

    found = tracking.find_runs(f"tags.`{RETRAIN_TAG}` = '{number}'", limit=20)
    return [run.id for run in found]


def _registered_version(model: str, run_id: str) -> int | None:
    """The newest version of ``model`` a step of pipeline run ``run_id`` logged (or, for a
    step served from the cache, the run it reused)."""
    from cairn import pipelines, registry

    graph = pipelines.pipeline_run_graph(run_id)
    runs = {s.run_id for s in graph.steps} | {s.cached_from for s in graph.steps if s.cached_from}
    numbers = [v.version for v in registry.list_versions(model) if v.run_id in runs]
    return max(numbers) if numbers else None


def _signature_changes(model: str, served: int, challenger: int) -> list[str]:
    from cairn import registry

    def signature(number: int) -> Any:
        found = registry.get_model_version(f"{model}/{number}").signature
        return None if found is None else registry.Signature.from_dict(found)

    return list(registry.signature_changes(signature(served), signature(challenger)))


def _placeholders(current: Retraining) -> dict[str, str]:
    """What the policy's params may name: {dataset_version}, {window_start}..."""
    now = now_ms()
    values = {"retraining": str(current.id), "trigger": current.trigger}
    if current.dataset_version:
        values["dataset_version"] = current.dataset_version
    window = current.policy.get("window")
    if window:
        values["window_start"] = _iso(now - window_ms(window))
        values["window_end"] = _iso(now)
    return values


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _num(value: Any) -> str:
    return "-" if not isinstance(value, (int, float)) else f"{value:.4g}"


def _rule_keys(rule: str) -> list[str]:
    from cairn.registry import rule_references

    return list(dict.fromkeys(key for _, _, key in rule_references(rule)))
