"""Keep what a run's program prints as the run's ``cairn/output.log``.

Two ways, one per kind of run. ``CommandOutput``: ``cairn run`` owns its command's stdout and
stderr pipes and relays every byte, unchanged and as it arrives, to its own stdout and stderr
and to a spool file, so any command (Python or not, and its child processes) is recorded and
a pipe after ``cairn run`` sees exactly the command's output.

``OutputMirror``: in a program that runs itself (not under ``cairn run``), the outermost run of
a process owns the mirror: it replaces both streams with a ``_Tee`` that
writes everything to the original stream first (what the user sees does not change) and then
to a spool file in cairn's home; when the run ends the streams are put back and the spool is
stored as the run's ``cairn/output.log``. Output written below Python (by C extensions or
child processes writing to file descriptor 1 directly) is not seen: only a pipe around the
whole process could see it, and that would change what the user sees (no terminal, no colour).
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any, BinaryIO, TextIO

from cairn.core.logging import logger
from cairn.core.threads import start_thread

CHUNK = 65536


class _Tee:
    """A text stream writing to the original stream and to a spool file."""

    def __init__(self, original: TextIO, spool: IO[str], lock: threading.RLock) -> None:
        self._original = original
        self._spool = spool
        self._lock = lock
        self._closed = False

    def write(self, text: str) -> int:
        written = self._original.write(text)
        if not self._closed:
            with self._lock:
                try:  # noqa: SIM105 - a hot path: suppress() costs a microsecond a call
                    self._spool.write(text)
                except (OSError, ValueError, RuntimeError):
                    # Disk full, closed by stop() meanwhile, or a signal handler printing in
                    # the middle of a write: the user's output matters more than the copy.
                    pass
        return written

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self._original.flush()

    def __getattr__(self, name: str) -> Any:
        # encoding, isatty, fileno, buffer, errors...: the original stream answers.
        return getattr(self._original, name)


class OutputMirror:
    """The mirror of one process's output, owned by one run."""

    def __init__(self, owner: str, spool_path: Path) -> None:
        self.owner = owner
        self.path = spool_path
        # Re-entrant: a signal handler may print while the main thread is inside a write.
        self._lock = threading.RLock()
        spool_path.parent.mkdir(parents=True, exist_ok=True)
        self._spool = open(  # noqa: SIM115 - closed in stop()
            spool_path, "w", encoding="utf-8", errors="backslashreplace", newline=""
        )
        self._streams: list[tuple[str, TextIO, _Tee]] = []
        for name in ("stdout", "stderr"):
            original = getattr(sys, name)
            if original is None:  # pythonw, some services
                continue
            tee = _Tee(original, self._spool, self._lock)
            setattr(sys, name, tee)
            self._streams.append((name, original, tee))

    def stop(self) -> Path:
        """Put the original streams back and close the spool; return its path."""
        for name, original, tee in self._streams:
            # Only where nobody replaced our tee since (pytest's capture, another tool).
            if getattr(sys, name) is tee:
                setattr(sys, name, original)
            with self._lock:
                tee._closed = True
        with self._lock, contextlib.suppress(OSError, ValueError):
            self._spool.close()
        return self.path


_lock = threading.Lock()
_mirror: OutputMirror | None = None


def start_mirror(owner: str, spool_dir: Path) -> OutputMirror | None:
    """Start mirroring for run ``owner`` unless another run already owns the mirror."""
    global _mirror
    with _lock:
        if _mirror is not None:
            return None
        try:
            _mirror = OutputMirror(owner, spool_dir / f"output-{owner}-{os.getpid()}.log")
        except OSError:
            return None
        return _mirror


def stop_mirror(owner: str) -> Path | None:
    """Stop the mirror if run ``owner`` owns it; return the spool file to store."""
    global _mirror
    with _lock:
        if _mirror is None or _mirror.owner != owner:
            return None
        mirror, _mirror = _mirror, None
    return mirror.stop()


def _forget_in_child() -> None:
    # A forked child (DataLoader workers) inherits the tee but not the run that owns it.
    global _mirror
    _mirror = None


os.register_at_fork(after_in_child=_forget_in_child)


class CommandOutput:
    """Relays a command's stdout and stderr to ours and to a spool file, byte for byte.

    Each of the command's streams is a pipe, or, where ours is a terminal, a pseudo-terminal
    of its own (output post-processing off, so bytes pass unchanged, and our window size):
    the command then behaves as it does on the terminal (colours, line-buffered prints).
    """

    def __init__(self, spool_path: Path) -> None:
        self.path = spool_path
        spool_path.parent.mkdir(parents=True, exist_ok=True)
        self._spool: BinaryIO | None = open(spool_path, "wb")  # noqa: SIM115 - closed in finish()
        self._lock = threading.Lock()  # one chunk at a time into the spool
        self._threads: list[threading.Thread] = []
        self._pipes: list[IO[bytes]] = []
        self._terminals: dict[str, tuple[int, int]] = {}  # stream name: (master, slave)
        self.spool_error: OSError | None = None
        self.relay_errors: list[Exception] = []

    def child_streams(self) -> tuple[int, int]:
        """What to give the command as stdout and stderr (``subprocess.Popen`` arguments)."""
        streams = []
        for name in ("stdout", "stderr"):
            terminal = _terminal_like(getattr(sys, name))
            if terminal is not None:
                self._terminals[name] = terminal
            streams.append(terminal[1] if terminal is not None else subprocess.PIPE)
        return streams[0], streams[1]

    def start(self, process: subprocess.Popen[bytes]) -> None:
        """Start relaying the command's two streams (its stdout to ours, its stderr to ours)."""
        for name in ("stdout", "stderr"):
            terminal = self._terminals.get(name)
            if terminal is not None:
                os.close(terminal[1])  # the command's end: EOF (EIO) once all its copies close
                pipe: IO[bytes] = open(terminal[0], "rb", buffering=0)  # noqa: SIM115
            else:
                pipe = getattr(process, name)
            self._pipes.append(pipe)
            self._threads.append(
                start_thread(self._pump, f"cairn-relay-{name}", (pipe, _binary(name)))
            )

    def abandon(self) -> None:
        """Close what ``child_streams`` opened, for a command that could not start."""
        for master, slave in self._terminals.values():
            for fd in (master, slave):
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._terminals.clear()
        with self._lock:
            self._close_spool()
        self.path.unlink(missing_ok=True)

    def _pump(self, pipe: IO[bytes], sink: BinaryIO | None) -> None:
        fd = pipe.fileno()
        while True:
            try:
                chunk = os.read(fd, CHUNK)
            except OSError as exc:
                if exc.errno != errno.EIO:  # EIO: a terminal whose every writer has closed
                    self.relay_errors.append(exc)  # not expected: said at the end
                return
            if not chunk:
                return
            with self._lock:
                self._write_spool(chunk)
            if sink is None:
                continue
            try:
                sink.write(chunk)
                sink.flush()
            except BrokenPipeError:
                # Our reader went away (`cairn run ... | head -1`): the command must see that
                # too, as it would without cairn, so this end of its pipe closes and its next
                # write fails (SIGPIPE, EPIPE).
                with contextlib.suppress(OSError):
                    pipe.close()
                return
            except (OSError, ValueError) as exc:
                # Our stream failed otherwise (closed, a non-blocking terminal): the command
                # runs on and its output is still stored; the failure is said at the end.
                self.relay_errors.append(exc)
                sink = None

    def _write_spool(self, chunk: bytes) -> None:
        if self._spool is None:
            return
        try:
            self._spool.write(chunk)
        except (OSError, ValueError) as exc:  # disk full: the output itself still flows
            if self.spool_error is None and isinstance(exc, OSError):
                self.spool_error = exc
            self._close_spool()

    def _close_spool(self) -> None:
        spool, self._spool = self._spool, None
        if spool is not None:
            try:
                spool.close()
            except OSError as exc:
                self.spool_error = self.spool_error or exc

    def finish(self, timeout: float) -> Path:
        """Wait up to ``timeout`` s for the pipes to close; return the spool file.

        Processes the command left running in the background may hold its pipes open: their
        later output is relayed while this process lives, but is not in the stored log.
        """
        for thread in self._threads:
            thread.join(timeout)
        done = not any(thread.is_alive() for thread in self._threads)
        if done:
            for pipe in self._pipes:
                with contextlib.suppress(OSError):
                    pipe.close()
        with self._lock:
            self._close_spool()
        if not done:
            logger.warning(
                "the command's background processes still hold its output open; "
                "what they print from now on is not in its output.log"
            )
        if self.relay_errors:
            logger.warning(
                "could not relay some of the command's output to this terminal or pipe "
                "(%d failures; what was read is in its output.log): %s",
                len(self.relay_errors),
                self.relay_errors[0],
            )
        if self.spool_error is not None:
            logger.warning("the command's output.log is incomplete: %s", self.spool_error)
        return self.path


def _terminal_like(stream: Any) -> tuple[int, int] | None:
    """A new pseudo-terminal like ``stream``'s terminal, or None where it is not one."""
    try:
        if stream is None or not stream.isatty():
            return None
        import fcntl
        import pty
        import termios

        master, slave = pty.openpty()
    except (AttributeError, ImportError, OSError, ValueError):  # no ptys here: a pipe will do
        return None
    try:
        attrs = termios.tcgetattr(slave)
        attrs[1] &= ~termios.OPOST  # no "\n" -> "\r\n": the bytes pass as written
        termios.tcsetattr(slave, termios.TCSANOW, attrs)
        size = fcntl.ioctl(stream.fileno(), termios.TIOCGWINSZ, b"\0" * 8)
        fcntl.ioctl(slave, termios.TIOCSWINSZ, size)
    except (OSError, ValueError, termios.error):
        pass  # a size or mode we could not copy: the terminal still works
    return master, slave


class _TextSink:
    """Bytes to a text-only stream (a notebook's ``sys.stdout``), decoded as they come."""

    def __init__(self, stream: TextIO) -> None:
        import codecs

        self._stream = stream
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def write(self, data: bytes) -> int:
        self._stream.write(self._decoder.decode(data))
        return len(data)

    def flush(self) -> None:
        self._stream.flush()


def _binary(name: str) -> Any:
    """Where the command's bytes go for our stream ``name`` (None: nowhere to show them)."""
    stream = getattr(sys, name)
    if stream is None:
        return None
    buffer = getattr(stream, "buffer", None)
    return buffer if buffer is not None else _TextSink(stream)
