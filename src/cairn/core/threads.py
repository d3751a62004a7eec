"""Background threads that leave the process's signals to the main thread.

Python runs signal handlers only in the main thread, but the kernel may deliver a process
signal (SIGTERM from ``kill``, SIGINT) to any thread that does not block it. When it lands on
a background thread, the main thread is not woken: a ``time.sleep(60)`` or a blocking read
there runs to its end before the handler gets a chance, so ``kill`` seems to be ignored. Every
long-lived thread cairn starts therefore blocks those signals first, which leaves the main
thread as the only one the kernel can choose.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from typing import Any

#: The signals a program handles in its main thread (cairn turns SIGTERM into an exception);
#: those this platform has.
MAIN_THREAD_SIGNALS = frozenset(
    getattr(signal, name)
    for name in ("SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT")
    if hasattr(signal, name)
)


def leave_signals_to_main_thread() -> None:
    """Block the process signals in the calling (background) thread.

    Also usable as a ``ThreadPoolExecutor(initializer=...)``. A no-op in the main thread, so
    that calling it by mistake there never makes a program deaf to ``kill``.
    """
    if threading.current_thread() is threading.main_thread():
        return
    if hasattr(signal, "pthread_sigmask"):  # POSIX; elsewhere signals go to the main thread
        signal.pthread_sigmask(signal.SIG_BLOCK, MAIN_THREAD_SIGNALS)


def start_thread(
    target: Callable[..., Any], name: str, args: tuple[Any, ...] = (), *, daemon: bool = True
) -> threading.Thread:
    """Start a thread running ``target(*args)`` with the process signals blocked in it."""

    def run() -> None:
        leave_signals_to_main_thread()
        target(*args)

    thread = threading.Thread(target=run, name=name, daemon=daemon)
    thread.start()
    return thread
