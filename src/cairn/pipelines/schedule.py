"""Schedules and triggers: start a pipeline on a cron expression, on a dataset's new version,
or on a named event (``drift_detected``), from ``cairn scheduler``.

A schedule is a row in the metadata store, so every scheduler of a project (or a team, on
PostgreSQL) sees the same schedules. A scheduler claims a due schedule with a compare-and-set
on the schedule's ``claim`` counter, in the same update that moves the schedule past what made
it due (the next cron time, the newest dataset version, the newest event): of two schedulers
that saw it due at the same instant, exactly one starts it. A cron time missed while no
scheduler ran starts the pipeline once, not once per missed tick. Times are UTC.

A started pipeline is ``cairn pipeline run`` in a process of its own, in the schedule's project
folder, tagged ``cairn.schedule=<name>``; its output goes to the scheduler's stderr, each line
prefixed with the schedule's name, and the run it made (or why it failed) is kept on the
schedule. A failed pipeline never stops the scheduler.

Beside schedules, a scheduler drives its companions (``SchedulerCompanion``, e.g. the closed
loop's retraining): each is ticked at every poll, ``--once`` waits for their work too, and
they are asked to stop with the scheduler; a companion's exception is said, never fatal.
"""

from __future__ import annotations

import functools
import json
import signal
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import FrameType
from typing import Any, Protocol

from sqlalchemy import Connection, Row
from sqlalchemy.exc import IntegrityError

from cairn.core.checks import (
    check_int,
    check_mapping,
    check_number,
    check_optional_text,
    show,
)
from cairn.core.errors import CairnError, InvalidInputError, NotFoundError
from cairn.core.ids import describe_time
from cairn.core.ids import now_ms as _now_ms
from cairn.core.settings import get_settings
from cairn.pipelines import _schedule_checks as _checks
from cairn.pipelines import _schedule_queries as _queries
from cairn.pipelines._schedule_checks import DRIFT_DETECTED
from cairn.pipelines.process import PipelineProcess, _arguments, _write_stderr
from cairn.store import get_store

DEFAULT_POLL_S = 30.0
_LAST_MS = 221_845_392_000_000  # 9000-01-01 UTC: cron times stay within datetime's range
_STOP_GRACE_S = 30.0  # after the scheduler is asked to stop, how long its pipelines may take
_BUSY_POLL_S = 0.5  # the longest poll while a pipeline or a companion's work runs


@dataclass(frozen=True)
class Schedule:
    """A pipeline started by the scheduler on a cron expression, a dataset's new version or an
    event, with how its last start went."""

    name: str
    target: str
    root: str
    cron: str | None
    on_data: str | None
    on_event: str | None
    params: dict[str, str]
    executor: str | None
    enabled: bool
    next_due_ms: int | None
    seen_version_id: int | None
    seen_event_id: int | None
    claim: int
    last_run_uid: str | None
    last_started_ms: int | None
    last_error: str | None
    created_ms: int

    @property
    def trigger(self) -> str:
        """What starts it, in words: ``cron 0 3 * * *``, ``data customers``,
        ``event drift_detected``."""
        if self.cron is not None:
            return f"cron {self.cron}"
        if self.on_data is not None:
            return f"data {self.on_data}"
        return f"event {self.on_event}"

    @property
    def arguments(self) -> list[str]:
        """The arguments of ``cairn`` that start it (``pipeline run TARGET ...``)."""
        tags = {"cairn.schedule": self.name}
        return _arguments(self.target, params=self.params, tags=tags, executor=self.executor)


class SchedulerCompanion(Protocol):
    """Work the scheduler drives besides due schedules (the closed loop's retraining): ticked
    at every poll, waited for by ``cairn scheduler --once``, and stopped with the scheduler."""

    def tick(self) -> None:
        """Start whatever work is due, in the background; return quickly."""

    def running(self) -> int:
        """How many pieces of work are in flight."""

    def stop(self, grace_s: float) -> None:
        """Finish or abandon the work in flight within ``grace_s`` seconds."""


@dataclass(frozen=True)
class ScheduledStart:
    """One pipeline a scheduler started, and how it ended."""

    schedule: str
    target: str
    reason: str  # why it was due
    started_ms: int
    run_id: str | None  # the pipeline run, when one was made
    status: str  # finished | failed
    exit_code: int | None  # None when the process could not start
    duration_s: float
    error: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the pipeline finished."""
        return self.status == "finished"

    def summary(self) -> str:
        """One line: which schedule, why, and how its pipeline ended."""
        run = f"pipeline run {self.run_id}" if self.run_id else "no pipeline run"
        line = f"{self.schedule} ({self.reason}): {run} {self.status} in {self.duration_s:.1f} s"
        if self.error and not self.ok:
            line += f": {self.error.splitlines()[0] if self.error.strip() else self.error}"
        return line


def schedule_pipeline(
    target: str,
    *,
    cron: str | None = None,
    on_data: str | None = None,
    on_event: str | None = None,
    params: Mapping[str, Any] | None = None,
    executor: str | None = None,
    name: str | None = None,
) -> Schedule:
    """Keep a schedule that starts pipeline ``target`` (``MODULE:PIPELINE``) on a cron
    expression (UTC), when dataset ``on_data`` gets a new version, or on event ``on_event``."""
    target = _checks.check_target(target)
    cron = _checks.check_cron(cron) if cron is not None else None
    on_data = check_optional_text(on_data, "on_data (a dataset name)", max_length=255)
    on_event = _checks.check_event(on_event) if on_event is not None else None
    given = [t for t in (cron, on_data, on_event) if t is not None]
    if len(given) != 1:
        raise InvalidInputError(
            f"a schedule needs exactly one trigger, got {len(given)}: give a cron expression "
            "(--cron '0 3 * * *'), a dataset (--on-data NAME) or an event "
            f"(--on-event {DRIFT_DETECTED})"
        )
    texts = _checks.param_texts(params)
    executor = _checks.check_executor(executor)
    if name is not None:
        name = _checks.check_name(name)
    if on_data is not None:
        on_data = _checks.require_dataset(on_data)
    root = get_settings().root
    _checks.check_pipeline(target, root, texts)
    now = _now_ms()

    def create(conn: Connection) -> Row[Any]:
        chosen = name or _free_name(conn, target.rpartition(":")[2])
        if _queries.schedule_row(conn, chosen) is not None:
            raise InvalidInputError(
                f"a schedule named {chosen!r} exists already; remove it first (cairn pipeline "
                f"unschedule {chosen}) or choose another name (--name)"
            )
        values: dict[str, Any] = {
            "name": chosen,
            "target": target,
            "root": str(root),
            "cron": cron,
            "on_data": on_data,
            "on_event": on_event,
            "params": json.dumps(texts),
            "executor": executor,
            "enabled": True,
            "next_due_ms": _checks.next_cron_ms(cron, now) if cron is not None else None,
            # Only what comes after the schedule starts it: the newest version or event now
            # counts as already seen.
            "seen_version_id": (
                (_queries.newest_version_id(conn, on_data) or 0) if on_data is not None else None
            ),
            "seen_event_id": (
                (_queries.newest_event_id(conn, on_event) or 0) if on_event is not None else None
            ),
            "claim": 0,
            "created_ms": now,
        }
        _queries.insert_schedule(conn, values)
        row = _queries.schedule_row(conn, chosen)
        assert row is not None
        return row

    try:
        return _schedule(get_store().db.transact(create))
    except IntegrityError as exc:  # another process took the name between check and insert
        raise InvalidInputError(
            f"a schedule named {name or target!r} was just created by another process; "
            "choose another name (--name)"
        ) from exc


def list_schedules() -> list[Schedule]:
    """Every schedule, by name."""
    with get_store().db.read() as conn:
        return [_schedule(row) for row in _queries.schedule_rows(conn)]


def get_schedule(name: str) -> Schedule:
    """The schedule called ``name``."""
    name = _checks.check_name(name)
    with get_store().db.read() as conn:
        row = _queries.schedule_row(conn, name)
        if row is None:
            raise _unknown(conn, name)
        return _schedule(row)


def remove_schedule(name: str) -> Schedule:
    """Remove the schedule called ``name`` (pipelines it started stay); return it."""
    name = _checks.check_name(name)

    def drop(conn: Connection) -> Schedule:
        row = _queries.schedule_row(conn, name)
        if row is None:
            raise _unknown(conn, name)
        _queries.delete_schedule(conn, name)
        return _schedule(row)

    return get_store().db.transact(drop)


def emit_event(name: str, payload: Mapping[str, Any] | None = None) -> int:
    """Record event ``name`` (with a JSON-able ``payload``) for schedules waiting on it; return
    its id."""
    name = _checks.check_event(name)
    body = dict(check_mapping(payload or {}, "payload"))
    try:
        json.dumps(body, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(
            f"the payload of event {name!r} must be JSON (strings, numbers, lists, mappings): {exc}"
        ) from exc
    now = _now_ms()
    return get_store().db.transact(lambda conn: _queries.insert_event(conn, name, body, now))


def run_due(
    *, now_ms: int | None = None, companions: Sequence[SchedulerCompanion] = ()
) -> list[ScheduledStart]:
    """Start every schedule due at ``now_ms`` (default: now) that no other scheduler claimed,
    tick each companion once, wait for the pipelines and the companions' work, and return how
    each pipeline ended (SIGINT or SIGTERM asks them all to stop)."""
    now = _now_ms() if now_ms is None else check_int(now_ms, "now_ms", minimum=0, maximum=_LAST_MS)
    drive = _Companions(companions)
    stop = threading.Event()
    previous = _handle_stop_signals(stop)
    try:
        started = _start_due(now)
        drive.tick()
        while not stop.is_set() and (
            not all(start.process.poll() for start in started) or drive.running()
        ):
            stop.wait(0.1)
        if stop.is_set():
            _stop_all(started, drive)
        return [start.finish() for start in started]
    finally:
        _restore_signals(previous)


def run_scheduler(
    *, poll_s: float = DEFAULT_POLL_S, companions: Sequence[SchedulerCompanion] = ()
) -> None:
    """Start due pipelines and tick the companions every ``poll_s`` seconds until SIGINT or
    SIGTERM (then ask the running pipelines and the companions to stop, wait, and return)."""
    poll_s = check_number(poll_s, "poll_s (seconds)", finite=True)
    if poll_s <= 0:
        raise InvalidInputError(f"poll_s must be a positive number of seconds, got {poll_s:g}")
    drive = _Companions(companions)
    stop = threading.Event()
    previous = _handle_stop_signals(stop)
    running: list[_Started] = []
    _say(f"scheduler started: checking every {poll_s:g} s (Ctrl-C or SIGTERM stops it)")
    try:
        while not stop.is_set():
            try:
                # A schedule still running here waits: it is claimed again once it ended.
                busy = {start.schedule.name for start in running}
                running += _start_due(_now_ms(), busy)
            except Exception as exc:  # e.g. the store is away for a moment: next poll retries
                _say(f"could not check schedules: {_described(exc)}")
            drive.tick()
            running = _reap(running)
            busy_now = bool(running) or drive.running() > 0
            stop.wait(min(poll_s, _BUSY_POLL_S) if busy_now else poll_s)
    finally:
        _stop_all(running, drive)
        _reap(running)
        _restore_signals(previous)
        _say("scheduler stopped")


def _stop_all(running: list[_Started], companions: _Companions) -> None:
    """Ask the running pipelines and the companions to stop, and wait for the pipelines
    (killing those that linger)."""
    alive = [start.process for start in running if not start.process.poll()]
    if alive:
        _say(f"stopping: asking {len(alive)} running pipeline(s) to stop")
    for process in alive:
        process.terminate()
    deadline = time.monotonic() + _STOP_GRACE_S
    companions.stop(deadline)
    for process in alive:
        process.wait(max(0.0, deadline - time.monotonic()))


class _Companions:
    """The scheduler's companions, each call guarded: a companion's exception is said and
    counted, never the end of the scheduler."""

    def __init__(self, companions: Sequence[SchedulerCompanion]) -> None:
        if not isinstance(companions, Sequence) or isinstance(companions, (str, bytes)):
            raise InvalidInputError(
                f"companions must be a list of scheduler companions, got {show(companions)}"
            )
        for companion in companions:
            lacking = [m for m in ("tick", "running", "stop") if not _has_method(companion, m)]
            if lacking:
                raise InvalidInputError(
                    f"scheduler companion {show(companion)} has no method {', '.join(lacking)}: "
                    "a companion has tick(), running() and stop(grace_s)"
                )
        self.companions = list(companions)
        self.failures: dict[int, int] = {}  # by position: how many calls raised

    def tick(self) -> None:
        """Tick each companion."""
        for index, companion in enumerate(self.companions):
            self._call(index, "tick", companion.tick)

    def running(self) -> int:
        """The pieces of work in flight, all companions together (one that cannot say counts
        as having none)."""
        counts = (self._call(i, "running", c.running) for i, c in enumerate(self.companions))
        return sum(count for count in counts if isinstance(count, int))

    def stop(self, deadline: float) -> None:
        """Ask each companion to stop, each within what is left until ``deadline``."""
        for index, companion in enumerate(self.companions):
            grace = max(0.0, deadline - time.monotonic())
            self._call(index, "stop", functools.partial(companion.stop, grace))

    def _call(self, index: int, what: str, call: Callable[[], Any]) -> Any:
        try:
            return call()
        except Exception as exc:
            self.failures[index] = count = self.failures.get(index, 0) + 1
            name = type(self.companions[index]).__name__
            _say(f"companion {name}: {what} failed ({count} so far): {_described(exc)}")
            return None


def _has_method(value: object, name: str) -> bool:
    return callable(getattr(value, name, None))


# -- what is due, and claiming it --------------------------------------------------------


def _due(
    row: Row[Any], now: int, versions: Mapping[str, int], events: Mapping[str, int]
) -> tuple[str, dict[str, Any]] | None:
    """Why the schedule is due and the values that move it past that, or None."""
    if row.cron is not None:
        if row.next_due_ms is not None and row.next_due_ms <= now:
            # The next time after now, not after the time missed: missed ticks start it once.
            reason = f"cron {row.cron}, due {describe_time(row.next_due_ms)}"
            return reason, {"next_due_ms": _checks.next_cron_ms(row.cron, now)}
        return None
    if row.on_data is not None:
        newest = versions.get(row.on_data)
        if newest is not None and newest > (row.seen_version_id or 0):
            return f"new version of dataset {row.on_data}", {"seen_version_id": newest}
        return None
    if row.on_event is not None:
        newest = events.get(row.on_event)
        if newest is not None and newest > (row.seen_event_id or 0):
            return f"event {row.on_event} #{newest}", {"seen_event_id": newest}
    return None


def _start_due(now: int, busy: frozenset[str] | set[str] = frozenset()) -> list[_Started]:
    """Claim each schedule due at ``now`` (but those ``busy``) and start its pipeline."""
    db = get_store().db
    with db.read() as conn:
        rows = _queries.schedule_rows(conn, enabled_only=True)
        versions = _queries.newest_version_ids(conn, sorted({r.on_data for r in rows if r.on_data}))
        events = _queries.newest_event_ids(conn, sorted({r.on_event for r in rows if r.on_event}))
    started = []
    for row in rows:
        due = None if row.name in busy else _due(row, now, versions, events)
        if due is None:
            continue
        reason, values = due
        values["last_started_ms"] = _now_ms()

        def claim(conn: Connection, row: Row[Any] = row, values: dict[str, Any] = values) -> bool:
            return _queries.claim(conn, row.id, row.claim, values)

        if db.transact(claim):
            started.append(_Started(_schedule(row), row.id, reason, values["last_started_ms"]))
    return started


def _reap(running: list[_Started]) -> list[_Started]:
    """Record the pipelines that ended (saying how); return those still running."""
    still = []
    for start in running:
        if not start.process.poll():
            still.append(start)
            continue
        try:
            _say(start.finish().summary())
        except Exception as exc:  # the pipeline ended; only keeping how failed
            _say(f"{start.schedule.name}: could not record how it ended: {_described(exc)}")
    return still


def _described(exc: BaseException) -> str:
    """A CairnError's message, or another exception's type and message."""
    return str(exc) if isinstance(exc, CairnError) else f"{type(exc).__name__}: {exc}"


# -- one started pipeline ----------------------------------------------------------------


class _Started:
    """A pipeline started for a schedule: its process, and why it was started."""

    def __init__(self, schedule: Schedule, schedule_id: int, reason: str, started_ms: int) -> None:
        self.schedule = schedule
        self.schedule_id = schedule_id
        self.reason = reason
        self.started_ms = started_ms
        _say(f"starting {schedule.name} ({reason}): cairn {' '.join(schedule.arguments)}")
        self.process = PipelineProcess(schedule.arguments, root=schedule.root, label=schedule.name)

    def finish(self) -> ScheduledStart:
        """Wait for the pipeline, keep its outcome on the schedule, and return it."""
        ended = self.process.finish()
        run_id = ended.run_id or _tagged_run(self.schedule.name, self.started_ms)
        get_store().db.transact(
            lambda conn: _queries.record_outcome(conn, self.schedule_id, run_id, ended.error)
        )
        return ScheduledStart(
            schedule=self.schedule.name,
            target=self.schedule.target,
            reason=self.reason,
            started_ms=self.started_ms,
            run_id=run_id,
            status="finished" if ended.ok else "failed",
            exit_code=ended.exit_code,
            duration_s=ended.duration_s,
            error=ended.error,
        )


def _tagged_run(schedule: str, since_ms: int) -> str | None:
    """The newest run tagged ``cairn.schedule=<schedule>`` started since ``since_ms``."""
    from cairn.tracking import find_runs

    try:
        found = find_runs(f"tags.`cairn.schedule` = '{schedule}'", limit=1)
    except CairnError:
        return None
    return found[0].id if found and found[0].start_ms >= since_ms - 1000 else None


# -- signals -------------------------------------------------------------------------------

_Handler = Any  # what signal.getsignal returns


def _handle_stop_signals(stop: threading.Event) -> dict[int, _Handler]:
    """Make SIGINT and SIGTERM set ``stop`` (in the main thread; elsewhere signals are the
    main thread's to handle); return the handlers replaced."""
    if threading.current_thread() is not threading.main_thread():
        return {}

    def handler(signum: int, frame: FrameType | None) -> None:
        if not stop.is_set():
            _say(f"{signal.Signals(signum).name} received: stopping")
        stop.set()

    previous: dict[int, _Handler] = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        previous[signum] = signal.getsignal(signum)
        signal.signal(signum, handler)
    return previous


def _restore_signals(previous: Mapping[int, _Handler]) -> None:
    for signum, handler in previous.items():
        signal.signal(signum, handler)


# -- checks and conversions ----------------------------------------------------------------


def _say(text: str) -> None:
    """One line of the scheduler's own on stderr, stamped with the UTC time."""
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
    _write_stderr(f"{stamp} {text}")


def _schedule(row: Row[Any]) -> Schedule:
    return Schedule(
        name=row.name,
        target=row.target,
        root=row.root,
        cron=row.cron,
        on_data=row.on_data,
        on_event=row.on_event,
        params=json.loads(row.params),
        executor=row.executor,
        enabled=bool(row.enabled),
        next_due_ms=row.next_due_ms,
        seen_version_id=row.seen_version_id,
        seen_event_id=row.seen_event_id,
        claim=int(row.claim),
        last_run_uid=row.last_run_uid,
        last_started_ms=row.last_started_ms,
        last_error=row.last_error,
        created_ms=int(row.created_ms),
    )


def _unknown(conn: Connection, name: str) -> NotFoundError:
    known = ", ".join(_queries.schedule_names(conn)) or "none yet"
    return NotFoundError(
        f"no schedule named {name!r} (known: {known}); cairn pipeline schedules lists them"
    )


def _free_name(conn: Connection, base: str) -> str:
    """``base``, or ``base-2``, ``base-3``... : the first name no schedule has."""
    taken = {row.name for row in _queries.schedule_rows(conn)}
    if base not in taken:
        return base
    number = 2
    while f"{base}-{number}" in taken:
        number += 1
    return f"{base}-{number}"
