"""Optuna: each trial a child run of the study's run, so ``cairn runs compare`` and the UI's
parallel coordinates read a sweep like any runs.

Three ways in, the same runs out:

- ``with track(study) as run: study.optimize(objective, n_trials=20)``: the study's run is
  ``run`` (the active run, or a new one named after the study, ended when the block ends);
  while each objective runs, its trial's run is the active run, so ``cairn.log`` and any
  autologged training inside the objective land in the trial's run.
- ``study.optimize(objective, callbacks=[CairnCallback()])``: the study's run is the run given,
  else the active run when the callback is made (or first called); with none, a run named
  after the study is started on the first trial and left active: it ends with the process
  (cairn's exit hooks) or at ``cairn.end_run()``. Each trial's run is written after the trial.
- ``cairn.autolog()`` (on under ``cairn run``): every ``Study.optimize`` gets a callback (the
  one passed in, if any: never two runs per trial) and its objective runs inside the trial's
  run, as with ``track``; a study's run it started ends when ``optimize`` returns.

What a trial's run holds: the trial's params; its intermediate values as the history of metric
``value`` (``metric_name``) at their steps, then its objective value (appended at the next step
unless it is the last intermediate value already, as a pruned trial's is; multi-objective:
``value_0``, ``value_1``...); tags ``optuna.state`` (COMPLETE, PRUNED, FAIL),
``optuna.trial_number``, ``optuna.study``, ``optuna.datetime_start``/``_complete`` (the run's own
times are when cairn wrote it) and ``optuna.user_attr.<key>``; status ``failed`` for a FAIL
trial, else ``finished``. The study's run holds the study's direction(s), sampler and pruner
(params ``optuna.*``), metric ``best_value`` (step: trial number) and tags ``best.<param>``;
the best trial's run (the Pareto front's runs, multi-objective) is tagged ``cairn.best=true``,
a former best's ``false``. An error in cairn's code is counted (``cairn.integrations.failures()``)
and never reaches the study. An active run that already holds another study is not reused:
the new study gets a child run of its own. Trials made with ``ask``/``tell`` are not recorded.

With ``n_jobs > 1`` the trials run on Optuna's threads: each trial's run is still a child of
the study's run, but autologged trainings running at the same time count as nested in each
other (autolog's rule across threads), so only the first of them logs.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from types import ModuleType
from typing import TYPE_CHECKING, Any

from cairn.core import context
from cairn.core.errors import InvalidInputError
from cairn.integrations._training import Patches, Training, guard, param_value

if TYPE_CHECKING:
    from optuna.study import Study
    from optuna.trial import FrozenTrial, Trial

    from cairn.tracking.run import Run

FRAMEWORK = "optuna"
BEST_TAG = "cairn.best"
_MAX_NAME = 255
_hosts: dict[str, str] = {}  # run id -> the study whose run it is (in this process)
_hosts_lock = threading.Lock()
_WRAPPED = "__cairn_trial_runs__"  # marks an objective that already starts trial runs


class CairnCallback:
    """An Optuna callback that records each trial as a child run of the study's run."""

    def __init__(self, run: Run | None = None, metric_name: str | Sequence[str] = "value") -> None:
        """Record trials under ``run`` (default: the active run; see the module's docstring),
        with the objective value(s) as metric ``metric_name`` (one name per objective, or one
        name suffixed ``_0``, ``_1``... for several)."""
        names = [metric_name] if isinstance(metric_name, str) else list(metric_name)
        if not names or not all(isinstance(n, str) and n.strip() for n in names):
            raise InvalidInputError(
                f"metric_name is a metric name or a list of them, not {metric_name!r:.80}"
            )
        self.metric_names = names
        self._lock = threading.RLock()
        self._run: Run | None = run
        self._owned = False
        self._override = context.params_override() if run is not None else None
        self._described: set[int] = set()  # studies (by id) whose run holds their description
        self._open: dict[tuple[int, int], Run] = {}  # (study, trial number) -> running run
        self._errors: dict[tuple[int, int], str] = {}  # what a failed objective raised
        self._runs: dict[tuple[int, int], Run] = {}  # every trial run written, for best tags
        self._best: set[tuple[int, int]] = set()  # trials whose runs are tagged best
        self._best_number: dict[int, int] = {}  # study (by id) -> its best trial's number
        if run is None:
            with guard(FRAMEWORK, "finding the active run"):
                from cairn.tracking import active_run

                active = active_run()
                if active is not None:
                    self._run, self._override = active, context.params_override()

    @property
    def run(self) -> Run | None:
        """The study's run (None until the first trial, when no run was active)."""
        return self._run

    def study_run(self, study: Study) -> tuple[Run, bool]:
        """The study's run, started if needed, and whether this callback started it."""
        with self._lock:
            if self._run is None or not self._run.is_active:
                self._run, self._owned = _run_for_study(study)
                self._override = context.params_override()
            run = self._run
            if id(study) not in self._described:
                self._described.add(id(study))
                _describe(Training(FRAMEWORK, run, False), study)
            return run, self._owned

    def __call__(self, study: Study, trial: FrozenTrial) -> None:
        """Record ``trial`` (Optuna calls this after each trial)."""
        with guard(FRAMEWORK, f"recording trial {trial.number}", self._run):
            key = (id(study), trial.number)
            with self._lock:
                run = self._open.pop(key, None)
                error = self._errors.pop(key, None)
            if run is None:
                parent, _ = self.study_run(study)
                run = _child(parent, self._override, f"trial-{trial.number}")
            self._finish(study, trial, run, error)
            with self._lock:
                self._runs[key] = run
            self._update_best(study, trial)

    def wrap(self, study: Study, objective: Callable[[Trial], Any]) -> Callable[[Trial], Any]:
        """``objective`` running inside its trial's run (a child of the study's run)."""
        if getattr(objective, _WRAPPED, None) is self:
            return objective

        @functools.wraps(objective)
        def run_trial(trial: Trial) -> Any:
            # Optuna's worker threads start with an empty context: the trial's run is made
            # current in a context of its own, whatever thread this is.
            return contextvars.copy_context().run(self._run_objective, study, objective, trial)

        setattr(run_trial, _WRAPPED, self)
        return run_trial

    def _run_objective(self, study: Study, objective: Callable[[Trial], Any], trial: Trial) -> Any:
        key = (id(study), trial.number)
        parent: Run | None = None
        tokens = None
        with guard(FRAMEWORK, f"starting the run of trial {trial.number}", self._run):
            parent, _ = self.study_run(study)
            tokens = context.push_run(parent.id, self._override)
            run = _start(f"trial-{trial.number}")
            with self._lock:
                self._open[key] = run
        try:
            return objective(trial)
        except BaseException as exc:
            with self._lock:
                self._errors[key] = f"{type(exc).__name__}: {exc}"[:500]
            raise
        finally:
            if parent is not None and tokens is not None:
                context.pop_run(parent.id, tokens)

    def finish_open(self, study: Study) -> None:
        """Record the trials whose objective ran but whose callback never came (an exception
        Optuna does not catch stops the study before calling back)."""
        with self._lock:
            keys = [k for k in self._open if k[0] == id(study)]
        if not keys:
            return
        trials = {t.number: t for t in study.get_trials(deepcopy=False)}
        for key in keys:
            trial = trials.get(key[1])
            if trial is not None:
                self(study, trial)
            else:
                with self._lock:
                    run = self._open.pop(key, None)
                if run is not None:
                    with guard(FRAMEWORK, "ending a trial's run", run):
                        run.end("failed", "the trial was never recorded by Optuna")

    def _finish(self, study: Study, trial: FrozenTrial, run: Run, error: str | None) -> None:
        from optuna.trial import TrialState

        logged = Training(FRAMEWORK, run, True)
        logged.log_params(trial.params)
        name = self.metric_names[0]
        last = None
        for step, value in sorted(trial.intermediate_values.items()):
            logged.log_metrics({name: value}, step=step)
            last = step
        values = trial.values
        if values is not None and len(values) == 1:
            if last is None or trial.intermediate_values[last] != values[0]:
                logged.log_metrics({name: values[0]}, step=0 if last is None else last + 1)
        elif values is not None:
            logged.log_metrics({self._objective_name(i): v for i, v in enumerate(values)}, step=0)
        tags = {
            "optuna.state": trial.state.name,
            "optuna.trial_number": trial.number,
            "optuna.study": study.study_name,
        }
        for what in ("datetime_start", "datetime_complete"):
            moment = getattr(trial, what)
            if moment is not None:
                tags[f"optuna.{what}"] = moment.isoformat()
        logged.set_tags(tags)
        if trial.user_attrs:  # apart: a key cairn refuses must not cost the tags above
            attrs = {f"optuna.user_attr.{k}": param_value(v) for k, v in trial.user_attrs.items()}
            logged.set_tags(attrs)
        if trial.state in (TrialState.COMPLETE, TrialState.PRUNED):
            run.end("finished")
        elif trial.state == TrialState.FAIL:
            run.end("failed", error or "the trial failed (Optuna's log says why)")
        else:  # stopped before Optuna could end it (an interrupted worker thread)
            run.end("failed", error or f"the trial never ended (Optuna: {trial.state.name})")

    def _objective_name(self, index: int) -> str:
        if len(self.metric_names) > index and len(self.metric_names) > 1:
            return self.metric_names[index]
        return f"{self.metric_names[0]}_{index}"

    def _update_best(self, study: Study, trial: FrozenTrial) -> None:
        if self._run is None:
            return
        study_log = Training(FRAMEWORK, self._run, False)
        # One trial at a time (Optuna's threads call back at once): a best read before
        # another thread's newer best must not be written after it.
        with self._lock:
            if len(study.directions) > 1:
                best = list(study.best_trials)
            else:
                try:
                    best = [study.best_trial]
                except ValueError:  # no trial completed yet
                    return
                study_log.log_metrics({"best_value": best[0].value}, step=trial.number)
            keys = {(id(study), t.number) for t in best}
            was = {k for k in self._best if k[0] == id(study)}
            for key in was - keys:
                self._best.discard(key)
                Training(FRAMEWORK, self._runs[key], False).set_tags({BEST_TAG: "false"})
            for key in keys - was:
                if key in self._runs:
                    self._best.add(key)
                    Training(FRAMEWORK, self._runs[key], False).set_tags({BEST_TAG: "true"})
            if len(best) == 1 and self._best_number.get(id(study)) != best[0].number:
                self._best_number[id(study)] = best[0].number
                tags = {f"best.{k}": param_value(v) for k, v in best[0].params.items()}
                study_log.set_tags({**tags, "best.trial_number": best[0].number})


def _describe(logged: Training, study: Study) -> None:
    """Params and tags of the study's run that say which study it is."""
    directions = [d.name.lower() for d in study.directions]
    params: dict[str, Any] = {
        "optuna.sampler": type(study.sampler).__name__,
        "optuna.pruner": type(study.pruner).__name__,
    }
    if len(directions) == 1:
        params["optuna.direction"] = directions[0]
    else:
        params["optuna.directions"] = ",".join(directions)
    logged.log_params(params)
    logged.set_tags({"optuna.study": study.study_name})


def _run_for_study(study: Study) -> tuple[Run, bool]:
    """The active run (under ``cairn run``: the launcher's) unless it is another study's run;
    else a new run named after the study (a child of the active run, if any)."""
    from cairn.core.settings import get_settings
    from cairn.tracking import active_run, start_run

    name = study.study_name
    run = active_run()
    if run is None and get_settings().run_id is not None:
        run = start_run()  # the run cairn run started for this program
        if run.id != get_settings().run_id:  # attached before, and ended since: ours
            with _hosts_lock:
                _hosts[run.id] = name
            return run, True
    with _hosts_lock:
        if run is not None and _hosts.setdefault(run.id, name) == name:
            return run, False
    started = start_run(name=name[:_MAX_NAME])
    with _hosts_lock:
        _hosts[started.id] = name
    return started, True


def _start(name: str) -> Run:
    from cairn.tracking import start_run

    return start_run(name=name)


def _child(parent: Run, override: Mapping[str, Any] | None, name: str) -> Run:
    """A run started as a child of ``parent`` whatever the calling thread's current run."""

    def start() -> Run:
        tokens = context.push_run(parent.id, override)
        try:
            return _start(name)
        finally:
            context.pop_run(parent.id, tokens)

    return contextvars.copy_context().run(start)


def _optimize(
    callback: CairnCallback,
    original: Callable[..., Any],
    study: Study,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    *,
    end_owned: bool = False,
) -> Any:
    """Call ``original`` (``Study.optimize``) with a CairnCallback among its callbacks (the
    caller's own, else ``callback``) and the objective running inside its trial's run; with
    ``end_owned``, a study run that ``callback`` started ends when the call does."""
    try:
        bound = inspect.signature(original).bind(*args, **kwargs)
    except TypeError:
        return original(*args, **kwargs)  # Optuna says what is wrong with the call
    arguments = bound.arguments
    callbacks = list(arguments.get("callbacks") or [])
    own = next((c for c in callbacks if isinstance(c, CairnCallback)), None)
    if own is None:  # one callback at most: never two runs per trial
        own = callback
        callbacks.append(own)
    arguments["callbacks"] = callbacks
    owned = None
    with guard(FRAMEWORK, "starting the study's run"):
        run, started = own.study_run(study)
        owned = run if started and end_owned and own is callback else None
        if callable(arguments.get("func")):
            arguments["func"] = own.wrap(study, arguments["func"])
    try:
        result = original(*bound.args, **bound.kwargs)
    except BaseException as exc:
        _done(own, study, owned, exc)
        raise
    _done(own, study, owned, None)
    return result


def _done(
    callback: CairnCallback, study: Study, run: Run | None, exc: BaseException | None
) -> None:
    """Record the trials left open and end ``run`` (if any) as ``exc`` says."""
    with guard(FRAMEWORK, "recording the last trials", callback.run):
        callback.finish_open(study)
    if run is not None:
        with guard(FRAMEWORK, "ending the study's run"):
            if exc is None:
                run.end("finished")
            else:
                run.__exit__(type(exc), exc, exc.__traceback__)


@contextmanager
def track(
    study: Study, run: Run | None = None, metric_name: str | Sequence[str] = "value"
) -> Iterator[Run]:
    """Record ``study.optimize`` calls in the block: each trial a child run of the study's run
    (``run``, else the active run, else a new one named after the study, ended with the
    block), active while its objective runs. Yields the study's run."""
    callback = CairnCallback(run=run, metric_name=metric_name)
    study_run, owned = callback.study_run(study)
    had = "optimize" in vars(study)
    before = vars(study).get("optimize")
    original = study.optimize

    def optimize(*args: Any, **kwargs: Any) -> Any:
        return _optimize(callback, original, study, args, kwargs)

    study.optimize = functools.update_wrapper(optimize, original)  # type: ignore[method-assign]
    try:
        yield study_run
    except BaseException as exc:
        if owned:
            study_run.__exit__(type(exc), exc, exc.__traceback__)
        raise
    finally:
        if had:
            study.optimize = before  # type: ignore[method-assign,assignment]
        else:
            del study.optimize
    if owned:
        study_run.end("finished")


def patch(module: ModuleType, patches: Patches) -> None:
    """Autolog Optuna: every ``Study.optimize`` records its trials (see the module's
    docstring)."""
    patches.wrap(module.study.Study, "optimize", _autolog_optimize)


def _autolog_optimize(original: Callable[..., Any]) -> Callable[..., Any]:
    def optimize(self: Study, *args: Any, **kwargs: Any) -> Any:
        return _optimize(CairnCallback(), original, self, (self, *args), kwargs, end_owned=True)

    return optimize
