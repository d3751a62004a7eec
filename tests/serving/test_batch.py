"""Batch scoring (``cairn predict``): chunked reads, atomic Parquet output, lineage, errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import cairn
from cairn.cli._app import app
from cairn.cli._render import fail
from cairn.cli.predict import predict_command
from cairn.core.errors import (
    CairnError,
    InvalidInputError,
    ModelNotFoundError,
    SignatureError,
)
from cairn.serving.batch import ScoreResult, score
from cairn.store import get_store
from cairn.store.lineage import DATASET_VERSION, INPUT, MODEL_VERSION, RUN, Node, edges_into
from tests.cli.test_data_cli import cli

ROWS = 230
SEEN: list[int] = []  # the batch sizes the recording model was asked to predict


def _table(rows: int = ROWS, seed: int = 0) -> pd.DataFrame:
    """Two numeric features, a text column the model ignores, and a label."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 90, rows),
            "income": rng.normal(50_000, 10_000, rows),
            "note": [f"row {i}" for i in range(rows)],
        }
    )
    frame["label"] = (frame["income"] + 500 * frame["age"] > 75_000).astype(int)
    return frame


FEATURES = ["age", "income"]


@pytest.fixture
def model(quiet_capture: None) -> Any:
    """A logistic regression registered as ``m`` version 1."""
    from sklearn.linear_model import LogisticRegression

    frame = _table()
    fitted = LogisticRegression(max_iter=1000).fit(frame[FEATURES], frame["label"])
    with cairn.run():
        cairn.log_model(fitted, "m", input_example=frame[FEATURES].head(3))
    return fitted


class Recording(cairn.PythonModel):
    """A user model that notes how many rows each call to predict received."""

    def predict(self, inputs: Any) -> Any:
        SEEN.append(len(inputs))
        return (inputs["age"] * 2).to_numpy()


def _files(folder: Path) -> list[str]:
    """Every name in ``folder``, hidden ones included (partial outputs would show here)."""
    return sorted(p.name for p in folder.iterdir())


def test_parquet_in_several_chunks_matches_predict_row_by_row(model: Any, project: Path) -> None:
    """A Parquet table scored 50 rows at a time equals the model's predictions, in row order."""
    frame = _table()
    frame.to_parquet(project / "in.parquet", index=False)
    result = score("models:/m/1", "in.parquet", "out/scores.parquet", chunk_rows=50)
    assert isinstance(result, ScoreResult)
    assert (result.rows, result.chunks, result.model_version) == (ROWS, 5, 1)
    assert result.output == str(project / "out" / "scores.parquet")
    assert result.model_uri == "models:/m/1"
    scored = pd.read_parquet(result.output)
    assert list(scored.columns) == [*frame.columns, "prediction"]
    pd.testing.assert_frame_equal(scored[list(frame.columns)], frame)
    assert scored["prediction"].tolist() == model.predict(frame[FEATURES]).tolist()
    assert _files(project / "out") == ["scores.parquet"]
    run = cairn.tracking.get_run(result.run_id)
    assert run.status == "finished"
    assert run.params["predict.model"] == "models:/m/1"
    assert run.params["predict.input"] == "in.parquet"
    assert run.metrics["rows"] == ROWS and run.metrics["rows_per_s"] > 0


def test_the_projects_params_are_not_attached_to_scoring_runs(model: Any, project: Path) -> None:
    """A predict run records its own params only, not cairn.yaml's training params."""
    (project / "cairn.yaml").write_text("params:\n  lr: 0.1\n  layers: 3\n")
    cairn.configure()
    _table().to_parquet(project / "in.parquet", index=False)
    result = score("models:/m/1", "in.parquet", "scores.parquet")
    params = cairn.tracking.get_run(result.run_id).params
    assert params and all(key.startswith("predict.") for key in params), params
    with cairn.run() as training:
        pass
    assert cairn.tracking.get_run(training.id).params == {"lr": 0.1, "layers": 3}


def test_csv_input_with_class_probabilities(model: Any, project: Path) -> None:
    """A CSV file is streamed in chunks, and proba adds one proba_<class> column per class."""
    frame = _table()
    frame.to_csv(project / "in.csv", index=False)
    result = score("models:/m/1", "in.csv", "scores.parquet", chunk_rows=64, proba=True)
    assert (result.rows, result.chunks) == (ROWS, 4)
    scored = pd.read_parquet("scores.parquet")
    assert list(scored.columns) == [*frame.columns, "prediction", "proba_0", "proba_1"]
    assert scored["note"].tolist() == frame["note"].tolist()
    expected = model.predict_proba(frame[FEATURES])
    np.testing.assert_allclose(scored[["proba_0", "proba_1"]].to_numpy(), expected)
    assert scored["prediction"].tolist() == model.predict(frame[FEATURES]).tolist()


def test_a_folder_of_tables_is_read_in_path_order(model: Any, project: Path) -> None:
    """A folder's Parquet and CSV files are scored one after the other, in path order."""
    frame = _table()
    folder = project / "parts"
    folder.mkdir()
    frame.iloc[100:].to_csv(folder / "b.csv", index=False)
    frame.iloc[:100].to_parquet(folder / "a.parquet", index=False)
    (folder / "README.txt").write_text("not a table\n")
    result = score("models:/m/1", str(folder), "scores.parquet", chunk_rows=1000)
    assert (result.rows, result.chunks) == (ROWS, 2)
    scored = pd.read_parquet("scores.parquet")
    assert scored["note"].tolist() == frame["note"].tolist()


def test_dataset_in_and_out_records_the_lineage(model: Any, project: Path) -> None:
    """data:NAME in and data:NAME out: a new version, read and written by the scoring run."""
    frame = _table()
    folder = project / "customers"
    folder.mkdir()
    frame.to_parquet(folder / "customers.parquet", index=False)
    cairn.data.add(folder, "customers")
    result = score("models:/m/1", "data:customers@v1", "data:scores", chunk_rows=100)
    assert result.output == "scores@v1"
    assert cairn.data.version("scores").number == 1
    scored = cairn.data.load("scores@v1")
    assert scored["prediction"].tolist() == model.predict(frame[FEATURES]).tolist()
    used = [(relation, v.ref) for relation, v in cairn.data.run_datasets(result.run_id)]
    assert used == [("input", "customers@v1"), ("output", "scores@v1")]
    store = get_store()
    with store.db.read() as conn:
        from sqlalchemy import select

        from cairn.store.db.schema import runs

        run_db = conn.execute(select(runs.c.id).where(runs.c.uid == result.run_id)).scalar_one()
        inputs = edges_into(conn, [Node(RUN, run_db)])
    assert sorted((e.src.kind, e.relation) for e in inputs) == [
        (DATASET_VERSION, INPUT),
        (MODEL_VERSION, INPUT),
    ]
    again = score("models:/m/1", "data:customers", "data:scores", chunk_rows=100)
    assert again.output == "scores@v1"  # the same predictions: no new version


def test_memory_is_bounded_by_chunk_rows(quiet_capture: None, project: Path) -> None:
    """With many row groups and a small chunk size, predict never sees more than chunk_rows."""
    frame = _table(2_000)
    with cairn.run():
        cairn.log_model(Recording(), "recording", input_example=frame[FEATURES].head(3))
    table = pa.Table.from_pandas(frame, preserve_index=False)
    pq.write_table(table, project / "big.parquet", row_group_size=170)
    assert pq.ParquetFile(project / "big.parquet").metadata.num_row_groups == 12
    SEEN.clear()
    result = score("models:/recording/1", "big.parquet", "scores.parquet", chunk_rows=64)
    assert SEEN and max(SEEN) <= 64 and sum(SEEN) == 2_000
    assert result.chunks == len(SEEN)
    assert pd.read_parquet("scores.parquet")["prediction"].tolist() == (frame["age"] * 2).tolist()


def test_missing_column_names_it_and_writes_nothing(model: Any, project: Path) -> None:
    """A chunk lacking a column the model needs fails with the signature's message, no output."""
    _table().drop(columns="income").to_parquet(project / "in.parquet", index=False)
    with pytest.raises(SignatureError, match=r"rows 1-50: .*missing column 'income'"):
        score("models:/m/1", "in.parquet", "scores.parquet", chunk_rows=50)
    assert _files(project) == [".cairn", "in.parquet"]
    failed = cairn.tracking.find_runs("status = 'failed'")
    assert len(failed) == 1 and "income" in (failed[0].error or "")


def test_proba_without_probabilities_is_refused(quiet_capture: None, project: Path) -> None:
    """proba on a model without predict_proba says so and writes nothing."""
    frame = _table(10)
    with cairn.run():
        cairn.log_model(Recording(), "recording", input_example=frame[FEATURES].head(3))
    frame.to_parquet(project / "in.parquet", index=False)
    with pytest.raises(InvalidInputError, match="no class probabilities"):
        score("models:/recording/1", "in.parquet", "scores.parquet", proba=True)
    assert not (project / "scores.parquet").exists()


def predict(capsys: pytest.CaptureFixture[str], *args: Any, **options: Any) -> tuple[int, str, str]:
    """Call the command as the CLI does (a CairnError: one message, exit 1): (code, out, err)."""
    with pytest.raises(SystemExit) as exit_info:
        try:
            predict_command(*args, **options)
        except CairnError as exc:
            fail(exc)
        raise SystemExit(0)
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


def test_the_command_prints_what_it_scored(
    model: Any, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """predict prints the rows, chunks, model, output and run of a successful scoring."""
    _table().to_parquet(project / "in.parquet", index=False)
    code, out, err = predict(capsys, "models:/m/1", "in.parquet", "s.parquet", chunk_rows=100)
    assert (code, err) == (0, "")
    assert out.startswith("scored 230 rows in 3 chunks with models:/m/1 in ")
    assert f"into {project / 's.parquet'}; run " in out


@pytest.mark.parametrize(
    ("model_uri", "source", "output", "message"),
    [
        ("models:/nope/1", "in.parquet", "s.parquet", "nope"),
        ("models:/m/1", "missing.parquet", "s.parquet", "missing.parquet does not exist"),
        ("models:/m/1", "in.json", "s.parquet", "neither Parquet (.parquet, .pq) nor CSV"),
        ("models:/m/1", "in.parquet", "s.csv", "neither a .parquet file path nor data:NAME"),
        ("models:/m/1", "in.parquet", "data:s@v2", "give the dataset's name only (data:s)"),
        ("models:/m/1", "data:nothing", "s.parquet", "nothing"),
        ("models:/m/1", "partial.parquet", "s.parquet", "missing column 'income'"),
    ],
    ids=[
        "model",
        "input-path",
        "input-format",
        "output-path",
        "output-version",
        "dataset",
        "column",
    ],
)
def test_bad_input_exits_1_with_a_message_and_no_output(
    model: Any,
    project: Path,
    capsys: pytest.CaptureFixture[str],
    model_uri: str,
    source: str,
    output: str,
    message: str,
) -> None:
    """Each bad argument prints one message without a traceback, exits 1, writes nothing."""
    _table().to_parquet(project / "in.parquet", index=False)
    _table().drop(columns="income").to_parquet(project / "partial.parquet", index=False)
    (project / "in.json").write_text("{}\n")
    before = _files(project)
    code, out, err = predict(capsys, model_uri, source, output, chunk_rows=100)
    assert code == 1 and out == ""
    assert err.startswith("error: ") and message in " ".join(err.split())
    assert "Traceback" not in err
    assert _files(project) == before
    with pytest.raises(cairn.core.errors.NotFoundError):
        cairn.data.version("s")


def test_unknown_model_is_a_model_not_found_error(model: Any, project: Path) -> None:
    """An unknown model is a ModelNotFoundError (the CLI's message above comes from it)."""
    _table().to_parquet(project / "in.parquet", index=False)
    with pytest.raises(ModelNotFoundError):
        score("models:/nope/1", "in.parquet", "s.parquet")
    assert not (project / "s.parquet").exists()


def test_cairn_predict_through_main(
    model: Any, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`cairn predict` parses its options and scores (once the command is registered)."""
    if "predict" not in {c.name for c in app.registered_commands}:
        pytest.skip("`cairn predict` is not registered in cairn.cli._app yet")
    _table().to_parquet(project / "in.parquet", index=False)
    code, out, _ = cli(
        capsys, "predict", "models:/m/1", "--input", "in.parquet", "--output", "s.parquet",
        "--chunk-rows", "100", "--proba",
    )  # fmt: skip
    assert code == 0 and "scored 230 rows in 3 chunks" in out
    assert "proba_1" in pq.read_schema(project / "s.parquet").names
    code, _, err = cli(capsys, "predict", "models:/m/1", "-i", "in.parquet", "-o", "s.txt")
    assert code == 1 and "neither a .parquet file path" in err
