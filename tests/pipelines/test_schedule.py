"""Schedules and triggers: cron, a dataset's new version and events start a pipeline once, by
whichever scheduler claims it, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import cairn
from cairn.core.errors import InvalidInputError, NotFoundError
from cairn.core.plugins import plugin_manager
from cairn.pipelines.schedule import (
    emit_event,
    get_schedule,
    list_schedules,
    remove_schedule,
    run_due,
    run_scheduler,
    schedule_pipeline,
)
from cairn.store import Store

MINUTE_MS = 60_000

# The pipelines the schedules start: each start of ``marked`` appends a line to starts.txt.
PIPELINES = '''
import os
from pathlib import Path

import cairn

STARTS = Path(__file__).parent / "starts.txt"


@cairn.step(cache=False)
def mark(tag: str) -> str:
    """Note one start."""
    with STARTS.open("a") as out:
        out.write(f"{tag} {os.getpid()}\\n")
    print(f"marked {tag}")
    return tag


@cairn.step(cache=False)
def break_down(tag: str) -> str:
    """Fail, on purpose."""
    raise RuntimeError(f"step broke on purpose ({tag})")


@cairn.step(cache=False)
def linger(tag: str) -> str:
    """Note the start, then take a long time."""
    import time

    with STARTS.open("a") as out:
        out.write(f"{tag} {os.getpid()}\\n")
    time.sleep(600)
    return tag


@cairn.pipeline
def slow(tag: str = "plain"):
    return linger(tag)


@cairn.pipeline
def marked(tag: str = "plain"):
    return mark(tag)


@cairn.pipeline
def failing(tag: str = "plain"):
    return break_down(tag)
'''


@pytest.fixture
def flows(project: Path) -> Path:
    """A project holding the module ``flows`` with the pipelines ``marked`` and ``failing``."""
    (project / "flows.py").write_text(PIPELINES)
    return project / "starts.txt"


def _starts(marks: Path) -> list[str]:
    return marks.read_text().split("\n")[:-1] if marks.exists() else []


def _env(store: Store) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAIRN_")}
    env["CAIRN_STORE"] = store.db.url
    return env


def _cairn(store: Store, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cairn", *args],
        env=_env(store),
        capture_output=True,
        text=True,
        timeout=300,
    )


# -- defining schedules ------------------------------------------------------------------


def test_a_malformed_cron_expression_is_refused(store: Store) -> None:
    """A cron expression that does not parse is refused with what a good one looks like."""
    for bad in ("61 * * * *", "every day", "* * * *", "0 3 * * * *"):
        with pytest.raises(InvalidInputError, match="does not parse"):
            schedule_pipeline("flows:marked", cron=bad)
    assert list_schedules() == []


def test_a_malformed_cron_on_the_command_line_exits_1_without_a_traceback(store: Store) -> None:
    """cairn pipeline schedule --cron with a bad expression says so and exits 1."""
    done = _cairn(store, "pipeline", "schedule", "flows:marked", "--cron", "0 25 * * *")
    assert done.returncode == 1, done.stderr
    assert "does not parse" in done.stderr and "Traceback" not in done.stderr


def test_a_schedule_needs_exactly_one_trigger_and_a_known_dataset(store: Store) -> None:
    """No trigger, two triggers, a bad target or an unknown dataset are each refused."""
    with pytest.raises(InvalidInputError, match="exactly one trigger"):
        schedule_pipeline("flows:marked")
    with pytest.raises(InvalidInputError, match="exactly one trigger"):
        schedule_pipeline("flows:marked", cron="0 3 * * *", on_event="drift_detected")
    with pytest.raises(InvalidInputError, match="MODULE:PIPELINE"):
        schedule_pipeline("flows.marked", cron="0 3 * * *")
    with pytest.raises(NotFoundError, match="no dataset named 'nope'"):
        schedule_pipeline("flows:marked", on_data="nope")
    with pytest.raises(InvalidInputError, match="executor"):
        schedule_pipeline("flows:marked", cron="0 3 * * *", executor="threads")
    with pytest.raises(InvalidInputError, match="executor"):
        schedule_pipeline("flows:marked", cron="0 3 * * *", executor="dask=" + "x" * 300)
    with pytest.raises(InvalidInputError, match="now_ms"):
        run_due(now_ms=-1)


def test_a_pipeline_or_param_that_does_not_exist_is_refused(store: Store, flows: Path) -> None:
    """A missing module or pipeline, or a --set the pipeline does not declare, is refused."""
    with pytest.raises(InvalidInputError, match="cannot find module 'nowhere'"):
        schedule_pipeline("nowhere:marked", cron="0 3 * * *")
    with pytest.raises(InvalidInputError, match="has no 'nothing'"):
        schedule_pipeline("flows:nothing", cron="0 3 * * *")
    with pytest.raises(InvalidInputError, match="has no param 'lr'"):
        schedule_pipeline("flows:marked", cron="0 3 * * *", params={"lr": 0.1})
    assert list_schedules() == []


def test_names_default_to_the_pipeline_and_are_unique(store: Store, flows: Path) -> None:
    """Schedules are named after the pipeline (then -2, -3); a name given twice is refused."""
    first = schedule_pipeline("flows:marked", cron="0 3 * * *")
    second = schedule_pipeline("flows:marked", on_event="drift_detected", params={"tag": 2})
    assert (first.name, second.name) == ("marked", "marked-2")
    assert second.params == {"tag": "2"}
    with pytest.raises(InvalidInputError, match="exists already"):
        schedule_pipeline("flows:marked", cron="0 4 * * *", name="marked")
    assert [s.name for s in list_schedules()] == ["marked", "marked-2"]
    assert remove_schedule("marked").target == "flows:marked"
    assert [s.name for s in list_schedules()] == ["marked-2"]
    with pytest.raises(NotFoundError, match="no schedule named 'marked'"):
        remove_schedule("marked")


def test_the_next_cron_time_is_in_utc(store: Store, flows: Path) -> None:
    """A daily 3:00 schedule is next due at the coming 3:00 UTC."""
    made = schedule_pipeline("flows:marked", cron="0 3 * * *")
    assert made.next_due_ms is not None
    due = time.gmtime(made.next_due_ms / 1000)
    assert (due.tm_hour, due.tm_min, due.tm_sec) == (3, 0, 0)
    assert 0 < made.next_due_ms - made.created_ms <= 24 * 60 * MINUTE_MS


# -- what is due starts once ----------------------------------------------------------------


def test_missed_cron_times_start_the_pipeline_once(store: Store, flows: Path) -> None:
    """A schedule missed for many ticks starts once, and is next due after now."""
    made = schedule_pipeline("flows:marked", cron="* * * * *", executor="inline")
    assert made.next_due_ms is not None
    assert run_due(now_ms=made.next_due_ms - 1) == []
    later = made.next_due_ms + 30 * MINUTE_MS
    started = run_due(now_ms=later)
    assert [s.schedule for s in started] == ["marked"]
    assert run_due(now_ms=later) == []
    after = get_schedule("marked")
    assert after.claim == 1 and after.next_due_ms == later - later % MINUTE_MS + MINUTE_MS
    assert after.last_started_ms is not None
    assert started[0].ok, started[0].error
    assert _starts(flows) == [f"plain {_starts(flows)[0].split()[1]}"]
    assert after.last_run_uid == started[0].run_id is not None
    assert after.last_error is None


def test_a_new_dataset_version_starts_the_pipeline(store: Store, flows: Path) -> None:
    """--on-data starts the pipeline for a version added after the schedule, once."""
    table = Path("customers.csv")
    table.write_text("id,x\n1,2\n")
    cairn.data.add(table, "customers")
    schedule_pipeline("flows:marked", on_data="customers", params={"tag": "data"})
    assert run_due() == []  # the version that existed before the schedule starts nothing
    table.write_text("id,x\n1,2\n3,4\n")
    cairn.data.add(table, "customers")
    started = run_due()
    assert [(s.schedule, s.reason) for s in started] == [
        ("marked", "new version of dataset customers")
    ]
    assert started[0].ok, started[0].error
    assert run_due() == []
    assert [line.split()[0] for line in _starts(flows)] == ["data"]


def test_events_start_the_pipeline_once_however_many_came(store: Store, flows: Path) -> None:
    """--on-event starts on events recorded after the schedule; two events start it once."""
    emit_event("drift_detected", {"model": "old"})
    schedule_pipeline("flows:marked", on_event="drift_detected", params={"tag": "event"})
    emit_event("something_else", {})
    assert run_due() == []
    emit_event("drift_detected", {"model": "churn"})
    emit_event("drift_detected", {"model": "churn", "again": True})
    started = run_due()
    assert len(started) == 1 and started[0].ok, started
    assert run_due() == []
    assert len(_starts(flows)) == 1


def test_the_drift_detected_hook_starts_schedules_waiting_on_it(store: Store, flows: Path) -> None:
    """A drift_detected hook call (as monitoring makes it) records the event that starts."""
    schedule_pipeline("flows:marked", on_event="drift_detected", params={"tag": "drift"})
    plugin_manager().hook.cairn_drift_detected(model="churn", version=3, details={"psi": 0.4})
    started = run_due()
    assert [s.reason.split(" #")[0] for s in started] == ["event drift_detected"]
    assert [line.split()[0] for line in _starts(flows)] == ["drift"]


def test_an_event_payload_must_be_json(store: Store) -> None:
    """emit_event refuses a payload JSON cannot hold, and a malformed event name."""
    with pytest.raises(InvalidInputError, match="JSON"):
        emit_event("drift_detected", {"when": object()})
    with pytest.raises(InvalidInputError, match="event name"):
        emit_event("drift detected", {})


# -- schedulers as processes ----------------------------------------------------------------


def test_two_schedulers_at_once_start_a_due_pipeline_once(store: Store, flows: Path) -> None:
    """Two cairn scheduler --once at the same instant start each due pipeline exactly once."""
    schedule_pipeline("flows:marked", on_event="go", executor="inline", name="by-event")
    schedule_pipeline("flows:marked", cron="* * * * *", executor="inline", name="by-cron")
    emit_event("go", {})
    # Make the cron schedule due now rather than at the next minute.
    store.db.transact(
        lambda conn: conn.exec_driver_sql(
            "UPDATE pipeline_schedules SET next_due_ms = 0 WHERE name = 'by-cron'"
        )
    )
    command = [sys.executable, "-m", "cairn", "scheduler", "--once"]
    procs = [
        subprocess.Popen(
            command, env=_env(store), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outputs = [proc.communicate(timeout=300) for proc in procs]
    said = "".join(err for _, err in outputs)
    assert all(proc.returncode == 0 for proc in procs), said
    assert said.count("starting by-event") == 1 and said.count("starting by-cron") == 1, said
    assert [get_schedule(n).claim for n in ("by-event", "by-cron")] == [1, 1]
    assert len(_starts(flows)) == 2, said
    assert "[by-event] " in said  # the pipeline's own output reaches the scheduler's stderr


def test_a_failed_pipeline_is_surfaced_and_kept(store: Store, flows: Path) -> None:
    """--once exits 1 when a started pipeline failed, and the schedule keeps why."""
    schedule_pipeline("flows:failing", on_event="go", executor="inline", name="broken")
    schedule_pipeline("flows:marked", on_event="go", executor="inline", name="fine")
    emit_event("go", {})
    done = _cairn(store, "scheduler", "--once")
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr.split("[broken]")[0]
    broken, fine = get_schedule("broken"), get_schedule("fine")
    assert broken.last_error is not None and "exit code 1" in broken.last_error
    assert fine.last_error is None and fine.last_run_uid is not None
    assert len(_starts(flows)) == 1
    assert cairn.get_run(fine.last_run_uid).tags["cairn.schedule"] == "fine"


def test_a_schedule_whose_folder_is_gone_fails_with_why(store: Store, flows: Path) -> None:
    """A schedule whose project folder no longer exists fails its start with a clear error."""
    schedule_pipeline("flows:marked", on_event="go", name="moved")
    store.db.transact(
        lambda conn: conn.exec_driver_sql(
            "UPDATE pipeline_schedules SET root = '/nonexistent/cairn-project'"
        )
    )
    emit_event("go", {})
    started = run_due()
    assert [(s.status, s.exit_code, s.run_id) for s in started] == [("failed", None, None)]
    error = get_schedule("moved").last_error
    assert error is not None and "cannot start the pipeline in /nonexistent" in error
    assert run_due() == []  # the start is spent: the next event starts it again


def test_the_long_lived_scheduler_survives_failures_and_stops_on_sigterm(
    store: Store, flows: Path
) -> None:
    """cairn scheduler keeps polling past a failed pipeline, starts later work, and stops
    cleanly on SIGTERM."""
    schedule_pipeline("flows:failing", on_event="first", executor="inline", name="broken")
    schedule_pipeline("flows:marked", on_event="second", executor="inline", name="fine")
    emit_event("first", {})
    with subprocess.Popen(
        [sys.executable, "-m", "cairn", "scheduler", "--poll", "0.2"],
        env=_env(store),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        deadline = time.monotonic() + 120
        while get_schedule("broken").last_error is None and time.monotonic() < deadline:
            time.sleep(0.2)
        emit_event("second", {})
        while not _starts(flows) and time.monotonic() < deadline:
            time.sleep(0.2)
        while get_schedule("fine").last_run_uid is None and time.monotonic() < deadline:
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "scheduler stopped" in err and "Traceback" not in err.split("[broken]")[0]
    assert "broken (event first" in err and "failed" in err
    assert len(_starts(flows)) == 1 and out == ""


def test_stopping_a_scheduler_stops_the_pipelines_it_started(store: Store, flows: Path) -> None:
    """SIGTERM to cairn scheduler --once stops its running pipeline, keeps why, and exits 1."""
    schedule_pipeline("flows:slow", on_event="go", executor="inline", name="slow")
    emit_event("go", {})
    with subprocess.Popen(
        [sys.executable, "-m", "cairn", "scheduler", "--once"],
        env=_env(store),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        deadline = time.monotonic() + 120
        while not _starts(flows) and time.monotonic() < deadline:
            time.sleep(0.1)
        began = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    assert time.monotonic() - began < 120, err  # stopped, not waited out
    kept = get_schedule("slow")
    assert kept.last_error is not None and "stopped by the scheduler" in kept.last_error, err
    if kept.last_run_uid is not None:
        assert cairn.get_run(kept.last_run_uid).status != "finished"


def test_schedules_are_listed_and_removed_on_the_command_line(store: Store, flows: Path) -> None:
    """cairn pipeline schedule, schedules and unschedule keep and show schedules."""
    made = _cairn(
        store, "pipeline", "schedule", "flows:marked", "--cron", "0 3 * * *", "--set", "tag=a b"
    )
    assert made.returncode == 0, made.stderr
    assert "scheduled marked" in made.stdout
    assert get_schedule("marked").params == {"tag": "a b"}
    listed = _cairn(store, "pipeline", "schedules")
    assert listed.returncode == 0 and "cron 0 3 * * *" in listed.stdout, listed.stderr
    gone = _cairn(store, "pipeline", "unschedule", "marked")
    assert gone.returncode == 0 and list_schedules() == [], gone.stderr
    again = _cairn(store, "pipeline", "unschedule", "marked")
    assert again.returncode == 1 and "no schedule named" in again.stderr
    assert "Traceback" not in again.stderr


# -- companions: work the scheduler drives besides schedules --------------------------------


class _Companion:
    """A companion that notes its calls; its work is a thread that runs ``work_s`` seconds
    (or until stopped); a tick in ``fail_on`` raises, tick ``term_on`` sends SIGTERM."""

    def __init__(
        self, *, work_s: float = 0.0, fail_on: tuple[int, ...] = (), term_on: int = 0
    ) -> None:
        self.work_s, self.fail_on, self.term_on = work_s, fail_on, term_on
        self.ticks = 0
        self.stops: list[float] = []
        self.release = threading.Event()
        self.work: list[threading.Thread] = []

    def tick(self) -> None:
        """Note the tick; start the work once; raise or signal when told to."""
        self.ticks += 1
        if self.ticks == self.term_on:
            os.kill(os.getpid(), signal.SIGTERM)
        if self.ticks in self.fail_on:
            raise RuntimeError(f"tick {self.ticks} broke on purpose")
        if self.work_s and not self.work:
            thread = threading.Thread(target=self.release.wait, args=(self.work_s,), daemon=True)
            thread.start()
            self.work.append(thread)

    def running(self) -> int:
        """How many work threads are alive."""
        return sum(thread.is_alive() for thread in self.work)

    def stop(self, grace_s: float) -> None:
        """End the work within grace_s."""
        self.stops.append(grace_s)
        self.release.set()
        for thread in self.work:
            thread.join(grace_s)


@pytest.fixture
def watchdog() -> Iterator[None]:
    """SIGTERM to this process after 60 s, so that a scheduler that never stops ends the
    test (which then fails on what it counted) rather than hanging it."""
    timer = threading.Timer(60, os.kill, (os.getpid(), signal.SIGTERM))
    timer.start()
    yield
    timer.cancel()


def test_the_scheduler_ticks_companions_past_their_errors_and_stops_them(
    store: Store, watchdog: None, capfd: pytest.CaptureFixture[str]
) -> None:
    """run_scheduler ticks a companion at every poll (quickly while its work runs), says and
    counts a tick's exception without stopping, and asks it to stop on SIGTERM."""
    companion = _Companion(work_s=600, fail_on=(2, 3), term_on=5)
    run_scheduler(poll_s=3600, companions=[companion])  # busy: polls every 0.5 s instead
    err = capfd.readouterr().err
    assert companion.ticks == 5, err
    assert companion.stops == [pytest.approx(30, abs=5)] and companion.running() == 0, err
    assert "companion _Companion: tick failed (1 so far): RuntimeError: tick 2 broke" in err
    assert "tick failed (2 so far)" in err and "SIGTERM received: stopping" in err
    assert err.rstrip().endswith("scheduler stopped") and "Traceback" not in err


def test_run_due_waits_for_the_companions_work(store: Store, watchdog: None) -> None:
    """run_due ticks each companion once and returns only when none has work running, even
    when another companion's tick raised."""
    working, broken = _Companion(work_s=0.5), _Companion(fail_on=(1,))
    assert run_due(companions=[working, broken]) == []
    assert (working.ticks, broken.ticks) == (1, 1)
    assert working.work and working.running() == 0
    assert working.stops == broken.stops == []


def test_sigterm_stops_run_due_and_its_companions(store: Store, watchdog: None) -> None:
    """SIGTERM while run_due waits on a companion's work asks the companion to stop."""
    companion = _Companion(work_s=600)
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGTERM))
    timer.start()
    started = run_due(companions=[companion])
    timer.cancel()  # when run_due returned without waiting, the test fails below instead
    assert started == []
    assert companion.ticks == 1 and len(companion.stops) == 1 and companion.running() == 0
