"""What every framework's autologging shares: the options, the run a training logs to, the
guard that keeps cairn's own failures out of the user's training, and the patches with their
undoing.

The rules a user can predict (``cairn.autolog``'s docstring says them too):

- A training (a ``fit``, a ``train``, a ``Trainer.fit``...) logs to the active run (under
  ``cairn run``: the launcher's run) when no earlier training of this process logged to it;
  otherwise to a new child run of it (which captures nothing of its own: the parent's code,
  packages and machine are its); with no active run, to a new run of its own, ended when the
  training ends (``failed`` if it raised).
- A training inside another autologged training (the fits of a grid search, a booster inside
  its scikit-learn wrapper) logs nothing of its own: the outer one speaks for it. This holds
  across threads (joblib's threading backend runs inner fits on other threads).
- An error in cairn's code (the store unreachable, a value it cannot record) is logged as a
  warning, counted (``failures()``, and the run's tag ``cairn.autolog.failures``), and never
  reaches the training; an error of the training itself propagates unchanged.
"""

from __future__ import annotations

import contextlib
import functools
import math
import numbers
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from cairn.core.errors import ParamConflictError
from cairn.core.logging import logger

F = TypeVar("F", bound=Callable[..., Any])

#: The tag naming the framework that autologged a run.
AUTOLOG_TAG = "cairn.autolog"
FAILURES_TAG = "cairn.autolog.failures"
ERROR_TAG = "cairn.autolog.error"
_MAX_PARAM_TEXT = 500  # a param value longer than this (a big array's repr) is cut
_MISSING = object()


@dataclass
class Options:
    """What autologging records beyond params and metrics."""

    log_models: bool = True


_options = Options()
_lock = threading.RLock()
_failures: Counter[str] = Counter()
_run_failures: Counter[str] = Counter()
_used_runs: set[str] = set()  # runs an autologged training of this process logged to
_active: list[Training] = []  # the outermost training in progress (process-wide)


def options() -> Options:
    """The options of the last ``cairn.autolog`` call."""
    return _options


def set_options(**values: Any) -> None:
    """Replace the options (``cairn.autolog`` does)."""
    global _options
    _options = Options(**values)


def failures() -> dict[str, int]:
    """How many times each framework's autologging failed in this process (the training went
    on each time)."""
    with _lock:
        return dict(_failures)


def report_failure(framework: str, what: str, exc: BaseException, run: Any = None) -> None:
    """Count and log a failure of cairn's code around a training; mark ``run`` with it."""
    with _lock:
        _failures[framework] += 1
    logger.warning(
        "autolog (%s): %s failed (%s: %s); the training goes on, without it in the run",
        framework,
        what,
        type(exc).__name__,
        exc,
    )
    if run is None or not getattr(run, "is_active", False):
        return
    with _lock:
        _run_failures[run.id] += 1
        count = _run_failures[run.id]
    try:
        run.set_tags({FAILURES_TAG: str(count), ERROR_TAG: f"{what}: {exc}"[:_MAX_PARAM_TEXT]})
    except Exception as tag_exc:  # the store itself failing: the warning above stands
        logger.debug("could not tag run %s with its autolog failure: %s", run.id, tag_exc)


@contextmanager
def guard(framework: str, what: str, run: Any = None) -> Iterator[None]:
    """Run cairn's own code: an exception in it is reported, never raised."""
    try:
        yield
    except Exception as exc:
        report_failure(framework, what, exc, run)


def guarded(framework: str, what: str) -> Callable[[F], F]:
    """Decorate a callback cairn hands to a framework: it never raises into the training."""

    def decorate(function: F) -> F:
        @functools.wraps(function)
        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return function(*args, **kwargs)
            except Exception as exc:
                report_failure(framework, what, exc, _current_run())
                return None

        return call  # type: ignore[return-value]

    return decorate


def _current_run() -> Any:
    with _lock:
        return _active[0].run if _active else None


@dataclass
class Training:
    """One autologged training and the run it logs to."""

    framework: str
    run: Any  # cairn.tracking.Run
    owned: bool  # started for this training, ended with it
    facts: dict[str, Any] = field(default_factory=dict)  # what the integration keeps between calls

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Record params (values made loggable); a param the run already holds with another
        value is left out, with a warning, and the others are kept."""
        values = {str(k): param_value(v) for k, v in params.items()}
        values = {k: v for k, v in values.items() if k.strip()}
        if not values:
            return
        with guard(self.framework, "logging params", self.run):
            try:
                self.run.log_params(values)
            except ParamConflictError:
                kept = []
                for key, value in values.items():
                    try:
                        self.run.log_params({key: value})
                    except ParamConflictError:
                        continue
                    kept.append(key)
                left = sorted(set(values) - set(kept))
                logger.warning(
                    "autolog (%s): run %s already holds other values for %s; kept those",
                    self.framework,
                    self.run.id,
                    ", ".join(left[:10]) + (" ..." if len(left) > 10 else ""),
                )

    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        """Record finite numeric metrics at ``step`` (others are left out: a NaN loss is the
        framework's to report, not a reason to lose the rest)."""
        values = {}
        for key, value in metrics.items():
            converted = number(value)
            if converted is not None:
                values[str(key)] = converted
        if values:
            with guard(self.framework, "logging metrics", self.run):
                self.run.log(values, step=step)

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Set tags on the run."""
        with guard(self.framework, "setting tags", self.run):
            self.run.set_tags({str(k): str(v) for k, v in tags.items()})

    def log_dict(self, data: Mapping[str, Any], name: str) -> None:
        """Store ``data`` as a JSON artifact."""
        with guard(self.framework, f"storing {name}", self.run):
            self.run.log_dict(data, name)

    def log_artifact(self, path: Any, name: str | None = None) -> None:
        """Store a file or folder as artifacts of the run."""
        with guard(self.framework, f"storing {name or path}", self.run):
            self.run.log_artifact(path, name)

    def save_model(self, model: Any, *, input_example: Any = None, path: str = "model") -> None:
        """Save ``model`` in the run through the registry's flavor, with its signature (when
        ``log_models`` is on); ``cairn models register runs:/<run>/model NAME`` makes it a
        version."""
        if not _options.log_models:
            return
        from cairn.registry import save_model

        with guard(self.framework, "saving the model", self.run):
            save_model(model, path, input_example=input_example, run=self.run)


def number(value: Any) -> float | None:
    """``value`` as a finite float, or None (NumPy and 0-d PyTorch scalars included)."""
    if isinstance(value, bool):
        return None
    if not isinstance(value, numbers.Real):
        item = getattr(value, "item", None)
        if not callable(item):
            return None
        try:
            value = item()  # a NumPy scalar, a 0-d array or tensor; a bigger one raises
        except (ValueError, RuntimeError, TypeError):
            return None
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            return None
    result = float(value)
    return result if math.isfinite(result) else None


def param_value(value: Any) -> Any:
    """A param value the store keeps as the user would read it: scalars as they are, other
    objects (an estimator, a function) by their text, cut at 500 characters."""
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "ndim", None) == 0:
        value = item()
    if value is None or isinstance(value, (bool, int, str)):
        if isinstance(value, str) and len(value) > _MAX_PARAM_TEXT:
            return value[:_MAX_PARAM_TEXT]
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 2**63:
            return str(value)
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, type):
        return value.__name__
    if callable(value) and hasattr(value, "__name__"):
        return str(value.__name__)
    if isinstance(value, (list, tuple)) and all(
        v is None or isinstance(v, (bool, int, float, str)) for v in value
    ):
        text = repr(list(value))
    else:
        text = repr(value)
    return text[:_MAX_PARAM_TEXT]


def in_training() -> bool:
    """Whether an autologged training is in progress in this process."""
    with _lock:
        return bool(_active)


@contextmanager
def training(
    framework: str, name: str, tags: Mapping[str, str] | None = None
) -> Iterator[Training | None]:
    """The run one training logs to, for the time of the training (``None``: nested in
    another autologged training, or cairn could not start a run: log nothing); ``tags`` are
    set on it (with the run's start where the run is new: one write less)."""
    with _lock:
        if _active:
            outer = None
        else:
            outer = Training(framework, None, False)
            _active.append(outer)  # claimed before the run starts: a racing fit is inner
    if outer is None:
        yield None
        return
    try:
        try:
            marks = {AUTOLOG_TAG: framework, **(tags or {})}
            run, owned = _run_for(name, marks)
        except Exception as exc:
            report_failure(framework, "starting a run", exc)
            yield None
            return
        outer.run, outer.owned = run, owned
        if not owned:
            outer.set_tags(marks)
        try:
            yield outer
        except BaseException as exc:
            if owned:
                with guard(framework, "ending the run"):
                    run.__exit__(type(exc), exc, exc.__traceback__)
            raise
        if owned:
            with guard(framework, "ending the run"):
                run.end("finished")
    finally:
        with _lock:
            if _active and _active[0] is outer:
                _active.clear()


def _run_for(name: str, tags: Mapping[str, str] | None = None) -> tuple[Any, bool]:
    """The run a training logs to, and whether it was started for it (then with ``tags``)."""
    from cairn.core.settings import get_settings
    from cairn.tracking import active_run, start_run

    run = active_run()
    if run is None and get_settings().run_id is not None:
        run = start_run()  # the run cairn run started for this program (attached, not owned)
        if run.id != get_settings().run_id:  # attached already, and ended since: ours
            with _lock:
                _used_runs.add(run.id)
            if tags:
                run.set_tags(tags)
            return run, True
    with _lock:
        if run is not None and run.id not in _used_runs:
            _used_runs.add(run.id)
            return run, False
    # A child of the active run, if any: then the parent's capture (code, packages, machine,
    # system metrics) describes it, and capturing again would cost every later fit ~20 ms.
    started = start_run(name=name, tags=tags, capture=run is None)
    with _lock:
        _used_runs.add(started.id)
    return started, True


class Patches:
    """Attributes replaced on a framework's classes or modules, put back by ``restore``."""

    def __init__(self) -> None:
        self._done: list[tuple[Any, str, Any]] = []

    def replace(self, owner: Any, name: str, value: Any) -> None:
        """Set ``owner.name`` to ``value``, remembering what ``owner`` itself held."""
        self._done.append((owner, name, vars(owner).get(name, _MISSING)))
        setattr(owner, name, value)

    def wrap(self, owner: Any, name: str, make: Callable[[Any], Any]) -> None:
        """Replace function ``owner.name`` by ``make(original)``."""
        original = getattr(owner, name)
        wrapper = make(original)
        functools.update_wrapper(wrapper, original)
        wrapper.__cairn_original__ = original
        self.replace(owner, name, wrapper)

    def restore(self) -> None:
        """Put back everything replaced, newest first."""
        while self._done:
            owner, name, original = self._done.pop()
            if original is _MISSING:
                with contextlib.suppress(AttributeError):  # gone already
                    delattr(owner, name)
            else:
                setattr(owner, name, original)

    def __bool__(self) -> bool:
        return bool(self._done)
