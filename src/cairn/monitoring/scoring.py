"""Score a model version on held-out labelled data: its quality metrics and its latency.

    scores = cairn.monitor.score_model("models:/wine/3", "wine-holdout", target="class")
    scores.metrics        # {"accuracy": 0.94, "f1": 0.93, "roc_auc": 0.99,
                          #  "latency_p50_ms": 0.41, "latency_p99_ms": 0.9}
    scores.data           # "wine-holdout@v2": the version that was read

The metrics are the ones monitoring computes on labelled windows (``_quality_metrics``):
accuracy, F1 (binary on the greater class, else macro) and, when the model gives
probabilities, ROC AUC for a classifier; RMSE and MAE for a regressor. Latency is the time
of ``predict`` on single rows, one at a time. Scoring two versions on the same data is how a
challenger is compared with a champion.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from cairn.core.checks import check_int, check_text, show
from cairn.core.errors import CairnError, InvalidInputError
from cairn.monitoring import _quality_metrics as qm

__all__ = ["SCORE_KEYS", "ModelScores", "score_model"]

#: Every key ``score_model`` may put in ``ModelScores.metrics``.
SCORE_KEYS: tuple[str, ...] = (
    *qm.METRICS[qm.CLASSIFICATION],
    *qm.METRICS[qm.REGRESSION],
    "latency_p50_ms",
    "latency_p99_ms",
)
_COLUMNS_SHOWN = 20


@dataclass(frozen=True)
class ModelScores:
    """A model version's metrics on one labelled data set."""

    model: str  # "name/version" (a runs:/ URI for a model never registered)
    data: str | None  # the dataset version read ("name@v2"); None for a frame
    rows: int  # labelled rows scored
    task: str  # classification | regression
    metrics: dict[str, float]  # finite numbers only; a metric that cannot be taken is absent
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The scores as plain JSON-ready values."""
        return asdict(self)


def score_model(model: str, data: Any, target: str, *, latency_rows: int = 200) -> ModelScores:
    """Load ``model`` (``models:/wine/3``, ``wine/3``, ``wine@champion``), predict on ``data``
    (a DataFrame, or a catalog dataset ref such as ``wine-holdout@v2``) without its
    ``target`` column, and measure the predictions against ``target``; time ``predict`` on
    the first ``latency_rows`` rows, one row at a time (0: no latency)."""
    check_text(target, "target", empty=False)
    latency_rows = check_int(latency_rows, "latency_rows", minimum=0)
    loaded, ref = _load(model)
    frame, data_ref = _read(data)
    features, labels, notes = _split(frame, target)
    predictions = _as_vector(_call(loaded.predict, features, ref), len(features), ref)
    probabilities = _probabilities(loaded, features, ref, notes)
    task, reason = _declared_task(loaded) or qm.guess_task(
        labels, _finite_or_text(predictions), bool(probabilities)
    )
    notes.append(f"task: {task} ({reason})")
    if task == qm.CLASSIFICATION:
        values = _classification(labels, predictions, probabilities, notes)
    else:
        values = _regression(labels, predictions, notes)
    metrics = {k: float(v) for k, v in values.items() if v is not None and math.isfinite(v)}
    metrics.update(_latency(loaded, features, min(latency_rows, len(features)), ref, notes))
    return ModelScores(ref, data_ref, len(features), task, metrics, notes)


# -- inputs ------------------------------------------------------------------------------


def _load(model: Any) -> tuple[Any, str]:
    """The loaded model and the ref it resolved to (``name/version``)."""
    from cairn.registry import load_model

    text = check_text(model, "model", empty=False).strip()
    if not text.startswith(("models:", "runs:")):
        text = f"models:/{text}"  # never a folder of the same name
    loaded = load_model(text)
    if loaded.name is None or loaded.version is None:
        return loaded, loaded.uri
    return loaded, f"{loaded.name}/{loaded.version}"


def _read(data: Any) -> tuple[Any, str | None]:
    """``data`` as a pandas DataFrame, and the dataset version read (None for a frame)."""
    import pandas as pd

    if isinstance(data, str):
        from cairn.data import load, version

        check_text(data, "data", empty=False)
        found = version(data.strip())  # pinned first: the ref recorded is the one read
        return load(found.ref), found.ref
    if isinstance(data, pd.DataFrame):
        return data, None
    raise InvalidInputError(
        f"data is a pandas DataFrame or a catalog dataset ref such as 'holdout@v2', not "
        f"{type(data).__name__} {show(data)}"
    )


def _split(frame: Any, target: str) -> tuple[Any, Any, list[str]]:
    """The feature columns and the labels of the rows that have one."""
    notes: list[str] = []
    if target not in frame.columns:
        names = [str(c) for c in frame.columns]
        shown = ", ".join(show(n, 30) for n in names[:_COLUMNS_SHOWN])
        more = f" (and {len(names) - _COLUMNS_SHOWN} more)" if len(names) > _COLUMNS_SHOWN else ""
        raise InvalidInputError(
            f"the data has no target column {show(target)}; its columns are "
            f"{shown or 'none'}{more}; pass the label column's name as target"
        )
    if len(frame) == 0:
        raise InvalidInputError("the data has no rows: score a model on labelled rows")
    labels = frame[target]
    if isinstance(labels, type(frame)):
        raise InvalidInputError(
            f"the data has {labels.shape[1]} columns named {show(target)}; rename them so the "
            "target is one column"
        )
    known = labels.notna()
    if not bool(known.any()):
        raise InvalidInputError(
            f"every value of the target column {show(target)} is missing (NaN or None): "
            "nothing to score against; give data with labels"
        )
    if not bool(known.all()):
        notes.append(f"{int((~known).sum()):,} rows without a label were left out")
        frame = frame[known]
    features = frame.drop(columns=[target]).reset_index(drop=True)
    return features, frame[target].reset_index(drop=True).to_numpy(), notes


# -- predicting --------------------------------------------------------------------------


def _call(method: Any, features: Any, ref: str) -> Any:
    """``method(features)``, a failure of the model's own code told as a CairnError."""
    try:
        return method(features)
    except CairnError:
        raise
    except Exception as exc:  # the user's model: anything may go wrong in it
        raise CairnError(
            f"the model {ref} failed to predict: {type(exc).__name__}: {str(exc)[:300]}; "
            f"check the data has the columns it was trained on (cairn.load_model({ref!r}))"
        ) from None


def _as_vector(predicted: Any, rows: int, ref: str) -> Any:
    """One prediction per row, as a 1-D NumPy array."""
    import numpy as np

    values = np.asarray(predicted)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1 or len(values) != rows:
        raise CairnError(
            f"the model {ref} returned predictions of shape {list(values.shape)} for {rows} "
            "rows; scoring needs one prediction per row"
        )
    return values


def _probabilities(loaded: Any, features: Any, ref: str, notes: list[str]) -> dict[str, Any]:
    """Canonical class -> probability array (empty when the model gives none)."""
    import numpy as np

    if not loaded.has_proba:
        return {}
    try:
        values = np.asarray(_call(loaded.predict_proba, features, ref), dtype=float)
    except (CairnError, TypeError, ValueError) as exc:
        notes.append(f"no ROC AUC: predict_proba failed ({str(exc)[:200]})")
        return {}
    if values.ndim != 2 or len(values) != len(features):
        notes.append(f"no ROC AUC: predict_proba returned the shape {list(values.shape)}")
        return {}
    classes = getattr(loaded.raw, "classes_", None)
    if classes is None or len(classes) != values.shape[1]:
        classes = list(range(values.shape[1]))
    named = {qm.canonical(c) or str(c): values[:, i] for i, c in enumerate(classes)}
    return named if len(named) == values.shape[1] else {}


def _declared_task(loaded: Any) -> tuple[str, str] | None:
    """The task a scikit-learn-style model declares in its tags (None: it declares none)."""
    tags = getattr(loaded.raw, "__sklearn_tags__", None)
    if not callable(tags):
        return None
    try:
        kind = tags().estimator_type
    except Exception:  # the user's model: its tags may be anything
        return None
    if kind == "classifier":
        return qm.CLASSIFICATION, "the model is a classifier"
    if kind == "regressor":
        return qm.REGRESSION, "the model is a regressor"
    return None


def _finite_or_text(predictions: Any) -> Any:
    """The predictions as ``guess_task`` takes them (numbers without NaN, or objects)."""
    import numpy as np

    if predictions.dtype.kind in "iufb":
        return predictions[np.isfinite(predictions.astype(float))]
    return predictions


# -- measuring ---------------------------------------------------------------------------


def _classification(
    labels: Any, predictions: Any, probabilities: dict[str, Any], notes: list[str]
) -> dict[str, float | None]:
    y = [qm.canonical(v) for v in labels]
    p = [qm.canonical(v) or "missing" for v in predictions]
    setup = qm.class_setup([v for v in y if v is not None], p, {c: c for c in probabilities})
    notes.append(f"f1: {setup.f1_average}")
    values, why = qm.classification_metrics(y, p, probabilities, setup)
    notes.extend(why)
    return values


def _regression(labels: Any, predictions: Any, notes: list[str]) -> dict[str, float | None]:
    import numpy as np
    import pandas as pd

    y = pd.to_numeric(pd.Series(labels), errors="coerce").to_numpy(dtype=float)
    if bool(np.isnan(y).any()):
        bad = labels[np.isnan(y)][0]
        raise InvalidInputError(
            f"a regressor's labels are numbers; the target holds {show(bad)}; give numeric "
            "labels, or score a classifier"
        )
    p = pd.to_numeric(pd.Series(predictions), errors="coerce").to_numpy(dtype=float)
    finite = np.isfinite(y) & np.isfinite(p)
    if not bool(finite.all()):
        notes.append(
            f"{int((~finite).sum()):,} rows with an infinite label or a missing or infinite "
            "prediction were left out of rmse and mae"
        )
    return qm.regression_metrics(y[finite], p[finite])


def _latency(
    loaded: Any, features: Any, count: int, ref: str, notes: list[str]
) -> dict[str, float]:
    """p50 and p99 of ``predict`` on each of the first ``count`` rows alone, in ms."""
    import numpy as np

    if count == 0:
        notes.append("latency not measured (latency_rows=0)")
        return {}
    times = []
    for i in range(count):
        row = features.iloc[i : i + 1]
        started = time.perf_counter()
        _call(loaded.predict, row, ref)
        times.append((time.perf_counter() - started) * 1000.0)
    return {
        "latency_p50_ms": float(np.percentile(times, 50)),
        "latency_p99_ms": float(np.percentile(times, 99)),
    }
