"""A model version's training reference: the summary of the data it was trained on and of
its predictions on that data, computed once and stored as an artifact linked to the version.

The data is found through lineage (the catalog dataset versions the run that logged the model
read, nearest first), so nobody has to name it; it can also be given. The predictions are
made on a seeded sample of at most ``PREDICT_ROWS`` rows, so a large training table costs two
streaming passes (the summary, then the sample, whose share needs the row count) and one
bounded predict call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cairn.core.errors import CairnError, InvalidInputError, NotFoundError
from cairn.core.ids import now_ms
from cairn.core.logging import logger
from cairn.monitoring import _queries
from cairn.monitoring.sketch import DEFAULT_LIMIT, TableSketch, sketch_batches
from cairn.store import get_store

__all__ = [
    "PREDICTION",
    "PREDICT_ROWS",
    "Reference",
    "compute_reference",
    "get_reference",
    "input_columns",
    "model_columns",
    "reference_of_model",
]

PREDICTION = "_prediction"  # the prediction's column, as in the prediction log
PREDICT_ROWS = 100_000  # rows of the training data the model predicts for its reference
SAMPLE_SEED = 20261205


@dataclass(frozen=True)
class Reference:
    """The stored reference of one model version."""

    model: str
    version: int
    rows: int  # training rows summarized
    datasets: list[str]  # the dataset versions it was made from ("customers@v2"), or []
    predicted_rows: int  # rows the model predicted for the prediction's summary (0: none)
    created_ms: int
    digest: str
    sketch: TableSketch
    note: str = ""  # why there is no prediction summary, when there is none


def compute_reference(model: Any, data: Any = None, *, refresh: bool = True) -> Reference:
    """Summarize the training data of a model version and its predictions on it, and keep
    the summary as the version's reference.

    ``model``: ``"name/3"``, ``"name@champion"``, ``"models:/name/3"`` or a ``ModelVersion``.
    ``data``: the training data (a DataFrame, Arrow table, Parquet/CSV path or folder, or a
    catalog reference ``"data:customers@v2"``); default: the dataset the logging run read.
    ``refresh=False`` returns a stored reference as it is.
    """
    version = _version(model)
    store = get_store()
    if not refresh:
        found = get_reference(version, compute=False)
        if found is not None:
            return found
    from cairn.core.context import detached

    with detached():  # re-reading the training data is not a new input of any run
        source, datasets = _training_data(version, data)
        sketch, predicted, note = _summarize(version, source)
    digest = store.artifacts.put_bytes(sketch.to_bytes()).digest
    info = {"datasets": datasets, "predicted_rows": predicted, "note": note}
    now = now_ms()

    def save(conn: Any) -> None:
        version_id = _queries.version_db_id(conn, version.name, version.version)
        if version_id is None:  # deleted meanwhile
            raise NotFoundError(f"model version {version.name}/{version.version} is gone")
        _queries.save_reference(conn, version_id, digest, sketch.rows, info, now)

    store.db.transact(save)
    return Reference(
        version.name, version.version, sketch.rows, datasets, predicted, now, digest, sketch, note
    )


def get_reference(model: Any, *, compute: bool = True) -> Reference | None:
    """The stored reference of a model version; computed now when missing and ``compute``
    (None when there is none and it cannot be computed without being given the data)."""
    version = _version(model)
    store = get_store()
    with store.db.read() as conn:
        stored = _queries.reference(conn, version.name, version.version)
    if stored is None:
        if not compute:
            return None
        return compute_reference(version)
    sketch = TableSketch.from_bytes(store.artifacts.read_bytes(stored.digest))
    return Reference(
        stored.model,
        stored.version,
        stored.rows,
        list(stored.source.get("datasets", [])),
        int(stored.source.get("predicted_rows", 0)),
        stored.created_ms,
        stored.digest,
        sketch,
        str(stored.source.get("note", "")),
    )


def reference_of_model(data: Any) -> TableSketch | None:
    """The reference summary when ``data`` names a model version (``models:/...`` or a
    ``ModelVersion``), else None."""
    from cairn.registry import ModelVersion

    if isinstance(data, ModelVersion) or (isinstance(data, str) and data.startswith("models:")):
        found = get_reference(data)
        assert found is not None
        return found.sketch
    return None


def model_columns(data: Any) -> list[str] | None:
    """The input columns of the model version ``data`` names (None when it names none or
    the model has no column signature)."""
    from cairn.registry import ModelVersion

    if isinstance(data, ModelVersion) or (isinstance(data, str) and data.startswith("models:")):
        return input_columns(data)
    return None


def input_columns(model: Any) -> list[str] | None:
    """The input columns a model version's signature names (None without a column signature)."""
    version = _version(model)
    signature = version.signature or {}
    inputs = signature.get("inputs") or {}
    if inputs.get("type") == "tensor":
        return None
    names = [str(column["name"]) for column in inputs.get("columns", [])]
    return names or None


# -- internals ---------------------------------------------------------------------------


def _version(model: Any) -> Any:
    from cairn.registry import ModelVersion, get_model_version

    if isinstance(model, ModelVersion):
        return model
    if not isinstance(model, str) or not model.strip():
        raise InvalidInputError(
            f"name a model version as 'name/3', 'name@alias' or 'models:/name/3', not {model!r}"
        )
    return get_model_version(model)


def _training_data(version: Any, data: Any) -> tuple[Any, list[str]]:
    """What to summarize, and the dataset versions it is (``[]`` when given directly)."""
    from cairn import data as catalog

    if isinstance(data, str) and data.startswith("data:"):
        ref = data[len("data:") :]
        return catalog.path(ref), [ref]
    if data is not None:
        return data, []
    found = _lineage_datasets(version)
    if not found:
        raise NotFoundError(
            f"model {version.name}/{version.version} has no catalog dataset in its lineage (the "
            "run that logged it read none), so its training data is unknown; give it: "
            f"`cairn monitor reference {version.name}/{version.version} --data PATH`"
        )
    wanted = set(input_columns(version) or [])
    if not wanted or len(found) == 1:
        return catalog.path(found[0]), [found[0]]
    # The nearest dataset that holds most of the model's inputs (each folder asked for once).
    folders = {ref: catalog.path(ref) for ref in found}
    best = max(found, key=lambda ref: len(wanted & set(_columns_of(folders[ref]))))
    return folders[best], [best]


def _lineage_datasets(version: Any) -> list[str]:
    """Dataset versions above a model version, nearest first."""
    from cairn.registry import model_lineage

    tree = model_lineage(f"{version.name}/{version.version}")
    found: list[str] = []
    level = [tree]
    while level:
        following = []
        for node in level:
            for parent in node.parents:
                if parent.kind == "dataset_version" and parent.ref not in found:
                    found.append(parent.ref)
                following.append(parent)
        level = following
    return found


def _columns_of(folder: Any) -> list[str]:
    from cairn.validation import table_batches

    try:
        return list(next(iter(table_batches(folder, 1))).schema.names)
    except (CairnError, StopIteration, OSError):
        return []


def _summarize(version: Any, source: Any) -> tuple[TableSketch, int, str]:
    """The summary of ``source`` plus the model's predictions on a sample of it."""
    from cairn.validation import table_batches

    try:
        sketch = sketch_batches(table_batches(source), limit=DEFAULT_LIMIT)
    except InvalidInputError as exc:
        raise InvalidInputError(f"the training data of {version.uri}: {exc}") from None
    if sketch.rows == 0:
        raise InvalidInputError(
            f"the training data of {version.uri} has no rows: nothing to compare with"
        )
    inputs = input_columns(version)
    if inputs is None:
        return sketch, 0, "the model has no column signature: its predictions are not summarized"
    missing = [c for c in inputs if c not in sketch.columns]
    if missing:
        note = f"the training data lacks the model's input columns {missing}: no predictions"
        return sketch, 0, note
    try:
        predictions = _predict_sample(version, source, inputs, sketch.rows)
    except Exception as exc:  # the model's own failure: the data summary still stands
        note = f"the model could not predict on its training data ({type(exc).__name__}: {exc})"
        logger.warning("%s/%s: %s", version.name, version.version, note)
        return sketch, 0, note
    import pyarrow as pa

    table = pa.table({PREDICTION: predictions})
    predicted = sketch_batches(table.to_batches(), limit=DEFAULT_LIMIT)
    merged = TableSketch(sketch.rows, {**sketch.columns, **predicted.columns})
    return merged, len(predictions), ""


def _predict_sample(version: Any, source: Any, inputs: list[str], rows: int) -> Any:
    """The model's predictions (an Arrow array) on a seeded sample of ``source``'s rows."""
    import numpy as np
    import pyarrow as pa

    from cairn.registry import load_model
    from cairn.validation import table_batches

    share = min(1.0, PREDICT_ROWS / rows)
    rng = np.random.default_rng(SAMPLE_SEED)
    parts = []
    for batch in table_batches(source):
        chosen = batch.select(inputs)
        if share < 1.0:
            chosen = chosen.filter(pa.array(rng.random(chosen.num_rows) < share))
        if chosen.num_rows:
            parts.append(chosen)
    frame = pa.Table.from_batches(parts).to_pandas() if parts else None
    if frame is None:
        return pa.array([], pa.float64())
    loaded = load_model(version.uri)
    output = np.asarray(loaded.predict(frame))
    if output.ndim > 1 and output.shape[1] == 1:
        output = output[:, 0]
    if output.ndim != 1:
        raise InvalidInputError(f"predictions of shape {output.shape} are not one column")
    return pa.array(output.tolist() if output.dtype == object else output)


def describe_source(reference: Reference) -> str:
    """Where a reference came from, in words."""
    made = ", ".join(reference.datasets) if reference.datasets else "data given by hand"
    return f"{reference.rows:,} rows of {made}" + (
        f"; predictions on {reference.predicted_rows:,} of them" if reference.predicted_rows else ""
    )
