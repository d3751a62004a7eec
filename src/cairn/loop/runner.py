"""The loop under ``cairn scheduler``: each poll, monitor the models whose policies ask for it
(so their alert rules fire), turn new alerts, dataset versions and cron times into queued
retrainings, and work on each model's oldest open retraining in a thread of its own.

At most one retraining per model runs at a time, across every scheduler of a project (or a
team, on PostgreSQL): queueing a trigger and taking a retraining are compare-and-set updates.
A scheduler holds what it works on by a heartbeat; one that stopped beating (or whose process
is gone, on this machine) is taken over, and the retraining resumes where it stood.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import threading
from typing import Any

from sqlalchemy import Connection, Row

from cairn.core.errors import CairnError, InvalidInputError
from cairn.core.ids import now_ms
from cairn.core.logging import logger
from cairn.core.threads import start_thread
from cairn.loop import _queries
from cairn.loop.policy import RetrainPolicy, get_policy
from cairn.loop.retrain import Worker
from cairn.loop.retraining import Retraining, get_retraining, queue_values
from cairn.store import get_store

STALE_S = 30.0  # a held retraining whose heartbeat is this old is taken over
HEARTBEAT_S = 2.0


def new_owner() -> str:
    """This process's name as a holder of retrainings: host:pid:token."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def _check_owner(owner: str | None) -> str | None:
    """A holder's name as given (None or empty: this process's own)."""
    from cairn.core.checks import check_optional_text

    return check_optional_text(owner, "owner (host:pid:token)", max_length=255)


def owner_gone(owner: str | None, heartbeat_ms: int | None, now: int, stale_s: float) -> bool:
    """Whether a holder stopped: nobody holds it, its heartbeat is stale, or (on this
    machine) its process is gone."""
    if owner is None or heartbeat_ms is None:
        return True
    if now - heartbeat_ms > stale_s * 1000:
        return True
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def request_retraining(model: str, *, reason: str = "by hand") -> Retraining:
    """Queue a retraining of ``model`` now (as its policy's triggers would); return it (it
    ends as ``dropped`` when the policy drops triggers while one is open)."""
    from cairn.core.checks import check_text

    stored = get_policy(model)
    reason = check_text(reason, "reason", empty=False, max_length=1000)
    number = get_store().db.transact(
        lambda conn: _enqueue(conn, stored.policy, "manual", f"manual: {reason}", None, {})
    )
    return get_retraining(number)


def run_retraining(number: int, *, owner: str | None = None) -> Retraining:
    """Work on retraining ``number`` in this process until it ends (it must be queued, or
    held by a scheduler that stopped); return how it ended."""
    me = _check_owner(owner) or new_owner()
    current = get_retraining(number)
    if current.is_over:
        return current
    if not _take(current.id, me, STALE_S):
        raise InvalidInputError(_busy(get_retraining(number)))
    try:
        stored = get_policy(current.model)
    except CairnError as exc:  # removed since it was queued: it cannot go on
        _give_up(current.id, me, f"its policy is gone: {exc}")
        raise
    worker = Worker(number, me, stored.root)
    beat = _Heartbeat(me)
    try:
        return worker.run()
    finally:
        beat.stop()


class Retrainer:
    """The loop's part of ``cairn scheduler`` (a ``SchedulerCompanion``)."""

    def __init__(self, *, owner: str | None = None, stale_s: float = STALE_S) -> None:
        from cairn.core.checks import check_number

        self.owner = _check_owner(owner) or new_owner()
        self.stale_s = check_number(stale_s, "stale_s (seconds)", finite=True)
        if self.stale_s <= 0:
            raise InvalidInputError(f"stale_s must be positive, not {self.stale_s:g}")
        self._workers: dict[str, threading.Thread] = {}
        self._monitors: dict[str, threading.Thread] = {}
        self._monitored_ms: dict[str, int] = {}
        self._stopping = threading.Event()
        self._heartbeat: _Heartbeat | None = None

    # -- SchedulerCompanion --

    def tick(self) -> None:
        """Monitor what is due, queue new triggers, start work on what can start."""
        if self._stopping.is_set():
            return
        self._reap()
        with get_store().db.read() as conn:
            rows = _queries.policy_rows(conn, enabled_only=True)
        now = now_ms()
        for row in rows:
            self._monitor(row, now)
        for row in rows:
            self._queue_triggers(row, now)
        self._start_open(now)

    def running(self) -> int:
        """Retrainings and monitoring passes in flight in this process."""
        self._reap()
        return len(self._workers) + len(self._monitors)

    def stop(self, grace_s: float) -> None:
        """Ask each retraining to stop (a pipeline running is asked to stop too), wait up to
        ``grace_s``, and let go of what it held: another scheduler resumes it."""
        self._stopping.set()
        for thread in [*self._workers.values(), *self._monitors.values()]:
            thread.join(grace_s)
        if self._heartbeat is not None:
            self._heartbeat.stop()
        get_store().db.transact(lambda conn: _release(conn, self.owner))

    # -- monitoring --

    def _monitor(self, row: Row[Any], now: int) -> None:
        policy = RetrainPolicy.from_json(row.spec)
        if policy.monitor_window is None or policy.model in self._monitors:
            return
        last = self._monitored_ms.get(policy.model)
        if last is not None and now - last < policy.monitor_every_s * 1000:
            return
        self._monitored_ms[policy.model] = now
        self._monitors[policy.model] = start_thread(
            _monitor_once, f"cairn-loop-monitor-{policy.model}", (policy,)
        )

    # -- triggers --

    def _queue_triggers(self, row: Row[Any], now: int) -> None:
        policy = RetrainPolicy.from_json(row.spec)
        with get_store().db.read() as conn:
            alerts = _queries.new_alerts(conn, policy.model, policy.on_alerts, row.seen_alert_id)
            versions = _queries.new_versions(conn, policy.on_data, row.seen_version_id)
        due = policy.cron is not None and row.next_due_ms is not None and row.next_due_ms <= now
        if not (alerts or versions or due):
            return
        values: dict[str, Any] = {}
        if alerts:
            values["seen_alert_id"] = max(int(a.id) for a in alerts)
        if versions:
            values["seen_version_id"] = max(int(v.id) for v in versions)
        if due:
            from cairn import pipelines

            assert policy.cron is not None
            values["next_due_ms"] = pipelines.next_cron_ms(policy.cron, now)
        kind, trigger, alert_id, evidence = _trigger(policy, alerts, versions, due)

        def queue(conn: Connection) -> int | None:
            if not _queries.claim_policy(conn, policy.model, row.claim, values):
                return None  # another scheduler queued it
            return _enqueue(conn, policy, kind, trigger, alert_id, evidence)

        number = get_store().db.transact(queue)
        if number is not None:
            logger.info("retraining #%s of %s queued: %s", number, policy.model, trigger)

    # -- work --

    def _start_open(self, now: int) -> None:
        with get_store().db.read() as conn:
            rows = _queries.retraining_rows(conn, states=_queries.OPEN, oldest_first=True)
        by_model: dict[str, list[Row[Any]]] = {}
        for row in rows:
            by_model.setdefault(row.model, []).append(row)
        for model, group in by_model.items():
            if model in self._workers:
                continue
            if not _takeable(group, now, self.stale_s):
                continue
            if not _take(int(group[0].id), self.owner, self.stale_s, group[0].claim):
                continue
            if self._heartbeat is None:
                self._heartbeat = _Heartbeat(self.owner)
            try:
                root = get_policy(model).root
            except CairnError as exc:  # the policy was removed: the retraining cannot go on
                _give_up(int(group[0].id), self.owner, f"its policy is gone: {exc}")
                continue
            worker = Worker(int(group[0].id), self.owner, root, self._stopping.is_set)
            self._workers[model] = start_thread(_work, f"cairn-retrain-{model}", (worker,))

    def _reap(self) -> None:
        for threads in (self._workers, self._monitors):
            for model in [m for m, t in threads.items() if not t.is_alive()]:
                del threads[model]


def _work(worker: Worker) -> None:
    ended = worker.run()
    logger.warning("%s", ended.summary())


def _monitor_once(policy: RetrainPolicy) -> None:
    """Compute the served model's new drift windows (its alert rules fire on them)."""
    from cairn.monitoring import monitor_model

    assert policy.monitor_window is not None
    window: str | int = policy.monitor_window
    if isinstance(window, str) and window.isdigit():
        window = int(window)
    try:
        monitor_model(f"{policy.model}@{policy.alias}", window=window)
    except CairnError as exc:
        logger.info("monitoring %s for its retraining policy: %s", policy.model, exc)
    except Exception as exc:  # the next pass retries
        logger.error("monitoring %s for its retraining policy failed: %s", policy.model, exc)


def _trigger(
    policy: RetrainPolicy, alerts: list[Row[Any]], versions: list[Row[Any]], due: bool
) -> tuple[str, str, int | None, dict[str, Any]]:
    """What started it (the newest alert first, then data, then cron), in words."""
    if alerts:
        alert = alerts[-1]
        evidence = json.loads(alert.evidence) if alert.evidence else {}
        more = f" and {len(alerts) - 1} more" if len(alerts) > 1 else ""
        evidence = {**evidence, "alert_message": alert.message, "alerts": [a.id for a in alerts]}
        return "alert", f"alert {alert.rule} #{alert.id}{more}", int(alert.id), evidence
    if versions:
        newest = versions[-1]
        ref = f"{newest.name}@v{newest.number}"
        evidence = {"dataset_version": ref} if newest.name == policy.dataset else {"data": ref}
        return "data", f"new version {ref}", None, evidence
    return "cron", f"cron {policy.cron}", None, {}


def _enqueue(
    conn: Connection,
    policy: RetrainPolicy,
    kind: str,
    trigger: str,
    alert_id: int | None,
    evidence: dict[str, Any],
) -> int:
    """Queue a retraining, or record the trigger as dropped when one is queued already (or
    running, when the policy drops triggers while one runs)."""
    open_rows = _queries.retraining_rows(conn, model=policy.model, states=_queries.OPEN)
    queued = [r for r in open_rows if r.state == "queued"]
    running = [r for r in open_rows if r.state == "running"]
    reason = None
    if queued:
        reason = f"retraining #{queued[0].id} is queued already and will train on the newest data"
    elif running and policy.on_busy == "drop":
        reason = f"retraining #{running[0].id} is running and the policy drops triggers meanwhile"
    values = queue_values(
        policy.model,
        policy,
        kind=kind,
        trigger=trigger,
        alert_id=alert_id,
        evidence=evidence,
        state="dropped" if reason else "queued",
        reason=reason,
    )
    return _queries.insert_retraining(conn, values)


def _takeable(group: list[Row[Any]], now: int, stale_s: float) -> bool:
    """Whether the first open retraining of a model may be taken up here: queued with none
    running, or running under a holder that stopped."""
    first = group[0]
    running = [r for r in group if r.state == "running"]
    if running:
        held = running[0]
        return bool(held.id == first.id) and owner_gone(held.owner, held.heartbeat_ms, now, stale_s)
    return bool(first.state == "queued")


def _take(number: int, owner: str, stale_s: float, seen_claim: int | None = None) -> bool:
    """Hold retraining ``number`` (compare-and-set on its claim)."""

    def take(conn: Connection) -> bool:
        row = _queries.retraining_row(conn, number)
        if row is None or row.state not in _queries.OPEN:
            return False
        if seen_claim is not None and row.claim != seen_claim:
            return False
        others = _queries.retraining_rows(conn, model=row.model, states=("running",))
        now = now_ms()
        for other in others:
            if other.id != number and not owner_gone(other.owner, other.heartbeat_ms, now, stale_s):
                return False
        if row.state == "running" and not owner_gone(row.owner, row.heartbeat_ms, now, stale_s):
            return False
        values: dict[str, Any] = {"state": "running", "owner": owner, "heartbeat_ms": now}
        if row.started_ms is None:
            values["started_ms"] = now
        return _queries.take_retraining(conn, number, row.claim, values)

    return get_store().db.transact(take)


def _busy(current: Retraining) -> str:
    """Why retraining ``current`` cannot be taken up here, in words."""
    if current.is_over:
        return f"retraining #{current.id} ended meanwhile: {current.state}"
    if current.state == "running":
        return (
            f"retraining #{current.id} of {current.model} is running under {current.owner}; "
            "it ends there (cairn models retrainings shows how)"
        )
    with get_store().db.read() as conn:
        running = _queries.retraining_rows(conn, model=current.model, states=("running",))
    held = ", ".join(f"#{r.id} under {r.owner}" for r in running) or "another"
    return (
        f"retraining #{current.id} of {current.model} waits: retraining {held} is running "
        "(one at a time per model); cairn scheduler takes it up after"
    )


def _give_up(number: int, owner: str, reason: str) -> None:
    values = {"state": "failed", "stage": "done", "reason": reason, "ended_ms": now_ms()}
    get_store().db.transact(
        lambda conn: _queries.update_retraining(
            conn, number, {**values, "owner": None}, owner=owner
        )
    )


def _release(conn: Connection, owner: str) -> None:
    """Let go of every retraining ``owner`` holds (another scheduler resumes them)."""
    for row in _queries.retraining_rows(conn, states=("running",)):
        if row.owner == owner:
            _queries.update_retraining(conn, int(row.id), {"owner": None}, owner=owner)


class _Heartbeat:
    """Beats for every retraining one holder holds, every ``HEARTBEAT_S``."""

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self._stop = threading.Event()
        self.failures = 0
        self._thread = start_thread(self._loop, "cairn-loop-heartbeat")

    def _loop(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            try:
                get_store().db.transact(self._beat)
            except Exception as exc:  # the store is away a moment: the next beat retries
                self.failures += 1
                logger.warning("retraining heartbeat failed (%s times): %s", self.failures, exc)

    def _beat(self, conn: Connection) -> None:
        for row in _queries.retraining_rows(conn, states=("running",)):
            if row.owner == self.owner:
                _queries.update_retraining(
                    conn, int(row.id), {"heartbeat_ms": now_ms()}, owner=self.owner
                )

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(HEARTBEAT_S + 5)
