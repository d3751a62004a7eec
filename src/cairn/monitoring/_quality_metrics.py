"""The kernels of model quality: which task the labels describe, the metrics of one window, and
the training run's value of each metric.

Plain functions on NumPy arrays (no store, no I/O), so ``quality.py`` keeps the joining and
the storing, and these stay testable on their own.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

CLASSIFICATION = "classification"
REGRESSION = "regression"
#: Integral targets with more distinct values than this are counts, not classes.
MAX_CLASSES = 20
#: The metrics of each task, the first one logged by the training run being the main one.
METRICS = {CLASSIFICATION: ("accuracy", "f1", "roc_auc"), REGRESSION: ("rmse", "mae")}
ERRORS = frozenset({"rmse", "mae"})  # lower is better; the rest are scores

# Names a training run may have logged each metric under (compared lowercased, after the
# split-naming prefix is taken off).
_ALIASES = {
    "accuracy": ("accuracy", "acc", "accuracy_score"),
    "f1": ("f1", "f1_score", "f1score", "f1_macro", "macro_f1", "f1_binary"),
    "roc_auc": ("roc_auc", "auc", "rocauc", "auroc", "roc_auc_score", "roc_auc_ovr"),
    "mae": ("mae", "mean_absolute_error"),
    "rmse": ("rmse", "root_mean_squared_error"),
}
# Held-out splits, best first; a metric logged without a prefix comes after them. Training-set
# values ("train_accuracy") are never used: they flatter the model and would make every window
# look worse.
_SPLITS = ("test", "holdout", "val", "valid", "validation", "eval")
_PREFIX = re.compile(r"^(?P<split>[a-z]+)[_/.\-](?P<rest>.+)$")


def canonical(value: Any) -> str | None:
    """A class label as text that compares equal across dtypes (``1``, ``1.0``, ``"1"`` and
    ``True`` are one class); None for a missing value."""
    if value is None:
        return None
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        return "1" if value else "0"
    if isinstance(value, str):
        text = value.strip()
        if text in ("True", "true", "False", "false"):
            return "1" if text.lower() == "true" else "0"
        try:
            number = float(text)
        except ValueError:
            return text
        return _number_text(number) if math.isfinite(number) else text
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(number):
        return None
    return _number_text(number)


def _number_text(number: float) -> str:
    return str(int(number)) if number.is_integer() and abs(number) < 2**63 else repr(number)


def sort_classes(classes: Sequence[str]) -> list[str]:
    """Classes in order: numerically when all are numbers, else as text (the greatest last)."""
    try:
        return sorted(classes, key=float)
    except ValueError:
        return sorted(classes)


def guess_task(labels: Any, predictions: Any, has_proba: bool) -> tuple[str, str]:
    """``(task, why)`` from the labels' and predictions' values (NumPy object or numeric
    arrays without missing values)."""
    import numpy as np

    if has_proba:
        return CLASSIFICATION, "the log holds class probabilities"
    numeric = []
    for values in (labels, predictions):
        array = np.asarray(values)
        if array.dtype.kind in "iuf":
            numeric.append(array.astype(float))
        elif array.dtype.kind == "b":
            return CLASSIFICATION, "the labels or predictions are true/false"
        else:
            try:
                numeric.append(array.astype(float))
            except (TypeError, ValueError):
                return CLASSIFICATION, "the labels or predictions are text"
    both = np.concatenate(numeric)
    finite = both[np.isfinite(both)]
    if finite.size and not np.all(finite == np.round(finite)):
        return REGRESSION, "the labels or predictions are fractional numbers"
    distinct = np.unique(finite).size
    if distinct > MAX_CLASSES:
        return REGRESSION, f"{distinct} distinct whole-number values (more than {MAX_CLASSES})"
    return CLASSIFICATION, f"{distinct} distinct whole-number values"


@dataclass(frozen=True)
class ClassSetup:
    """How a classifier's F1 and ROC AUC are taken, decided once for all windows."""

    classes: list[str]  # every class seen (labels, predictions, probability columns), sorted
    positive: str | None  # binary: the greater class; None: macro over the classes
    proba: dict[str, str]  # class -> its probability column

    @property
    def f1_average(self) -> str:
        """How F1 is averaged, in words."""
        if self.positive is not None:
            return f"binary, positive class {self.positive!r} (the greater label)"
        return f"macro over {len(self.classes)} classes"


def class_setup(
    labels: Sequence[str], predictions: Sequence[str], proba: Mapping[str, str]
) -> ClassSetup:
    """The classes and the F1 averaging for canonical ``labels`` and ``predictions``; ``proba``
    maps a class to its probability column."""
    classes = sort_classes(sorted(set(labels) | set(predictions) | set(proba)))
    positive = classes[-1] if len(classes) <= 2 else None
    return ClassSetup(classes, positive, dict(proba))


def classification_metrics(
    labels: Any, predictions: Any, probabilities: Mapping[str, Any], setup: ClassSetup
) -> tuple[dict[str, float | None], list[str]]:
    """Accuracy, F1 and (with probabilities) ROC AUC of one window; the notes say why a metric
    is missing. ``labels``/``predictions``: canonical class texts; ``probabilities``: class ->
    float array (NaN where a row has none)."""
    import numpy as np

    y = np.asarray(labels, dtype=object)
    p = np.asarray(predictions, dtype=object)
    notes: list[str] = []
    out: dict[str, float | None] = {"accuracy": float(np.mean(y == p)) if y.size else None}
    if setup.positive is not None:
        out["f1"] = _f1(y == setup.positive, p == setup.positive)
    else:
        present = sorted(set(y.tolist()) | set(p.tolist()))
        scores = [_f1(y == c, p == c) for c in present]
        out["f1"] = float(np.mean([s for s in scores if s is not None])) if present else None
    out["roc_auc"] = None
    if not probabilities:
        return out, notes
    if setup.positive is not None:
        column = probabilities.get(setup.positive)
        if column is None:
            notes.append(f"no probability of class {setup.positive!r} was logged: no ROC AUC")
            return out, notes
        auc = _auc(y == setup.positive, np.asarray(column, dtype=float))
        if auc is None:
            notes.append("ROC AUC needs both classes among the labelled rows")
        out["roc_auc"] = auc
        return out, notes
    aucs = []  # one-vs-rest, macro over the classes present with a probability
    for cls in setup.classes:
        if cls in probabilities:
            found = _auc(y == cls, np.asarray(probabilities[cls], dtype=float))
            if found is not None:
                aucs.append(found)
    if aucs:
        out["roc_auc"] = float(np.mean(aucs))
    else:
        notes.append("ROC AUC needs labelled rows of at least two classes with probabilities")
    return out, notes


def _f1(truth: Any, predicted: Any) -> float | None:
    import numpy as np

    tp = int(np.sum(truth & predicted))
    fp = int(np.sum(~truth & predicted))
    fn = int(np.sum(truth & ~predicted))
    if tp + fp + fn == 0:
        return None  # the class is absent from labels and predictions: F1 says nothing
    return 2 * tp / (2 * tp + fp + fn)


def _auc(truth: Any, scores: Any) -> float | None:
    """ROC AUC by the rank-sum (Mann-Whitney) statistic, ties counted half; rows without a
    score are left out. None without both classes."""
    import numpy as np
    from scipy.stats import rankdata

    has = np.isfinite(scores)
    truth, scores = truth[has], scores[has]
    positives = int(np.sum(truth))
    negatives = int(truth.size - positives)
    if positives == 0 or negatives == 0:
        return None
    ranks = rankdata(scores)
    total = float(np.sum(ranks[truth]))
    return (total - positives * (positives + 1) / 2) / (positives * negatives)


def regression_metrics(labels: Any, predictions: Any) -> dict[str, float | None]:
    """MAE and RMSE of one window (float arrays without missing values)."""
    import numpy as np

    y = np.asarray(labels, dtype=float)
    p = np.asarray(predictions, dtype=float)
    if not y.size:
        return {"rmse": None, "mae": None}
    error = p - y
    with np.errstate(over="ignore"):  # errors past float64's range: no metric, not inf
        rmse = float(np.sqrt(np.mean(error * error)))
        mae = float(np.mean(np.abs(error)))
    return {
        "rmse": rmse if math.isfinite(rmse) else None,
        "mae": mae if math.isfinite(mae) else None,
    }


def training_values(metrics: Mapping[str, float], task: str) -> dict[str, tuple[str, float] | None]:
    """For each metric of ``task``, the training run's value and the name it was logged
    under (held-out splits first: ``test_``, ``val_``, ...; then unprefixed), or None."""
    found: dict[str, tuple[str, float] | None] = {}
    for metric in METRICS[task]:
        found[metric] = _best(metrics, _ALIASES[metric])
        if found[metric] is None and metric == "rmse":  # only the MSE logged: its root
            mse = _best(metrics, ("mse", "mean_squared_error"))
            if mse is not None and mse[1] >= 0:
                found[metric] = (f"sqrt({mse[0]})", math.sqrt(mse[1]))
    return found


def _best(metrics: Mapping[str, float], aliases: Sequence[str]) -> tuple[str, float] | None:
    ranked: list[tuple[int, str, float]] = []
    for name, value in metrics.items():
        if not isinstance(value, (int, float)) or not math.isfinite(float(value)):
            continue
        lowered = name.lower()
        rank = len(_SPLITS)  # unprefixed
        base = lowered
        match = _PREFIX.match(lowered)
        if lowered not in aliases and match is not None:
            split = match.group("split")
            if split not in _SPLITS:
                continue  # train_accuracy, or another metric's name
            rank, base = _SPLITS.index(split), match.group("rest")
        if base in aliases:
            ranked.append((rank, name, float(value)))
    if not ranked:
        return None
    _, name, value = min(ranked)
    return name, value


def compare(
    values: Mapping[str, float | None],
    training: Mapping[str, tuple[str, float] | None],
) -> dict[str, dict[str, Any]]:
    """Each metric beside the training run's value and the change (window minus training;
    for errors also relative to training)."""
    out: dict[str, dict[str, Any]] = {}
    for metric, value in values.items():
        base = training.get(metric)
        entry: dict[str, Any] = {
            "value": value,
            "training": None if base is None else base[1],
            "training_name": None if base is None else base[0],
            "change": None,
        }
        if value is not None and base is not None:
            entry["change"] = value - base[1]
            if metric in ERRORS and base[1] > 0:
                entry["relative_change"] = (value - base[1]) / base[1]
        out[metric] = entry
    return out


#: Fewer labelled rows than this in a window give metrics, but no verdict.
MIN_ROWS = 30
SCORE_MARGIN = 0.05  # "worse": a score this far (absolute) below the training run's
ERROR_MARGIN = 0.10  # "worse": an error this much (relative) above the training run's

OK, WORSE, NOT_ENOUGH, NO_BASELINE = "ok", "worse", "not enough data", "no training metric"


def judge(
    task: str, compared: Mapping[str, Mapping[str, Any]], rows: int
) -> tuple[str | None, float | None, str]:
    """``(main metric, its value, verdict)`` of one window.

    The main metric is the first of the task's metrics (``METRICS``) that both the window and
    the training run have, else the first the window has. "worse": a score more than
    ``SCORE_MARGIN`` below the training value, or an error more than ``ERROR_MARGIN`` (relative)
    above it; "not enough data" under ``MIN_ROWS`` rows; "no training metric" when the training
    run logged none of them."""
    present = [m for m in METRICS[task] if compared.get(m, {}).get("value") is not None]
    both = [m for m in present if compared[m].get("training") is not None]
    main = both[0] if both else (present[0] if present else None)
    if main is None:
        return None, None, NOT_ENOUGH
    value = float(compared[main]["value"])
    if rows < MIN_ROWS:
        return main, value, NOT_ENOUGH
    if not both:
        return main, value, NO_BASELINE
    training = float(compared[main]["training"])
    if main in ERRORS:
        worse = value > training * (1 + ERROR_MARGIN) if training > 0 else value > training
    else:
        worse = value < training - SCORE_MARGIN
    return main, value, WORSE if worse else OK
