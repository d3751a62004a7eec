"""Start and finish what a run records without being asked (see ``capture`` for the facts).

At start, what is cheap and must describe the moment (git state, machine, process) is
captured synchronously and written with the run's creation; what is slower and does not
change the user's program (storing the diff, the package list, GPU names) happens on a
background thread that ``finish`` joins before the run ends. The output mirror and the system
metrics sampler run for the run's lifetime.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from cairn.core.errors import CairnError
from cairn.core.logging import logger
from cairn.core.settings import Settings
from cairn.core.threads import start_thread
from cairn.tracking import _output, capture, system_metrics
from cairn.tracking._liveness import this_host
from cairn.tracking.record import ArtifactEntry

if TYPE_CHECKING:
    from cairn.tracking.run import Run

JOIN_TIMEOUT_S = 120.0
DIFF_ARTIFACT = "cairn/git.diff"
PACKAGES_ARTIFACT = "cairn/packages.txt"
OUTPUT_ARTIFACT = "cairn/output.log"
CAPTURE_ERROR_TAG = "cairn.capture_error"
STORE_ATTEMPTS = 3


@dataclass
class StartFacts:
    """What was captured synchronously at start: tags, and the diff to store."""

    tags: dict[str, str] = field(default_factory=dict)
    diff: bytes | None = None


@dataclass
class Capturing:
    """The background parts of one run's capture."""

    thread: threading.Thread | None = None
    mirror: bool = False
    sampling: bool = False


def facts_at_start(settings: Settings, *, code: bool, process: bool) -> StartFacts:
    """Capture git state and machine (``code``) and the process (``process``) now."""
    switches = settings.capture
    facts = StartFacts()
    tree = capture.find_work_tree(Path.cwd())
    if code and switches.git:
        result = capture.capture_code(Path.cwd(), settings.home_dir, switches.untracked_max_kb)
        facts.tags.update(result.tags)
        facts.diff = result.diff
    if code and switches.environment:
        facts.tags.update(capture.capture_machine())
    if process and switches.environment:
        process_tags = capture.capture_process(tree)
        if not code:
            process_tags.pop("cairn.command", None)  # the launcher recorded the command it ran
        facts.tags.update(process_tags)
    return facts


class PendingFacts:
    """``facts_at_start`` computed on a thread, so that git's subprocesses run while the
    caller opens the store and seeds; ``result`` waits for them."""

    def __init__(self, settings: Settings, *, code: bool, process: bool) -> None:
        self._facts: StartFacts | None = None
        self._error: BaseException | None = None
        # A plain thread, not core.threads.start_thread: git inherits its signal mask, and
        # must stay killable; this thread lives only as long as git answers.
        self._thread = threading.Thread(
            target=self._capture, args=(settings, code, process), name="cairn-facts", daemon=True
        )
        self._thread.start()

    def _capture(self, settings: Settings, code: bool, process: bool) -> None:
        try:
            self._facts = facts_at_start(settings, code=code, process=process)
        except BaseException as exc:  # handed to the caller by result()
            self._error = exc

    def result(self) -> StartFacts:
        """The facts, as ``facts_at_start`` would have returned them (or its exception)."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._facts is not None
        return self._facts


def begin(
    run: Run, settings: Settings, facts: StartFacts, *, process: bool, launched: bool = False
) -> Capturing:
    """Start the background parts of the capture of ``run``.

    A ``launched`` process (run by ``cairn run``) leaves its output and system metrics to the
    launcher, which owns its pipes and samples its whole process tree.
    """
    switches = settings.capture
    state = Capturing()
    packages = process and switches.packages
    if facts.diff is not None or packages:
        cache_dir = settings.home_dir / "cache"
        state.thread = start_thread(
            _store_in_background,
            f"cairn-capture-{run.id}",
            (run, facts.diff, cache_dir if packages else None, packages),
        )
    if process and not launched and switches.output:
        state.mirror = _output.start_mirror(run.id, settings.home_dir / "tmp") is not None
    if process and not launched and switches.system_metrics:
        system_metrics.start_sampling(run, switches.system_metrics_interval)
        state.sampling = True
    return state


def _store_in_background(
    run: Run, diff: bytes | None, cache_dir: Path | None, packages: bool
) -> None:
    blobs: dict[str, bytes] = {}

    def store() -> None:
        since = run._writer.watermark()  # before the objects are looked for (gc may run)
        entries = []
        for name, blob in blobs.items():
            stored = run._store.artifacts.put_bytes(blob)
            entries.append(ArtifactEntry(name, stored.digest, stored.size))
        put = run._store.artifacts.put_bytes
        run._record(entries, since, lambda _gone: [put(b) for b in blobs.values()])

    try:
        if diff is not None:
            blobs[DIFF_ARTIFACT] = diff
        if packages:
            blobs[PACKAGES_ARTIFACT] = capture.packages_text(cache_dir).encode("utf-8")
        if blobs:
            _with_retries(store)
    except Exception as exc:  # a capture never fails the run: it says why, and the run keeps it
        _capture_failed(run, "the captured code diff or packages", exc)


def _with_retries(store: Callable[[], None]) -> None:
    """Run ``store``, again after a pause when the store fails (a network blip), at most
    ``STORE_ATTEMPTS`` times in all."""
    for attempt in range(1, STORE_ATTEMPTS + 1):
        try:
            store()
            return
        except (CairnError, OSError) as exc:
            if attempt == STORE_ATTEMPTS:
                raise
            logger.info("could not store a capture yet (attempt %d, will retry): %s", attempt, exc)
            time.sleep(0.5 * attempt)


def _capture_failed(run: Run, what: str, exc: BaseException) -> None:
    """Say why ``what`` was not stored, in the log and as the run's ``cairn.capture_error``."""
    known = isinstance(exc, (CairnError, OSError))
    reason = str(exc) if known else f"{type(exc).__name__}: {exc}"
    logger.warning("could not store %s of run %s: %s", what, run.id, reason, exc_info=not known)
    with contextlib.suppress(Exception):  # the store itself may be what failed
        run.set_tags({CAPTURE_ERROR_TAG: f"{what}: {reason}"[:1000]})


def finish(run: Run, state: Capturing) -> None:
    """Join the background capture, take the last sample and store the output log."""
    if state.thread is not None:
        state.thread.join(JOIN_TIMEOUT_S)
        if state.thread.is_alive():
            logger.warning("gave up waiting for the capture of run %s to be stored", run.id)
    if state.sampling:
        system_metrics.stop_sampling(run)
    if state.mirror:
        spool = _output.stop_mirror(run.id)
        if spool is not None:
            store_output(run, spool)


def store_output(run: Run, spool: Path) -> None:
    """Store ``spool`` as the run's ``cairn/output.log`` (kept on disk if that fails)."""

    def store() -> None:
        since = run._writer.watermark()
        stored = run._store.artifacts.put_file(spool)
        entry = ArtifactEntry(OUTPUT_ARTIFACT, stored.digest, stored.size)
        run._record([entry], since, lambda _gone: run._store.artifacts.put_file(spool))

    try:
        if spool.stat().st_size > 0:
            _with_retries(store)
    except Exception as exc:
        _capture_failed(run, f"the output (kept in {spool})", exc)
        return
    with contextlib.suppress(OSError):
        spool.unlink()


def claim(run: Run) -> None:
    """Record this process as the one running ``run`` (its liveness follows this process)."""
    host, pid = this_host(), os.getpid()
    run._writer.claim(run._db_id, host, pid)
