"""Hugging Face Transformers: what a ``Trainer`` knows, recorded by a ``TrainerCallback``.

``CairnCallback`` logs, for each ``Trainer.train``:

- the ``TrainingArguments`` as params (nested values as dotted keys), and the scalar entries of
  the model's config as ``model_config.<key>`` params; the model's class and the output
  directory as tags (``transformers.model_class``, ``transformers.output_dir``);
- every numeric value the Trainer logs (loss, learning rate, grad norm, eval metrics, the
  final ``train_*`` figures) as a metric at ``state.global_step``, on the main process only;
- the final model folder (``save_pretrained``: config, weights, and the tokenizer or
  processor when the Trainer has one) as the run's ``model`` artifacts, when ``log_models``
  is on; ``AutoModel...from_pretrained`` loads it back once downloaded.

Three ways to use it:

- ``cairn.autolog()`` (or ``cairn run``): every ``Trainer.train`` is one autologged training
  (the run rules of ``cairn.autolog``) and gets a ``CairnCallback`` when it has none.
- ``TrainingArguments(report_to="cairn")``: ``register()`` adds ``"cairn"`` to Transformers'
  table of reporting integrations (``autolog`` and importing ``CairnCallback`` do it too).
- ``Trainer(callbacks=[CairnCallback()])``.

Used by hand, each ``train`` logs to the active run when no earlier training of the process
logged to it, otherwise to a new run (a child of the active one) ended with the training. A
``train`` that raises does not reach ``on_train_end``: its run stays open until the process
ends, which marks it ``failed`` when the exception ends the process, or until the same
callback's next ``train`` ends it ``failed``. Under autolog the wrapped ``Trainer.train`` ends
it at once. cairn's own failures never reach the training (see ``cairn.integrations``).

Transformers is imported on first use of ``CairnCallback``, never by importing this module.
"""

from __future__ import annotations

import importlib
import tempfile
import threading
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import TYPE_CHECKING, Any

from cairn.integrations._training import (
    Patches,
    Training,
    _run_for,
    in_training,
    options,
    report_failure,
    training,
)

FRAMEWORK = "transformers"
NAME = "cairn"  # the name ``report_to`` knows cairn by
_TRAIN = "Trainer.train"
_TRAINER_MODULE = "transformers.trainer"
_SCALARS = (bool, int, float, str)

_lock = threading.RLock()
_class: type[Any] | None = None


class _Logic:
    """What ``CairnCallback`` does; mixed with ``transformers.TrainerCallback`` on first use."""

    def __init__(self, log_models: bool | None = None) -> None:
        """``log_models``: store the final model (default: ``cairn.autolog``'s option)."""
        self.log_models = log_models
        self._auto = False  # added by autolog: logs only inside an autologged train
        self._bound = False  # autolog's Trainer.train chose ``_training`` for this train
        self._training: Training | None = None
        self._own: Training | None = None  # the run this callback started by hand

    # -- the events --------------------------------------------------------------------

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """Choose the run, then log the training arguments, model config and tags."""
        with self._safely("starting the training's run"):
            self._end_own("failed", "the previous Trainer.train raised before its end")
            if not self._bound:
                chosen = None
                if not self._auto and not in_training() and state.is_world_process_zero:
                    run, owned = _run_for(_TRAIN)
                    chosen = Training(FRAMEWORK, run, owned)
                    self._own = chosen if owned else None
                self._training = chosen
        t = self._training
        if t is None or not state.is_world_process_zero:
            return
        with self._safely("logging the training arguments"):
            t.log_params(_flat(_arguments(args)))
        model = kwargs.get("model")
        with self._safely("logging the model config"):
            t.log_params(_model_config(model))
        tags = {"transformers.model_class": type(model).__name__} if model is not None else {}
        tags["transformers.output_dir"] = str(getattr(args, "output_dir", ""))
        t.set_tags(tags)

    def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
        """Log every numeric value of ``logs`` at the Trainer's global step."""
        t = self._training
        if t is None or not logs or not state.is_world_process_zero:
            return
        with self._safely("logging metrics"):
            if t.run.is_active:  # after train: only a run that outlives it (the user's)
                t.log_metrics(_as_reported(logs, state), step=int(state.global_step))

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """Store the final model folder; end the run this callback started."""
        t = self._training
        try:
            if t is None or not state.is_world_process_zero:
                return
            log_models = options().log_models if self.log_models is None else self.log_models
            if log_models and t.run.is_active:
                with self._safely("saving the model"):
                    _log_model(t, kwargs.get("model"), kwargs.get("processing_class"))
        finally:
            self._end_own("finished", None)

    # -- autolog's binding -------------------------------------------------------------

    def _bind(self, chosen: Training | None) -> None:
        self._bound, self._training = True, chosen

    def _unbind(self) -> None:
        self._bound = False

    def _end_own(self, status: str, error: str | None) -> None:
        own, self._own = self._own, None
        if own is not None and own.run.is_active:
            with self._safely("ending the run"):
                own.run.end(status, error)

    def _safely(self, what: str) -> _Guard:
        return _Guard(what, self._training)


class _Guard:
    """Reports an exception of cairn's code (counted, warned, tagged) instead of raising it."""

    def __init__(self, what: str, t: Training | None) -> None:
        self.what, self.t = what, t

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, exc: BaseException | None, tb: Any) -> bool:
        if isinstance(exc, Exception):
            report_failure(FRAMEWORK, self.what, exc, None if self.t is None else self.t.run)
            return True
        return False


def callback_class() -> type[Any]:
    """``CairnCallback``: built on first use from ``transformers.TrainerCallback``, and
    registered as ``report_to="cairn"``."""
    built = _build()
    register()
    return built


def _build() -> type[Any]:
    global _class
    with _lock:
        if _class is None:
            base = importlib.import_module("transformers").TrainerCallback
            cls = type(
                "CairnCallback",
                (_Logic, base),
                {
                    "__module__": __name__,
                    "__qualname__": "CairnCallback",
                    "__doc__": "A ``TrainerCallback`` that logs each ``train`` to a cairn run.",
                },
            )
            _class = cls
        return _class


def register() -> None:
    """Let ``TrainingArguments(report_to="cairn")`` add a ``CairnCallback`` to a Trainer."""
    utils = importlib.import_module("transformers.integrations.integration_utils")
    table = utils.INTEGRATION_TO_CALLBACK
    if NAME not in table:
        table[NAME] = _build()


if TYPE_CHECKING:
    CairnCallback = _Logic  # at run time: the class built by callback_class()


def __getattr__(name: str) -> Any:
    if name == "CairnCallback":
        return callback_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def patch(module: ModuleType, patches: Patches) -> None:
    """Autolog Transformers: once ``transformers.trainer`` is imported (importing
    ``transformers`` alone loads no PyTorch), wrap ``Trainer.train`` and register
    ``report_to="cairn"``."""
    from cairn.core.on_import import when_imported

    waiter = _Waiter(patches)
    patches.replace(waiter, "armed", True)  # restore() sets it back: the waiter leaves
    when_imported(_TRAINER_MODULE, waiter)


class _Waiter:
    """Waits for ``transformers.trainer`` to patch it; ``autolog(disable=True)`` (its patches'
    ``restore``, setting ``armed`` back to False) stops the wait, so no import hook lingers."""

    def __init__(self, patches: Patches) -> None:
        self.patches = patches
        self.armed = False

    def __setattr__(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)
        if name == "armed" and not value:
            from cairn.core.on_import import cancel

            cancel(_TRAINER_MODULE, self)

    def __call__(self, trainer_module: ModuleType) -> None:
        if not self.armed:
            return
        try:
            register()
            self.patches.wrap(trainer_module.Trainer, "train", _wrap_train)
        except Exception as exc:
            report_failure(FRAMEWORK, f"patching {_TRAINER_MODULE}", exc)


def _wrap_train(original: Callable[..., Any]) -> Callable[..., Any]:
    def train(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not _main_process(self):  # one run per training, not one per process of it
            return original(self, *args, **kwargs)
        with training(FRAMEWORK, _TRAIN) as t:
            bound = _attach(self, t)
            try:
                return original(self, *args, **kwargs)
            finally:
                for callback in bound:
                    callback._unbind()

    return train


def _main_process(trainer: Any) -> bool:
    try:
        return bool(trainer.is_world_process_zero())
    except Exception:  # an odd Trainer: count it as the main one, as a single process is
        return True


def _attach(trainer: Any, t: Training | None) -> list[Any]:
    """Bind the Trainer's cairn callbacks to ``t`` (adding one when it has none): the first
    logs, any other stays silent, so a callback passed twice logs once."""
    try:
        cls = callback_class()
        found = [c for c in trainer.callback_handler.callbacks if isinstance(c, cls)]
        if not found and t is not None:
            callback = cls()
            callback._auto = True
            trainer.add_callback(callback)
            found = [callback]
        for index, callback in enumerate(found):
            callback._bind(t if index == 0 else None)
        return found
    except Exception as exc:
        report_failure(FRAMEWORK, "adding the cairn callback", exc, None if t is None else t.run)
        return []


def _arguments(args: Any) -> dict[str, Any]:
    to_dict = getattr(args, "to_dict", None)
    values = to_dict() if callable(to_dict) else dict(vars(args))
    return dict(values)


def _flat(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings as dotted keys (an empty one left out)."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flat(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def _as_reported(logs: Mapping[str, Any], state: Any) -> dict[str, Any]:
    """``logs`` as the Trainer recorded them in ``state.log_history``: a callback before this
    one may have taken entries out (``PrinterCallback`` pops ``total_flos``)."""
    history = getattr(state, "log_history", None)
    last = history[-1] if history else None
    if isinstance(last, Mapping) and last.get("step") == state.global_step:
        entry = {k: v for k, v in last.items() if k != "step"}
        if all(k in entry and entry[k] is v for k, v in logs.items()):
            return entry
    return dict(logs)


def _model_config(model: Any) -> dict[str, Any]:
    """The scalar entries of the model's config (nested maps and lists would swamp the
    params: a vocabulary's ``id2label`` alone can hold thousands)."""
    config = getattr(model, "config", None)
    to_dict = getattr(config, "to_dict", None)
    if not callable(to_dict):
        return {}
    return {
        f"model_config.{key}": value
        for key, value in to_dict().items()
        if value is None or isinstance(value, _SCALARS)
    }


def _log_model(t: Training, model: Any, processing_class: Any) -> None:
    save = getattr(model, "save_pretrained", None)
    if not callable(save):
        return
    with tempfile.TemporaryDirectory(prefix="cairn-transformers-") as folder:
        save(folder)
        save_processor = getattr(processing_class, "save_pretrained", None)
        if callable(save_processor):
            save_processor(folder)
        t.log_artifact(folder, "model")
