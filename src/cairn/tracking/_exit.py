"""What this process holds open, and ending it when the process ends.

The active runs and the metric sinks live here because the process's exit must find them all:
runs still active at interpreter exit are ended ``failed`` when an exception escaped,
``killed`` on SIGTERM or Ctrl-C, ``finished`` otherwise, and every sink writes what it still
buffers. ``install_hooks`` (called when the first run starts) sets that up once.
"""

from __future__ import annotations

import atexit
import contextlib
import signal
import sys
import threading
import traceback
from types import TracebackType
from typing import TYPE_CHECKING, Any

from cairn.core.logging import logger

if TYPE_CHECKING:
    from cairn.tracking._sink import MetricSink
    from cairn.tracking.run import Run

lock = threading.RLock()
active: dict[str, Run] = {}
sinks: dict[Any, MetricSink] = {}
writers: dict[Any, Any] = {}  # one RunWriter per store (tracking._writer.writer_for)
_uncaught: list[BaseException] = []
_hooks_installed = False
_terminated: list[BaseException] = []


class Terminated(SystemExit):
    """Raised in the main thread when the process receives SIGTERM, so runs end ``killed``."""


def status_for(exc: BaseException) -> str:
    """Return the status a run ends with when ``exc`` ends it."""
    return "killed" if isinstance(exc, (KeyboardInterrupt, SystemExit)) else "failed"


def describe_end(exc: BaseException) -> str:
    """Return the error text recorded for a run that ``exc`` ended."""
    if isinstance(exc, Terminated):
        return "terminated by SIGTERM"
    return describe(exc)


def describe(exc: BaseException) -> str:
    """Return the exception and its traceback as text."""
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)).rstrip()


def install_hooks() -> None:
    """Once per process: remember uncaught exceptions, end runs at exit, handle SIGTERM."""
    global _hooks_installed
    with lock:
        if _hooks_installed:
            return
        _hooks_installed = True
    previous = sys.excepthook

    def remember(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        _uncaught.append(exc)
        previous(kind, exc, tb)

    sys.excepthook = remember
    _register_exit_hooks()
    _handle_sigterm()


def _register_exit_hooks() -> None:
    # Python's threading shutdown runs *before* atexit handlers, and it stops concurrent.futures
    # (and refuses new threading exit hooks, which fsspec registers on import): ending runs in
    # an atexit handler lost every upload to an object store ("cannot schedule new futures
    # after interpreter shutdown"). So runs end in threading's own exit hooks, which run last
    # registered first: after concurrent.futures' is registered, ours runs before it.
    import concurrent.futures.thread  # noqa: F401  (registers its hook before ours)

    register = getattr(threading, "_register_atexit", None)
    if register is not None:
        with contextlib.suppress(RuntimeError):  # already shutting down: atexit below
            register(_end_before_thread_shutdown)
    atexit.register(_end_at_exit)  # a fallback; a second call finds nothing left to end


def _end_before_thread_shutdown() -> None:
    # The program's own threads still running may still log: the runs end once they are done,
    # as they did at atexit. Not the pools' threads: they wait for the shutdown that follows.
    me = threading.current_thread()
    for thread in threading.enumerate():
        if thread is not me and not thread.daemon and _is_program_thread(thread):
            thread.join()
    _end_at_exit()


def _is_program_thread(thread: threading.Thread) -> bool:
    """Whether ``thread`` is the program's own, not a worker or manager of a pool that the
    interpreter's shutdown stops (concurrent.futures, multiprocessing, asyncio)."""
    target = getattr(thread, "_target", None)
    owner = getattr(target, "__module__", None) or type(thread).__module__ or ""
    return not owner.startswith(("concurrent.futures", "multiprocessing", "asyncio"))


def _handle_sigterm() -> None:
    # SIGTERM's default action ends the process at once, without atexit: no flush, and the run
    # would stay "running". Turn it into an exception that unwinds (with-blocks end their runs)
    # and then exits with the conventional status 128 + 15. Only where nobody else handles it.
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return

    def terminate(signum: int, _frame: Any) -> None:
        exc = Terminated(128 + signum)
        _terminated.append(exc)
        raise exc

    signal.signal(signal.SIGTERM, terminate)
    # A SIGTERM blocked since the program started (inherited from a parent that spawned it
    # from a thread blocking signals, as background threads do) would stay pending forever
    # and the program would be deaf to kill: the handler is only useful if it can run.
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})


def _end_at_exit() -> None:
    with lock:
        runs = list(active.values())
    error = _uncaught[-1] if _uncaught else None
    if error is None and _terminated:
        error = _terminated[-1]
    for run in reversed(runs):
        try:
            if error is None:
                run.end("finished")
            else:
                run.end(status_for(error), describe_end(error))
        except Exception as exc:  # never mask the interpreter's own exit
            logger.error("could not end run %s at exit: %s", run.id, exc)
    with lock:
        open_sinks = list(sinks.values())
    for sink in open_sinks:
        try:
            sink.close()
        except Exception as exc:
            logger.error("could not write buffered metrics at exit: %s", exc)
