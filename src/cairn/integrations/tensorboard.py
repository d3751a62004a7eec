"""TensorBoard: scalars written through ``SummaryWriter`` (``torch.utils.tensorboard`` or
``tensorboardX``) are mirrored as cairn metrics.

``add_scalar(tag, value, global_step)`` becomes metric ``tag`` at ``global_step``;
``add_scalars(main_tag, {tag: value}, global_step)`` becomes ``main_tag/tag``. Without a
``global_step``, each metric counts its own steps from 0 (per writer).

Which run: a writer is long-lived, not one training call, so the mirror logs to the run active
at each scalar; with none active, the first scalar starts one, as ``cairn.log`` does (it is then
the active run), and that run ends when the writer that started it is closed, or at exit.

What is left out: while an autologged training is in progress (a Lightning ``Trainer.fit``, a
transformers ``Trainer.train``...), the mirror records nothing: that training's integration
logs the same metrics itself (Lightning's default logger writes to TensorBoard), and each point
must be logged once. A scalar cairn cannot record (a tag too long for a metric name) is
reported and counted in ``cairn.integrations.failures()``; the writer goes on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

from cairn.integrations._training import (
    AUTOLOG_TAG,
    Patches,
    in_training,
    number,
    report_failure,
)

FRAMEWORK = "tensorboard"
_STATE = "_cairn_mirror"  # the writer's attribute holding its _Mirror


class _Mirror:
    """What the mirror keeps per writer: the run it started, the steps of tags without one."""

    __slots__ = ("counters", "run")

    def __init__(self) -> None:
        self.run: Any = None
        self.counters: dict[str, int] = {}


def patch(module: ModuleType, patches: Patches) -> None:
    """Mirror the scalars of ``module``'s ``SummaryWriter`` (torch's or tensorboardX's)."""
    writer = module.SummaryWriter
    patches.wrap(writer, "add_scalar", _add_scalar)
    patches.wrap(writer, "add_scalars", _add_scalars)
    patches.wrap(writer, "close", _close)


def _add_scalar(original: Callable[..., Any]) -> Callable[..., Any]:
    def add_scalar(
        self: Any, tag: Any, scalar_value: Any, global_step: Any = None, *args: Any, **kwargs: Any
    ) -> Any:
        result = original(self, tag, scalar_value, global_step, *args, **kwargs)
        if not in_training():
            _mirror(self, ((tag, scalar_value),), global_step)
        return result

    return add_scalar


def _add_scalars(original: Callable[..., Any]) -> Callable[..., Any]:
    def add_scalars(
        self: Any,
        main_tag: Any,
        tag_scalar_dict: Any,
        global_step: Any = None,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        result = original(self, main_tag, tag_scalar_dict, global_step, *args, **kwargs)
        if not in_training() and isinstance(tag_scalar_dict, Mapping):
            pairs = tuple((f"{main_tag}/{tag}", value) for tag, value in tag_scalar_dict.items())
            _mirror(self, pairs, global_step)
        return result

    return add_scalars


def _close(original: Callable[..., Any]) -> Callable[..., Any]:
    def close(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return original(self, *args, **kwargs)
        finally:
            state: _Mirror | None = getattr(self, _STATE, None)
            run = state.run if state is not None else None
            if state is not None and run is not None:
                state.run = None
                try:
                    if run.is_active:
                        run.end("finished")
                except Exception as exc:
                    report_failure(FRAMEWORK, "ending the run", exc, run)

    return close


def _mirror(writer: Any, pairs: tuple[tuple[Any, Any], ...], global_step: Any) -> None:
    """Log ``pairs`` (tag, value) at ``global_step`` (or each tag's next step); never raises."""
    run = None
    try:
        state = writer.__dict__.get(_STATE)
        if state is None:
            state = writer.__dict__[_STATE] = _Mirror()
        run = _run(state)
        for tag, value in pairs:
            converted = value if type(value) is float else number(value)
            if converted is None:
                continue
            key = str(tag)
            if global_step is None:
                step = state.counters.get(key, 0)
                state.counters[key] = step + 1
            else:
                step = global_step if type(global_step) is int else int(global_step)
            run.log({key: converted}, step=step)
    except Exception as exc:
        report_failure(FRAMEWORK, "mirroring a scalar", exc, run)


def _run(state: _Mirror) -> Any:
    """The active run, else the run this writer started (started now if needed)."""
    from cairn.tracking import active_run, start_run

    run = active_run()
    if run is not None:
        return run
    if state.run is None or not state.run.is_active:
        state.run = start_run(name="tensorboard", tags={AUTOLOG_TAG: FRAMEWORK})
    return state.run
