"""Shared state passed downward: the current run and the params it overrides.

Lower layers (data, registry) read the current run id from here to record lineage without
importing tracking. The context variable is the truth inside the context that started a run;
threads started later (which begin with an empty context) fall back to the process-wide
innermost active run, so a training loop's helper threads log to the same run.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar, Token
from typing import Any

_current_run: ContextVar[str | None] = ContextVar("cairn_current_run", default=None)
_params_override: ContextVar[Mapping[str, Any] | None] = ContextVar(
    "cairn_params_override", default=None
)
_joinable: ContextVar[str | None] = ContextVar("cairn_joinable_run", default=None)
_reads: ContextVar[list[tuple[str, str, str]] | None] = ContextVar("cairn_reads", default=None)
_detached: ContextVar[bool] = ContextVar("cairn_detached", default=False)
_lock = threading.Lock()
_process_runs: list[str] = []


def current_run_id() -> str | None:
    """Return the id of the innermost active run, or None when no run is active (or the
    caller works ``detached`` from it)."""
    if _detached.get():
        return None
    run_id = _current_run.get()
    if run_id is not None:
        return run_id
    with _lock:
        return _process_runs[-1] if _process_runs else None


def push_run(run_id: str, params: Mapping[str, Any] | None) -> tuple[Token[str | None], Token[Any]]:
    """Make ``run_id`` the current run (with its effective params); return tokens to pop it."""
    with _lock:
        _process_runs.append(run_id)
    return _current_run.set(run_id), _params_override.set(params)


def pop_run(run_id: str, tokens: tuple[Token[str | None], Token[Any]] | None) -> None:
    """Undo ``push_run`` for ``run_id``."""
    with _lock:
        if run_id in _process_runs:
            _process_runs.remove(run_id)
    if tokens is not None:
        try:
            _current_run.reset(tokens[0])
            _params_override.reset(tokens[1])
        except ValueError:
            # Ended from another context (another thread, atexit): clear what we can.
            if _current_run.get() == run_id:
                _current_run.set(None)
                _params_override.set(None)


@contextmanager
def detached() -> Iterator[None]:
    """Work outside the active run: what is read or loaded meanwhile is not recorded as an
    input of it (monitoring re-reading a model's training data to summarize it)."""
    token = _detached.set(True)
    try:
        yield
    finally:
        _detached.reset(token)


def params_override() -> Mapping[str, Any] | None:
    """Return the effective params of the current run, if a run overrides them."""
    return _params_override.get()


def enter_step(run_id: str, params: Mapping[str, Any] | None) -> tuple[Token[Any], ...]:
    """Make ``run_id`` (a pipeline step's run, owned by another process) the current run,
    joinable on first log, and start collecting the catalog reads; ``leave_step`` undoes it."""
    return (*push_run(run_id, params), _joinable.set(run_id), _reads.set([]))


def leave_step(run_id: str, tokens: tuple[Token[Any], ...]) -> list[tuple[str, str, str]]:
    """Undo ``enter_step``; return the catalog reads noted meanwhile."""
    reads = _reads.get() or []
    _reads.reset(tokens[3])
    _joinable.reset(tokens[2])
    pop_run(run_id, (tokens[0], tokens[1]))
    return reads


def is_joinable(run_id: str) -> bool:
    """Whether ``run_id`` is a step's run that logging may join (see ``enter_step``)."""
    return _joinable.get() == run_id


def note_read(asked: str, resolved: str, digest: str) -> None:
    """Note that the current step read the catalog version ``resolved`` (asked as ``asked``,
    whose content digest is ``digest``): a cached result stays valid while ``asked`` still
    resolves to it."""
    reads = _reads.get()
    if reads is not None:
        reads.append((asked, resolved, digest))
