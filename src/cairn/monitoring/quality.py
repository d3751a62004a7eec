"""Model quality once labels arrive: ground truth joined to the logged predictions by request
id, metrics per window, compared with what the model's training run logged.

    run = cairn.monitor.record_labels("churn", "labels.csv", id_column="request_id",
                                      label_column="churned", window="1d")
    run.windows[0].metrics["accuracy"]   # {"value": 0.91, "training": 0.93, "change": -0.02, ...}

The labels are a DataFrame, an Arrow table, or a Parquet or CSV file (or folder); they are
held in memory (labels are few next to the log), while the log is streamed file by file,
reading only the columns the join needs and keeping only the rows whose id has a label.
A batch-scoring output (``cairn predict``) that already holds a label column beside its
prediction column needs no join.

Each window (of the predictions' time ``_ts``, per model version) is stored as a ``quality``
window: its main metric as the score and a verdict, one of ``ok``, ``worse`` (a score more
than 0.05 below the training run's, or an error more than 10 % above it), ``not enough data``
(under 30 labelled rows) or ``no training metric``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from cairn.core.checks import show
from cairn.core.errors import CairnError, InvalidInputError
from cairn.core.ids import now_ms
from cairn.core.logging import logger
from cairn.monitoring import _quality_metrics as qm
from cairn.monitoring import _queries
from cairn.monitoring._label_join import PROBA, TS, P, V, Y, frame_to_measure, read_labels
from cairn.monitoring.windows import WindowSpec, parse_window
from cairn.store import get_store

__all__ = ["QualityRun", "QualityWindow", "record_labels"]

KIND = "quality"


@dataclass(frozen=True)
class QualityWindow:
    """The quality of one model version over one window of its predictions."""

    version: int  # 0: predictions of a model the registry does not know
    start_ms: int
    end_ms: int
    rows: int  # labelled predictions in the window
    main: str | None  # the metric the verdict is about
    score: float | None  # its value
    verdict: str  # ok | worse | not enough data | no training metric
    metrics: dict[str, dict[str, Any]]  # metric -> value, training, training_name, change
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class QualityRun:
    """What ``record_labels`` joined, computed and stored."""

    model: str
    task: str  # classification | regression
    task_reason: str
    f1_average: str | None  # classifiers: "binary, positive class '1' ..." or "macro over N"
    labels: int  # rows given
    matched: int  # labels joined to a prediction and measured
    unmatched: int  # labels whose id matches no logged prediction
    unmatched_examples: list[str]
    skipped: dict[str, int]  # rows left out, by reason
    windows: list[QualityWindow]
    joined: bool  # False: a batch-scoring output, measured as it is
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line: how many labels matched, and why the others did not count."""
        if not self.joined:
            text = f"{self.matched:,} of {self.labels:,} rows measured (no join: predictions given)"
        else:
            text = (
                f"{self.matched:,} of {self.labels:,} labels matched a logged prediction and "
                "were measured"
            )
            if self.unmatched:
                shown = ", ".join(repr(i) for i in self.unmatched_examples)
                text += f"; {self.unmatched:,} matched none (e.g. {shown})"
        left = [f"{n:,} {why}" for why, n in self.skipped.items() if n]
        return text + (f"; left out: {', '.join(left)}" if left else "")


def record_labels(
    model: str,
    labels: Any,
    *,
    id_column: str = "request_id",
    label_column: str = "label",
    window: str | int = "1d",
    task: str | None = None,
) -> QualityRun:
    """Join ``labels`` to ``model``'s logged predictions by request id, measure each window
    against the truth, compare with the training run's metrics, and store the windows.

    ``model``: the served name (every logged version), or ``name/3`` / ``name@alias`` (that
    version only). ``labels``: a DataFrame, Arrow table, or Parquet/CSV path holding
    ``id_column`` and ``label_column``; or a batch-scoring output holding ``label_column``
    beside ``_prediction`` (or ``prediction``), measured without a join. ``window``: ``1h``,
    ``1d``, ... or a row count. ``task``: ``classification`` or ``regression`` (default: told
    from the values). An id given twice with the same label counts once; with different labels
    it is refused. Rows without a label are left out and counted.
    """
    spec = parse_window(window)
    if task is not None and task not in qm.METRICS:
        raise InvalidInputError(f"task is 'classification' or 'regression', not {show(task)}")
    name, version = _target(model)
    table = read_labels(labels)
    for what, column in (("label", label_column), ("id", id_column)):
        if not isinstance(column, str) or not column:
            raise InvalidInputError(f"the {what} column is a column's name, not {show(column)}")
    given = table.num_rows
    rows = frame_to_measure(table, id_column, label_column, name, version)
    run = replace(
        _measure(name, rows.frame, spec, task, given, rows.skipped, rows.notes),
        unmatched=rows.unmatched,
        unmatched_examples=rows.examples,
        joined=rows.joined,
    )
    _store(run)
    logger.debug("%s: %s", name, run.summary())
    return run


# -- inputs ------------------------------------------------------------------------------


def _target(model: Any) -> tuple[str, int | None]:
    """The served name and the version asked for (None: every version)."""
    from cairn.core.uris import ModelUri, parse_model_uri

    if not isinstance(model, str) or not model.strip():
        raise InvalidInputError(
            f"name a model as 'name', 'name/3', 'name@alias' or 'models:/name/3', not {show(model)}"
        )
    parsed = parse_model_uri(model.strip())
    if not isinstance(parsed, ModelUri):
        raise InvalidInputError(
            f"{show(model)}: labels are joined to a served model's log; name it as 'name', "
            "'name/3' or 'name@alias'"
        )
    if parsed.alias is None and parsed.version is None:
        return parsed.name, None
    from cairn.registry import get_model_version

    return parsed.name, get_model_version(model.strip()).version


# -- measuring and storing ---------------------------------------------------------------


def _measure(
    name: str,
    frame: Any,
    spec: WindowSpec,
    task: str | None,
    given: int,
    skipped: dict[str, int],
    notes: list[str],
) -> QualityRun:
    """The windows' metrics of a joined frame (``Y``, ``P``, ``V``, maybe ``TS`` and
    ``_proba_<class>`` columns)."""
    import numpy as np

    proba_columns = [c for c in frame.columns if str(c).startswith(PROBA)]
    if task is None:
        task, reason = qm.guess_task(frame[Y].to_numpy(), frame[P].to_numpy(), bool(proba_columns))
    else:
        reason = "given"
    setup = None
    if task == qm.CLASSIFICATION:
        frame[Y] = _canonical(frame[Y])
        frame[P] = _canonical(frame[P])
        proba = {qm.canonical(c[len(PROBA) :]) or c: c for c in proba_columns}
        setup = qm.class_setup(frame[Y].tolist(), frame[P].tolist(), proba)
    else:
        frame[Y] = _numbers(frame[Y], "label")
        frame[P] = _numbers(frame[P], "prediction")
        finite = np.isfinite(frame[Y]) & np.isfinite(frame[P])
        if not bool(finite.all()):
            skipped["not a finite number"] = int((~finite).sum())
            frame = frame[finite]
        if frame.empty:
            raise InvalidInputError(
                "no labelled row has a finite label and prediction (all are infinite): "
                "nothing to measure"
            )
    training: dict[int, dict[str, tuple[str, float] | None]] = {}
    out = []
    for (version, start, end), rows in _windows(frame, spec):
        if version not in training:
            training[version] = _training(name, version, task, notes)
        window_notes: list[str] = []
        if setup is not None:
            probabilities = {
                cls: rows[column].astype(float).to_numpy() for cls, column in setup.proba.items()
            }
            values, window_notes = qm.classification_metrics(
                rows[Y].to_numpy(), rows[P].to_numpy(), probabilities, setup
            )
        else:
            values = qm.regression_metrics(rows[Y].to_numpy(), rows[P].to_numpy())
        compared = qm.compare(values, training[version])
        main, score, verdict = qm.judge(task, compared, len(rows))
        out.append(
            QualityWindow(
                version, start, end, len(rows), main, score, verdict, compared, window_notes
            )
        )
    return QualityRun(
        model=name,
        task=task,
        task_reason=reason,
        f1_average=None if setup is None else setup.f1_average,
        labels=given,
        matched=len(frame),
        unmatched=0,
        unmatched_examples=[],
        skipped=skipped,
        windows=out,
        joined=True,
        notes=notes,
    )


def _canonical(values: Any) -> Any:
    mapping = {v: qm.canonical(v) for v in values.unique()}
    return values.map(mapping).astype(object)


def _numbers(values: Any, what: str) -> Any:
    import pandas as pd

    converted = pd.to_numeric(values, errors="coerce")
    bad = converted.isna() & values.notna()
    if bool(bad.any()):
        raise InvalidInputError(
            f"a regressor's {what}s are numbers; {int(bad.sum()):,} are not (e.g. "
            f"{values[bad].iloc[0]!r}); if the model is a classifier, pass task='classification'"
            " (--task classification)"
        )
    return converted.astype(float)


def _windows(frame: Any, spec: WindowSpec) -> Iterator[tuple[tuple[int, int, int], Any]]:
    """``((version, start_ms, end_ms), rows)`` per window of each version, oldest first."""
    if TS not in frame.columns:
        now = now_ms()
        for version, rows in frame.groupby(V, sort=True):
            yield (int(version), now, now), rows
        return
    frame = frame.sort_values(TS, kind="stable")
    for version, rows in frame.groupby(V, sort=True):
        stamps = rows[TS].astype("int64")
        if spec.kind == "time":
            starts = stamps - stamps % spec.size
            for start, part in rows.groupby(starts, sort=True):
                yield (int(version), int(start), int(start) + spec.size), part
            continue
        for first in range(0, len(rows), spec.size):
            part = rows.iloc[first : first + spec.size]
            span = part[TS].astype("int64")
            yield (int(version), int(span.iloc[0]), int(span.iloc[-1]) + 1), part


def _training(
    name: str, version: int, task: str, notes: list[str]
) -> dict[str, tuple[str, float] | None]:
    """The training run's value of each of the task's metrics (None each when unknown)."""
    from cairn.registry import get_model_version
    from cairn.tracking import get_run

    nothing: dict[str, tuple[str, float] | None] = dict.fromkeys(qm.METRICS[task])
    if version == 0:
        notes.append("predictions of an unregistered model: no training metrics to compare")
        return nothing
    try:
        found = get_model_version(f"{name}/{version}", include_deleted=True)
        if found.run_id is None:
            notes.append(f"version {version} has no training run: no metrics to compare")
            return nothing
        metrics = get_run(found.run_id).metrics
    except CairnError as exc:
        notes.append(f"version {version}: no training metrics ({exc})")
        return nothing
    values = qm.training_values(metrics, task)
    if not any(values.values()):
        names = ", ".join(sorted(metrics)[:10]) or "none"
        notes.append(
            f"version {version}'s training run logged none of {', '.join(qm.METRICS[task])} "
            f"(its metrics: {names})"
        )
    return values


def _store(run: QualityRun) -> None:
    """Keep each window (replacing an earlier result for the same window)."""
    now = now_ms()

    def save(conn: Any) -> None:
        for w in run.windows:
            result = {
                "task": run.task,
                "main": w.main,
                "metrics": w.metrics,
                "f1_average": run.f1_average,
                "notes": w.notes,
            }
            _queries.save_window(
                conn,
                model=run.model,
                version=w.version,
                kind=KIND,
                start_ms=w.start_ms,
                end_ms=w.end_ms,
                rows=w.rows,
                verdict=w.verdict,
                score=w.score,
                result=result,
                digest=None,
                now=now,
            )

    get_store().db.transact(save)
