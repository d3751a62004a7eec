"""Checks of what a schedule is made of: its name, trigger, target, params and executor."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cairn.core.checks import check_int, check_mapping, check_optional_text, check_text, show
from cairn.core.errors import CairnError, InvalidInputError, NotFoundError
from cairn.core.ids import to_datetime

#: The event monitoring raises (through the ``cairn_drift_detected`` hook).
DRIFT_DETECTED = "drift_detected"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_EVENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_EXECUTORS = ("inline", "processes", "dask")
LAST_MS = 221_845_392_000_000  # 9000-01-01 UTC: cron times stay within datetime's range


def check_cron(expression: str) -> str:
    """Return the cron expression normalised, or raise a clear error when it does not parse."""
    text = check_text(expression, "cron expression", empty=False, max_length=255).strip()
    from croniter import croniter

    fields = text.split()
    if not (len(fields) == 5 or (len(fields) == 1 and text.startswith("@"))) or not (
        croniter.is_valid(text)
    ):
        raise InvalidInputError(
            f"cron expression {text!r} does not parse: give five fields, minute hour "
            "day-of-month month day-of-week, in UTC, e.g. '0 3 * * *' (every day at 3:00) or "
            "'*/15 * * * 1-5' (every 15 minutes on weekdays)"
        )
    return " ".join(fields)


def next_cron_ms(expression: str, after_ms: int) -> int:
    """The first time (UTC, epoch milliseconds) after ``after_ms`` that ``expression``
    names."""
    from croniter import croniter

    expression = check_cron(expression)
    after_ms = check_int(after_ms, "after_ms", minimum=0, maximum=LAST_MS)
    upcoming = croniter(expression, to_datetime(after_ms)).get_next(float)
    return round(upcoming * 1000)


def check_name(name: Any) -> str:
    """A schedule's name (letters, digits, ``.``, ``_``, ``-``), or a clear error."""
    text = check_text(name, "schedule name", empty=False, max_length=100)
    if not _NAME.fullmatch(text):
        raise InvalidInputError(
            f"schedule name {show(text)} is not allowed: use letters, digits, '.', '_' and '-' "
            "(starting with a letter or digit), at most 100 characters"
        )
    return text


def check_event(name: Any) -> str:
    """An event's name (letters, digits, ``.``, ``_``, ``-``), or a clear error."""
    text = check_text(name, "event name", empty=False, max_length=64)
    if not _EVENT.fullmatch(text):
        raise InvalidInputError(
            f"event name {show(text)} is not allowed: use letters, digits, '.', '_' and '-' "
            f"(starting with a letter or digit), at most 64 characters, e.g. {DRIFT_DETECTED}"
        )
    return text


def check_target(target: Any) -> str:
    """A ``MODULE:PIPELINE`` target by its shape (``check_pipeline`` loads it)."""
    text = check_text(target, "pipeline target", empty=False, max_length=1000).strip()
    module, sep, attr = text.rpartition(":")
    if not sep or not module or not attr.isidentifier():
        raise InvalidInputError(
            f"pipeline target {show(text)} is not MODULE:PIPELINE: name the module (imported "
            "from the project folder) and the @cairn.pipeline function in it, e.g. "
            "pipelines:training"
        )
    return text


def check_pipeline(target: str, root: Path, params: Mapping[str, str]) -> None:
    """Refuse a target that names no pipeline, or params the pipeline does not declare: found
    now rather than at 3 a.m."""
    from cairn.pipelines._target import load_pipeline

    try:
        found = load_pipeline(target, root)
    except CairnError:
        raise
    except Exception as exc:  # the user's module failed to import: say so, no traceback
        raise InvalidInputError(
            f"cannot load pipeline {target} from {root}: importing its module raised "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    names = list(found.signature.parameters)
    unknown = sorted({key.split(".")[0] for key in params} - set(names))
    if unknown:
        raise InvalidInputError(
            f"pipeline {target} has no param {show(unknown[0])} (its params: "
            f"{', '.join(names) or 'none'}); --set only the params its function declares"
        )


def check_executor(executor: Any) -> str | None:
    """An executor's name as ``cairn pipeline run --executor`` takes it, or None."""
    text = check_optional_text(executor, "executor", max_length=255)
    if text is None:
        return None
    if text.partition("=")[0] not in _EXECUTORS or text in ("inline=", "processes="):
        raise InvalidInputError(
            f"executor {show(text)} is not one of inline, processes, dask or dask=ADDRESS "
            "(e.g. dask=tcp://scheduler:8786)"
        )
    return text


MAX_PARAM_TEXT = 100_000  # characters of one scheduled param, as --set text
INT64 = 2**63


def _check_numbers(value: Any, key: str, depth: int = 0) -> None:
    """Refuse an int a run's params cannot hold (beyond int64), anywhere in ``value``."""
    if depth > 100:
        raise InvalidInputError(f"param {show(key)} nests deeper than 100 levels")
    if isinstance(value, int) and not isinstance(value, bool) and not -INT64 <= value < INT64:
        raise InvalidInputError(
            f"param {show(key)} holds an integer beyond 64 bits; pass it as a string"
        )
    if isinstance(value, Mapping):
        for item in value.values():
            _check_numbers(item, key, depth + 1)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _check_numbers(item, key, depth + 1)


def param_texts(params: Mapping[str, Any] | None) -> dict[str, str]:
    """The params as ``--set`` texts: strings as written, other values as JSON (which the
    ``--set`` parser reads back as the same value)."""
    texts = {}
    for key, value in check_mapping(params or {}, "params").items():
        if not isinstance(key, str) or not key.strip() or "=" in key:
            raise InvalidInputError(
                f"param name {show(key)} is not allowed: a param is key=value with a non-empty "
                "key (nested keys with dots), e.g. --set optim.lr=0.01"
            )
        check_text(key, "param name", max_length=MAX_PARAM_TEXT)
        if isinstance(value, str):
            text = value
        else:
            _check_numbers(value, key)
            try:  # no NaN or infinity: the --set parser would read them back as text
                text = json.dumps(value, allow_nan=False)
            except (TypeError, ValueError, RecursionError) as exc:
                raise InvalidInputError(
                    f"param {show(key)} = {show(value)} cannot be passed to a scheduled "
                    "pipeline: give a string, finite number, boolean, list or mapping"
                ) from exc
        # NUL, a lone surrogate or a huge text would only fail when the schedule fires
        texts[key.strip()] = check_text(text, f"param {show(key)}", max_length=MAX_PARAM_TEXT)
    return texts


def require_dataset(name: Any) -> str:
    """The name of a dataset the catalog has; a clear error naming those it has otherwise."""
    text = check_text(name, "dataset name (on_data)", empty=False, max_length=255)
    from cairn.data import list_datasets

    known = [d.name for d in list_datasets()]
    if text not in known:
        listed = ", ".join(known[:10]) or "none yet"
        raise NotFoundError(
            f"no dataset named {show(text)} to trigger on (known: {listed}); add it first with "
            "cairn data add PATH --name NAME"
        )
    return text
