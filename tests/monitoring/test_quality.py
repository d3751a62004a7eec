"""Model quality once labels arrive: labels joined to a real prediction log by request id,
metrics per window checked against scikit-learn, compared with the training run, stored."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

import cairn
from cairn.core.errors import InvalidInputError, NotFoundError
from cairn.monitoring import _queries, record_labels
from cairn.serving.prediction_log import LoggedBatch, PredictionLog
from cairn.store import Store, get_store
from tests.cli.test_data_cli import cli

DAY = 86_400_000
T0 = 1_780_000_000_000 - 1_780_000_000_000 % DAY  # a day's start (UTC), in 2026


def _register(name: str, metrics: dict[str, float], model: Any) -> None:
    """A registered version of ``name`` whose training run logged ``metrics``."""
    with cairn.run():
        cairn.log(metrics)
        cairn.log_model(model, name, input_example=[[0.0], [1.0]])


def _log(
    name: str,
    predictions: list[Any],
    *,
    start_ms: int,
    prefix: str = "r",
    version: int = 1,
    proba: dict[str, list[float]] | None = None,
) -> list[str]:
    """Log one row per request (ids ``<prefix><i>``) at ``start_ms``; the request ids."""
    ids = [f"{prefix}{i}" for i in range(len(predictions))]
    log = PredictionLog()
    log.start()
    assert log.append(
        LoggedBatch(
            name,
            version,
            [{"x": float(i)} for i in range(len(predictions))],
            predictions,
            ids,
            [False] * len(predictions),
            ts_ms=start_ms,
            probabilities=proba,
        )
    )
    log.close()
    return ids


@pytest.fixture
def classifier(store: Store, quiet_capture: None) -> dict[str, Any]:
    """Model ``churn`` v1 (training: val accuracy 0.9, f1 0.88, auc 0.95) with 120 logged
    binary predictions on day 0 and 80 on day 1, each with class probabilities."""
    from sklearn.dummy import DummyClassifier

    _register(
        "churn",
        {"val_accuracy": 0.9, "val_f1": 0.88, "val_roc_auc": 0.95, "train_accuracy": 0.99},
        DummyClassifier().fit([[0], [1]], [0, 1]),
    )
    rng = np.random.default_rng(7)
    days = []
    for day, (n, wrong) in enumerate([(120, 0.08), (80, 0.35)]):
        truth = rng.integers(0, 2, n)
        flip = rng.random(n) < wrong
        predicted = np.where(flip, 1 - truth, truth)
        p1 = np.clip(np.where(predicted == 1, 0.7, 0.3) + rng.normal(0, 0.15, n), 0, 1)
        ids = _log(
            "churn",
            predicted.tolist(),
            start_ms=T0 + day * DAY + 3_600_000,
            prefix=f"d{day}-",
            proba={"0": (1 - p1).tolist(), "1": p1.tolist()},
        )
        days.append({"ids": ids, "truth": truth, "predicted": predicted, "p1": p1})
    return {"days": days}


def _labels(days: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "rid": [i for d in days for i in d["ids"]],
            "y": [int(v) for d in days for v in d["truth"]],
        }
    )


def test_classifier_labels_are_joined_per_day_and_compared(classifier: dict[str, Any]) -> None:
    """Labels join by request id; each day's accuracy, F1 and ROC AUC equal scikit-learn's,
    sit beside the training run's held-out values, and the bad day is 'worse'."""
    days = classifier["days"]
    run = record_labels("churn", _labels(days), id_column="rid", label_column="y", window="1d")
    assert run.task == "classification" and run.matched == 200 and run.unmatched == 0
    assert run.f1_average is not None and "positive class '1'" in run.f1_average
    assert [w.start_ms for w in run.windows] == [T0, T0 + DAY]
    for window, day in zip(run.windows, days, strict=True):
        m = window.metrics
        assert window.rows == len(day["ids"]) and window.version == 1
        assert m["accuracy"]["value"] == pytest.approx(
            accuracy_score(day["truth"], day["predicted"])
        )
        assert m["f1"]["value"] == pytest.approx(f1_score(day["truth"], day["predicted"]))
        assert m["roc_auc"]["value"] == pytest.approx(roc_auc_score(day["truth"], day["p1"]))
        assert m["accuracy"]["training"] == 0.9 and m["accuracy"]["training_name"] == "val_accuracy"
        assert m["accuracy"]["change"] == pytest.approx(m["accuracy"]["value"] - 0.9)
        assert window.main == "accuracy"
    assert [w.verdict for w in run.windows] == ["ok", "worse"]
    with get_store().db.read() as conn:
        stored = _queries.windows(conn, "churn", kind="quality")
    assert [(w.start_ms, w.verdict, w.rows) for w in stored] == [
        (T0, "ok", 120),
        (T0 + DAY, "worse", 80),
    ]
    assert stored[1].score == pytest.approx(run.windows[1].score)
    assert stored[1].result["metrics"]["roc_auc"]["training"] == 0.95


def test_a_second_labelling_replaces_the_window(classifier: dict[str, Any]) -> None:
    """Labels given again for the same window replace its stored result, not add to it."""
    days = classifier["days"]
    record_labels("churn", _labels(days[:1]).head(50), id_column="rid", label_column="y")
    record_labels("churn", _labels(days[:1]), id_column="rid", label_column="y")
    with get_store().db.read() as conn:
        stored = _queries.windows(conn, "churn", kind="quality")
    assert [w.rows for w in stored] == [120]


def test_regressor_mae_and_rmse_against_training(store: Store, quiet_capture: None) -> None:
    """Fractional targets are a regression: MAE and RMSE per window against the training
    run's (the RMSE from its logged MSE), 'worse' beyond 10 % more error."""
    from sklearn.dummy import DummyRegressor

    _register("price", {"test_mse": 1.0, "mae": 0.8}, DummyRegressor().fit([[0], [1]], [0.5, 2.5]))
    rng = np.random.default_rng(3)
    truth = rng.normal(10, 3, 60)
    predicted = truth + rng.normal(0, 1.0, 60)
    ids = _log("price", predicted.tolist(), start_ms=T0)
    labels = pd.DataFrame({"request_id": ids, "label": truth})
    run = record_labels("price", labels, window="1h")
    assert run.task == "regression" and len(run.windows) == 1
    window = run.windows[0]
    error = predicted - truth
    assert window.metrics["mae"]["value"] == pytest.approx(np.mean(np.abs(error)))
    assert window.metrics["rmse"]["value"] == pytest.approx(np.sqrt(np.mean(error**2)))
    assert window.metrics["rmse"]["training"] == 1.0
    assert window.metrics["rmse"]["training_name"] == "sqrt(test_mse)"
    assert window.main == "rmse"
    expected = "worse" if window.metrics["rmse"]["value"] > 1.1 else "ok"
    assert window.verdict == expected


def test_a_batch_scoring_output_is_measured_without_a_join(classifier: dict[str, Any]) -> None:
    """A table holding the label beside ``prediction`` (cairn predict's output) is measured
    as it is: one window when it has no time column, against the latest version."""
    day = classifier["days"][0]
    scored = pd.DataFrame(
        {
            "x": range(120),
            "prediction": day["predicted"],
            "proba_0": 1 - day["p1"],
            "proba_1": day["p1"],
            "churned": day["truth"],
        }
    )
    run = record_labels("churn", scored, label_column="churned")
    assert not run.joined and run.matched == 120 and len(run.windows) == 1
    window = run.windows[0]
    assert window.version == 1
    assert window.metrics["roc_auc"]["value"] == pytest.approx(
        roc_auc_score(day["truth"], day["p1"])
    )
    assert any("no _ts column" in note for note in run.notes)


def test_a_logged_frame_with_labels_is_windowed_by_its_time(classifier: dict[str, Any]) -> None:
    """A frame read from the log (``_prediction``, ``_ts``) with a label column added is
    windowed by ``_ts``."""
    log = cairn.serving.read_prediction_log("churn")
    truth = {
        i: int(v) for d in classifier["days"] for i, v in zip(d["ids"], d["truth"], strict=True)
    }
    log["y"] = log["_request_id"].map(truth)
    run = record_labels("churn", log, label_column="y")
    assert [w.rows for w in run.windows] == [120, 80]


def test_labels_matching_no_prediction_are_a_clear_finding(classifier: dict[str, Any]) -> None:
    """Ids that match no logged request: 0 of N, examples of both sides, nothing stored."""
    labels = pd.DataFrame({"request_id": [f"zz{i}" for i in range(40)], "label": [1] * 40})
    with pytest.raises(InvalidInputError) as caught:
        record_labels("churn", labels)
    message = str(caught.value)
    assert "0 of 40 labels matched" in message and "'zz0'" in message
    assert "look like 'd0-0'" in message
    with get_store().db.read() as conn:
        assert _queries.windows(conn, "churn", kind="quality") == []


def test_partly_matching_labels_report_the_unmatched(classifier: dict[str, Any]) -> None:
    """Labels of which some match count those, and say how many matched none, with examples."""
    labels = _labels(classifier["days"][:1])
    extra = pd.DataFrame({"rid": ["nope-1", "nope-2"], "y": [0, 1]})
    run = record_labels("churn", pd.concat([labels, extra]), id_column="rid", label_column="y")
    assert run.matched == 120 and run.unmatched == 2
    assert run.unmatched_examples == ["nope-1", "nope-2"]
    assert "120 of 122 labels matched" in run.summary() and "'nope-1'" in run.summary()


def test_missing_columns_name_the_columns_there_are(classifier: dict[str, Any]) -> None:
    """A missing id or label column is refused, listing the columns the labels have."""
    labels = _labels(classifier["days"])
    with pytest.raises(InvalidInputError, match=r"no column 'label'; their columns: 'rid', 'y'"):
        record_labels("churn", labels, id_column="rid")
    with pytest.raises(InvalidInputError, match=r"no column 'request_id'.*'rid', 'y'"):
        record_labels("churn", labels, label_column="y")


def test_duplicate_ids_same_label_once_different_refused(classifier: dict[str, Any]) -> None:
    """An id given twice with the same label counts once; with two labels it is refused."""
    labels = _labels(classifier["days"][:1])
    run = record_labels(
        "churn", pd.concat([labels, labels.head(5)]), id_column="rid", label_column="y"
    )
    assert run.matched == 120 and run.skipped["repeated (same id and label)"] == 5
    flipped = labels.head(3).assign(y=lambda f: 1 - f["y"])
    with pytest.raises(InvalidInputError, match="3 request ids have different labels"):
        record_labels("churn", pd.concat([labels, flipped]), id_column="rid", label_column="y")


def test_missing_labels_are_left_out_and_counted(classifier: dict[str, Any]) -> None:
    """NaN labels are left out (counted), never measured; all-NaN labels are refused."""
    labels = _labels(classifier["days"][:1]).astype({"y": float})
    labels.loc[:9, "y"] = np.nan
    run = record_labels("churn", labels, id_column="rid", label_column="y")
    assert run.matched == 110 and run.skipped["without a label"] == 10
    assert run.task == "classification"  # 0.0/1.0 with gaps are still two classes
    labels["y"] = np.nan
    with pytest.raises(InvalidInputError, match="none of the 120 labels has both"):
        record_labels("churn", labels, id_column="rid", label_column="y")


def test_a_model_without_a_log_or_version(classifier: dict[str, Any]) -> None:
    """No log, or no predictions of the version named: NotFoundError saying what to do."""
    labels = _labels(classifier["days"])
    with pytest.raises(NotFoundError, match="'ghost' has no prediction log"):
        record_labels("ghost", labels, id_column="rid", label_column="y")
    with pytest.raises(NotFoundError):
        record_labels("churn/7", labels, id_column="rid", label_column="y")


def test_few_labels_give_metrics_but_no_verdict(classifier: dict[str, Any]) -> None:
    """Under 30 labelled rows the window reads 'not enough data'."""
    labels = _labels(classifier["days"][:1]).head(12)
    run = record_labels("churn", labels, id_column="rid", label_column="y")
    assert run.windows[0].rows == 12 and run.windows[0].verdict == "not enough data"


def test_multiclass_f1_is_macro(store: Store, quiet_capture: None) -> None:
    """Three text classes: macro F1 (said so) equal to scikit-learn's, no training metric."""
    from sklearn.dummy import DummyClassifier

    _register("kind", {"loss": 0.3}, DummyClassifier().fit([[0], [1]], ["a", "b"]))
    rng = np.random.default_rng(5)
    truth = rng.choice(["a", "b", "c"], 90)
    predicted = np.where(rng.random(90) < 0.2, rng.choice(["a", "b", "c"], 90), truth)
    ids = _log("kind", predicted.tolist(), start_ms=T0)
    run = record_labels("kind", pd.DataFrame({"request_id": ids, "label": truth}))
    assert run.f1_average == "macro over 3 classes"
    f1 = run.windows[0].metrics["f1"]["value"]
    assert f1 == pytest.approx(f1_score(truth, predicted, average="macro"))
    assert run.windows[0].verdict == "no training metric"
    assert any("logged none of accuracy" in note for note in run.notes)


def test_cli_prints_windows_and_summary(
    capsys: pytest.CaptureFixture[str], classifier: dict[str, Any], project: Path
) -> None:
    """`cairn monitor labels` prints each window and how many labels matched; bad input
    is one error line, no traceback."""
    path = project / "labels.csv"
    _labels(classifier["days"]).to_csv(path, index=False)
    code, out, _ = cli(
        capsys, "monitor", "labels", "churn", str(path), "--id-column", "rid", "--label-column", "y"
    )
    assert code == 0, out
    lines = out.splitlines()
    assert any(line.startswith("2026-") and "120 rows" in line and " ok" in line for line in lines)
    assert any("80 rows" in line and "WORSE" in line for line in lines)
    assert "accuracy" in out and "(training 0.9)" in out
    assert "200 of 200 labels matched" in out
    code, out, err = cli(capsys, "monitor", "labels", "churn", str(path))
    assert code == 1 and "no column 'label'" in err and "Traceback" not in err


def test_labels_join_a_log_written_by_the_server(
    store: Store, quiet_capture: None, project: Path
) -> None:
    """Requests answered by the in-process server, each with its X-Request-ID, join a Parquet
    labels file; a request of two rows under one id is left out (a label cannot say which)."""
    import asyncio

    import httpx
    from sklearn.linear_model import LogisticRegression

    from cairn.serving import ModelSpec, create_app

    rng = np.random.default_rng(11)
    x = pd.DataFrame({"f0": rng.normal(0, 1, 200), "f1": rng.normal(0, 1, 200)})
    y = (x["f0"] + 0.5 * x["f1"] > 0).astype(int)
    with cairn.run():
        cairn.log({"test_acc": 0.97})
        cairn.log_model(LogisticRegression().fit(x, y), "clf", input_example=x.head(2))
    served = pd.DataFrame({"f0": rng.normal(0, 1, 40), "f1": rng.normal(0, 1, 40)})

    async def scenario() -> None:
        app = create_app([ModelSpec("clf", "models:/clf/1")])
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://cairn") as c:
                for i, row in enumerate(served.to_dict("records")):
                    body = {"inputs": [row], "probabilities": True}
                    answer = await c.post("/predict", json=body, headers={"X-Request-ID": f"q{i}"})
                    assert answer.status_code == 200, answer.text
                two = {"inputs": served.head(2).to_dict("records")}
                answer = await c.post("/predict", json=two, headers={"X-Request-ID": "pair"})
                assert answer.status_code == 200

    asyncio.run(scenario())
    truth = (served["f0"] + 0.5 * served["f1"] > 0).astype(int)
    labels = pd.DataFrame({"request_id": [f"q{i}" for i in range(40)] + ["pair"]})
    labels["label"] = [*truth.tolist(), 1]
    path = project / "labels.parquet"
    labels.to_parquet(path, index=False)
    run = record_labels("clf", str(path))
    assert run.matched == 40 and run.skipped["of multi-row requests"] == 1
    assert any("request of several rows" in note for note in run.notes)
    window = run.windows[0]
    logged = cairn.serving.read_prediction_log("clf").set_index("_request_id")
    ids = [f"q{i}" for i in range(40)]
    predicted = logged.loc[ids, "_prediction"].astype(int).to_numpy()
    p1 = logged.loc[ids, "_proba_1"].to_numpy()
    assert window.metrics["accuracy"]["value"] == pytest.approx(accuracy_score(truth, predicted))
    assert window.metrics["roc_auc"]["value"] == pytest.approx(roc_auc_score(truth, p1))
    assert window.metrics["accuracy"]["training_name"] == "test_acc"


def test_training_metrics_are_found_under_their_usual_names() -> None:
    """Held-out values are matched by alias and split prefix (test before val before none);
    training-set values are never used."""
    from cairn.monitoring._quality_metrics import training_values

    found = training_values(
        {"train_acc": 0.99, "Val_Accuracy": 0.91, "test/acc": 0.9, "AUC": 0.8, "val_f1_score": 0.7},
        "classification",
    )
    assert found == {
        "accuracy": ("test/acc", 0.9),
        "f1": ("val_f1_score", 0.7),
        "roc_auc": ("AUC", 0.8),
    }
    assert training_values({"train_accuracy": 0.99}, "classification")["accuracy"] is None
    regression = training_values({"val_root_mean_squared_error": 2.0, "val_mae": 1.0}, "regression")
    assert regression == {"rmse": ("val_root_mean_squared_error", 2.0), "mae": ("val_mae", 1.0)}


@pytest.mark.parametrize(
    ("labels", "predictions", "proba", "task"),
    [
        ([0, 1, 1], [1, 1, 0], False, "classification"),
        (["a", "b"], ["a", "a"], False, "classification"),
        ([0.5, 1.25], [0.4, 1.0], False, "regression"),
        (list(range(50)), list(range(50)), False, "regression"),  # counts, not classes
        ([1.0, 0.0], [1.0, 1.0], False, "classification"),  # whole floats, two values
        (list(range(50)), list(range(50)), True, "classification"),  # probabilities logged
    ],
)
def test_the_task_is_told_from_the_values(
    labels: list[Any], predictions: list[Any], proba: bool, task: str
) -> None:
    """Text, few whole values or probabilities: a classifier; fractions or many values: a
    regressor."""
    from cairn.monitoring._quality_metrics import guess_task

    assert guess_task(np.array(labels), np.array(predictions), proba)[0] == task


def test_regression_errors_beyond_ten_percent_are_worse(store: Store, quiet_capture: None) -> None:
    """An RMSE 50 % above the training run's is 'worse'; infinite labels are left out."""
    from sklearn.dummy import DummyRegressor

    _register("load", {"rmse": 1.0}, DummyRegressor().fit([[0], [1]], [0.5, 2.5]))
    truth = np.linspace(0, 10, 40)
    predicted = truth + np.where(np.arange(40) % 2 == 0, 1.5, -1.5)  # RMSE 1.5
    ids = _log("load", predicted.tolist(), start_ms=T0)
    labels = pd.DataFrame({"request_id": ids, "label": truth})
    labels.loc[0, "label"] = np.inf
    run = record_labels("load", labels)
    window = run.windows[0]
    assert window.rows == 39 and run.skipped["not a finite number"] == 1
    assert window.metrics["rmse"]["value"] == pytest.approx(1.5)
    assert window.metrics["rmse"]["relative_change"] == pytest.approx(0.5)
    assert window.verdict == "worse"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"model": None},
        {"model": "churn\x00"},
        {"model": "runs:/abc/model"},
        {"labels": 5},
        {"labels": "missing.csv"},
        {"window": "abc"},
        {"id_column": None},
        {"task": "clustering"},
    ],
    ids=["model-none", "model-nul", "run-uri", "labels-int", "no-file", "window", "id", "task"],
)
def test_hostile_arguments_are_refused_cleanly(
    classifier: dict[str, Any], kwargs: dict[str, Any]
) -> None:
    """Each bad argument gives an InvalidInputError saying what is wrong, and stores nothing."""
    call = {"model": "churn", "labels": _labels(classifier["days"]), "id_column": "rid"}
    call["label_column"] = "y"
    with pytest.raises(InvalidInputError):
        record_labels(**(call | kwargs))
    with get_store().db.read() as conn:
        assert _queries.windows(conn, "churn", kind="quality") == []


def test_versions_fallback_rows_and_row_windows(store: Store, quiet_capture: None) -> None:
    """Each version is measured against its own training run; ``name/2`` keeps version 2's
    rows only; rows the fallback answered are left out; a row count makes row windows."""
    from sklearn.dummy import DummyClassifier

    model = DummyClassifier().fit([[0], [1]], [0, 1])
    _register("ab", {"accuracy": 0.6}, model)
    _register("ab", {"accuracy": 0.95}, model)
    first = _log("ab", [1] * 40, start_ms=T0, prefix="a", version=1)
    second = _log("ab", [1] * 40, start_ms=T0 + 60_000, prefix="b", version=2)
    log = PredictionLog()
    log.start()
    assert log.append(LoggedBatch("ab", 2, [{"x": 0.0}], [0], ["fb"], [True], ts_ms=T0))
    log.close()
    labels = pd.DataFrame({"request_id": [*first, *second, "fb"], "label": [1] * 60 + [0] * 21})
    run = record_labels("ab", labels)
    assert [(w.version, w.rows) for w in run.windows] == [(1, 40), (2, 40)]
    assert [w.metrics["accuracy"]["training"] for w in run.windows] == [0.6, 0.95]
    assert [w.verdict for w in run.windows] == ["ok", "worse"]  # 1.0 vs 0.6; 0.5 vs 0.95
    assert run.skipped["answered by the fallback model"] == 1
    only = record_labels("ab/2", labels, window="25")
    assert [(w.version, w.rows) for w in only.windows] == [(2, 25), (2, 15)]
    assert only.unmatched == 40  # version 1's ids are not among version 2's predictions


def test_a_model_served_from_a_folder_has_no_training_metric(store: Store) -> None:
    """Predictions logged without a version (a model served from a folder) are measured as
    version 0, with no training metric to compare."""
    log = PredictionLog()
    log.start()
    ids = [f"f{i}" for i in range(40)]
    batch = LoggedBatch("folder-model", None, [{"x": 0.0}] * 40, [1] * 40, ids, [False] * 40)
    assert log.append(batch)
    log.close()
    run = record_labels("folder-model", pd.DataFrame({"request_id": ids, "label": [1] * 40}))
    assert [(w.version, w.verdict) for w in run.windows] == [(0, "no training metric")]
    assert any("unregistered model" in note for note in run.notes)


def test_labels_as_polars_or_arrow(classifier: dict[str, Any]) -> None:
    """A polars DataFrame or an Arrow table of labels joins like a pandas one."""
    import polars as pl
    import pyarrow as pa

    labels = _labels(classifier["days"])
    for given in (pl.from_pandas(labels), pa.Table.from_pandas(labels)):
        run = record_labels("churn", given, id_column="rid", label_column="y")
        assert run.matched == 200 and [w.rows for w in run.windows] == [120, 80]


def test_hashed_request_ids_are_named_as_the_reason(store: Store) -> None:
    """A log whose request ids the server stored as keyed hashes joins nothing, and says so."""
    log = PredictionLog(redact={"_request_id": "hash"})
    log.start()
    ids = [f"h{i}" for i in range(5)]
    assert log.append(LoggedBatch("hashed", 1, [{"x": 0.0}] * 5, [1] * 5, ids, [False] * 5))
    log.close()
    with pytest.raises(InvalidInputError, match="keyed hashes"):
        record_labels("hashed", pd.DataFrame({"request_id": ids, "label": [1] * 5}))
