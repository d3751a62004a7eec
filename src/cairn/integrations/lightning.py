"""PyTorch Lightning: ``CairnLogger``, a Lightning ``Logger`` writing to a cairn run, and its
automatic use under ``cairn.autolog``.

``CairnLogger`` records the hyperparameters (``save_hyperparameters``, flattened to dotted
params), every ``self.log`` metric at the step Lightning reports it with, and each checkpoint
file Lightning saves, once, under ``checkpoints/`` (the run's tag
``cairn.lightning.best_checkpoint`` names the best one). Its run: the ``run`` given, else the
run active when the fit starts, else a run of its own, ended when the fit ends. It works with
both ``lightning.pytorch`` and ``pytorch_lightning``: the class is built on first use from the
namespace already imported, so importing this module never imports Lightning (a program that
imports both gets ``lightning.pytorch``'s; ``logger_class("pytorch_lightning")`` gives the
other). A logger fitting again after its run ended chooses again (the active run, or a new
one), unless that run was given to it.

Under autolog, ``Trainer.fit`` logs to the run of ``_training``'s rules, through a
``CairnLogger`` added beside the trainer's own loggers for the fit (none is added when the
trainer has one already; with ``logger=False``, which turns Lightning's logging off, only the
hyperparameters and the trainer's settings are recorded). The trainer's settings become
``trainer.*`` params, and the fitted module is saved as the run's model (its
``example_input_array``, when set, is the input example).

Lightning's default logger writes to TensorBoard: while an autologged training is in progress,
the TensorBoard mirror (``cairn.integrations.tensorboard``) records nothing, so each point is
logged once, by the logger here.
"""

from __future__ import annotations

import importlib
import sys
import threading
from argparse import Namespace
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from cairn.integrations._training import (
    Patches,
    Training,
    guard,
    number,
    report_failure,
    training,
)

FRAMEWORK = "lightning"
NAMESPACES = ("lightning.pytorch", "pytorch_lightning")
BEST_TAG = "cairn.lightning.best_checkpoint"
CHECKPOINTS = "checkpoints"
_classes: dict[str, type] = {}
_lock = threading.Lock()


def logger_class(namespace: str | None = None) -> type:
    """``CairnLogger`` built on the ``Logger`` base of ``namespace`` (``lightning.pytorch`` or
    ``pytorch_lightning``; default: the one already imported, else the one installed)."""
    if namespace is None:
        imported = [n for n in NAMESPACES if n in sys.modules]
        namespace = imported[0] if imported else None
    candidates = (namespace,) if namespace is not None else NAMESPACES
    with _lock:
        for name in candidates:
            if name in _classes:
                return _classes[name]
        errors = []
        for name in candidates:
            if name not in NAMESPACES:
                break
            try:
                built = _build(name)
            except ImportError as exc:
                errors.append(f"{name}: {exc}")
                continue
            _classes[name] = built
            return built
    from cairn.core.errors import InvalidInputError

    raise InvalidInputError(
        f"CairnLogger needs PyTorch Lightning ({' or '.join(NAMESPACES)}), and "
        f"{namespace or 'neither'} could be imported ({'; '.join(errors) or 'unknown namespace'});"
        " install lightning or pytorch-lightning"
    )


def __getattr__(name: str) -> Any:
    """``CairnLogger``: built on the Lightning namespace in use when first asked for."""
    if name == "CairnLogger":
        return logger_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class _CairnLoggerBase:
    """What ``CairnLogger`` does, whatever Lightning namespace its ``Logger`` base is from."""

    _rank_zero_only: Any = None  # the namespace's rank_zero_only (its .rank: this process's)

    def __init__(self, run: Any = None, log_checkpoints: bool = True) -> None:
        """Log to ``run`` (default: the run active at fit start, else one of its own);
        ``log_checkpoints``: store each checkpoint Lightning saves as an artifact."""
        from cairn.core.errors import InvalidInputError

        super().__init__()
        if run is not None and not (hasattr(run, "log") and hasattr(run, "id")):
            raise InvalidInputError(
                f"run must be a cairn Run (from cairn.start_run()), not {type(run).__name__}"
            )
        if not isinstance(log_checkpoints, bool):
            raise InvalidInputError(f"log_checkpoints is True or False, not {log_checkpoints!r}")
        self._given = run
        self._run: Any = None
        self._owned = False
        self._failed = False
        self._log_checkpoints = log_checkpoints
        self._logged: dict[str, float] = {}  # checkpoint file -> modification time logged

    @property
    def run(self) -> Any:
        """The cairn run logged to (chosen at first use), or None where cairn failed."""
        if self._run is not None:
            return self._run
        if self._failed or getattr(self._rank_zero_only, "rank", 0) > 0:
            return None  # cairn failed, or not rank zero: the other ranks log nothing
        try:
            from cairn.tracking import active_run, start_run

            if self._given is not None:
                self._run, self._owned = self._given, False
            else:
                active = active_run()
                if active is not None:
                    self._run, self._owned = active, False
                else:
                    self._run, self._owned = start_run(name="lightning"), True
        except Exception as exc:
            self._failed = True  # for this logger: one warning, not one per step
            report_failure(FRAMEWORK, "starting a run", exc)
            return None
        return self._run

    def _live(self) -> Any:
        """The run to write to: a logger fitting again after its run ended chooses again."""
        run = self._run
        if run is not None and run is not self._given and not run.is_active:
            self._run = None
            self._logged.clear()
        return self.run

    @property
    def experiment(self) -> Any:
        """The cairn run to log to (``self.logger.experiment.log_figure(...)`` in a module);
        Lightning asks for it as a fit starts."""
        return self._live()

    @property
    def name(self) -> str:
        """The run's experiment."""
        run = self.run
        return str(run.experiment) if run is not None else "cairn"

    @property
    def version(self) -> str:
        """The cairn run id."""
        run = self.run
        return str(run.id) if run is not None else "no-run"

    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        """Record hyperparameters as params (nested mappings as dotted keys)."""
        run = self._live()
        if run is None:
            return
        with guard(FRAMEWORK, "logging hyperparams", run):
            Training(FRAMEWORK, run, False).log_params(flat_params(params))

    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        """Record ``metrics`` at ``step`` (values that are no finite numbers are left out)."""
        run = self._live()
        if run is None:
            return
        try:
            values = {}
            for key, value in metrics.items():
                converted = value if type(value) is float else number(value)
                if converted is not None:
                    values[str(key)] = converted
            if values:
                run.log(values, step=None if step is None else int(step))
        except Exception as exc:
            report_failure(FRAMEWORK, "logging metrics", exc, run)

    def log_graph(self, model: Any, input_array: Any = None) -> None:
        """Nothing: the model is saved whole (under autolog), not as a graph."""

    def after_save_checkpoint(self, checkpoint_callback: Any) -> None:
        """Store each checkpoint file not stored yet under ``checkpoints/``; tag the best."""
        run = self._live()
        if run is None or not self._log_checkpoints:
            return
        with guard(FRAMEWORK, "storing checkpoints", run):
            best = str(getattr(checkpoint_callback, "best_model_path", "") or "")
            for path in _checkpoint_files(checkpoint_callback):
                file = Path(path)
                try:
                    mtime = file.stat().st_mtime
                except OSError:  # rotated away meanwhile (top-k)
                    continue
                if self._logged.get(path) == mtime:
                    continue
                run.log_artifact(file, f"{CHECKPOINTS}/{file.name}")
                self._logged[path] = mtime
            if best and best in self._logged:
                run.set_tags({BEST_TAG: f"{CHECKPOINTS}/{Path(best).name}"})

    def save(self) -> None:
        """Nothing: cairn writes what was logged by itself."""

    def finalize(self, status: str) -> None:
        """End the run when the logger started it (``failed`` when the fit failed)."""
        run = self._run
        if run is None or not self._owned or not run.is_active:
            return
        with guard(FRAMEWORK, "ending the run", run):
            run.end("failed" if status == "failed" else "finished")


def _checkpoint_files(callback: Any) -> list[str]:
    """The checkpoint files a ``ModelCheckpoint`` holds now (last, best, top k)."""
    paths = [getattr(callback, "last_model_path", ""), getattr(callback, "best_model_path", "")]
    paths.extend(getattr(callback, "best_k_models", {}) or {})
    found = dict.fromkeys(str(p) for p in paths if p)
    return [p for p in found if Path(p).is_file()]


def _build(namespace: str) -> type:
    """The ``CairnLogger`` class on ``namespace``'s ``Logger`` (rank-zero methods as its own)."""
    base = importlib.import_module(f"{namespace}.loggers.logger").Logger
    rank_zero_only = importlib.import_module(f"{namespace}.utilities.rank_zero").rank_zero_only
    methods: dict[str, Any] = {
        "__module__": __name__,
        "_rank_zero_only": staticmethod(rank_zero_only),
        "__qualname__": "CairnLogger",
        "__doc__": "A Lightning logger recording hyperparameters, metrics and checkpoints in "
        "a cairn run.",
    }
    for what in ("log_hyperparams", "log_metrics", "after_save_checkpoint", "finalize"):
        methods[what] = rank_zero_only(getattr(_CairnLoggerBase, what))
    built: type = type(base)("CairnLogger", (_CairnLoggerBase, base), methods)
    return built


def flat_params(params: Any, prefix: str = "") -> dict[str, Any]:
    """Hyperparameters (a ``Namespace`` or mapping, nested or not) as dotted keys."""
    if isinstance(params, Namespace):
        params = vars(params)
    if not isinstance(params, Mapping):
        return {prefix.rstrip(".") or "hparams": params}
    flat: dict[str, Any] = {}
    for key, value in params.items():
        inner = vars(value) if isinstance(value, Namespace) else value
        if isinstance(inner, Mapping) and inner:
            flat.update(flat_params(inner, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = inner
    return flat


def patch(module: ModuleType, patches: Patches) -> None:
    """Autolog ``Trainer.fit`` of ``module`` (``lightning.pytorch`` or ``pytorch_lightning``)."""
    namespace = module.__name__
    patches.wrap(module.Trainer, "fit", lambda original: _fit(original, namespace))


def _fit(original: Callable[..., Any], namespace: str) -> Callable[..., Any]:
    def fit(trainer: Any, *args: Any, **kwargs: Any) -> Any:
        with training(FRAMEWORK, "Trainer.fit") as t:
            if t is None:
                return original(trainer, *args, **kwargs)
            model = args[0] if args else kwargs.get("model")
            before: list[Any] | None = None
            with guard(FRAMEWORK, "adding the cairn logger", t.run):
                loggers = list(trainer.loggers)
                has_own = any(isinstance(lg, _CairnLoggerBase) for lg in loggers)
                if loggers and not has_own:
                    before = loggers
                    trainer.loggers = [*loggers, logger_class(namespace)(run=t.run)]
                elif not loggers and model is not None:  # logger=False: Lightning logs none
                    t.log_params(flat_params(dict(getattr(model, "hparams_initial", {}))))
                t.log_params(_trainer_params(trainer))
            try:
                result = original(trainer, *args, **kwargs)
            finally:
                if before is not None:
                    with guard(FRAMEWORK, "removing the cairn logger", t.run):
                        trainer.loggers = before
            _save_model(t, model)
            return result

    return fit


def _trainer_params(trainer: Any) -> dict[str, Any]:
    """The trainer's settings that shape a training, as ``trainer.*`` params."""
    params: dict[str, Any] = {}
    for name in (
        "max_epochs",
        "min_epochs",
        "max_steps",
        "accumulate_grad_batches",
        "gradient_clip_val",
        "check_val_every_n_epoch",
        "precision",
        "num_devices",
    ):
        value = getattr(trainer, name, None)
        if value is not None:
            params[f"trainer.{name}"] = value
    for name in ("accelerator", "strategy"):
        part = getattr(trainer, name, None)
        if part is not None:
            params[f"trainer.{name}"] = type(part).__name__
    return params


def _save_model(t: Training, model: Any) -> None:
    """Save the fitted module as the run's model, its ``example_input_array`` as example."""
    if model is None:
        return
    example = None
    with guard(FRAMEWORK, "reading the input example", t.run):
        array = getattr(model, "example_input_array", None)
        if array is not None and hasattr(array, "detach"):
            example = array.detach().cpu().numpy()
    t.save_model(model, input_example=example)
