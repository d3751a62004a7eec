"""Hugging Face Transformers: the Trainer's arguments, logs and final model, recorded."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

transformers = pytest.importorskip("transformers")
torch = pytest.importorskip("torch")

import cairn  # noqa: E402
from cairn.integrations import failures  # noqa: E402
from cairn.integrations._training import number  # noqa: E402
from cairn.integrations.transformers import callback_class  # noqa: E402

pytestmark = pytest.mark.usefixtures("quiet_capture", "offline", "one_thread")


@pytest.fixture
def one_thread() -> Iterator[None]:
    """PyTorch on one thread: a tiny model trains several times faster on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing is fetched from the Hugging Face Hub."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture
def autolog() -> Iterator[None]:
    """Autologging on for the test, off after it."""
    cairn.autolog()
    yield
    cairn.autolog(disable=True)


class Rows(torch.utils.data.Dataset):  # type: ignore[misc]
    """Sixteen tokenized rows with labels."""

    def __init__(self) -> None:
        generator = torch.Generator().manual_seed(0)
        self.ids = torch.randint(1, 50, (16, 8), generator=generator)
        self.labels = torch.randint(0, 2, (16,), generator=generator)

    def __len__(self) -> int:
        return 16

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {
            "input_ids": self.ids[index],
            "attention_mask": torch.ones(8, dtype=torch.long),
            "labels": self.labels[index],
        }


def tiny_model() -> Any:
    config = transformers.BertConfig(
        vocab_size=50,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
    )
    torch.manual_seed(0)
    return transformers.BertForSequenceClassification(config)


def trainer_for(output: Path, model: Any = None, **options: Any) -> Any:
    callbacks = options.pop("callbacks", None)
    args = transformers.TrainingArguments(
        output_dir=str(output),
        max_steps=4,
        logging_steps=1,
        per_device_train_batch_size=4,
        save_strategy="no",
        use_cpu=True,
        disable_tqdm=True,
        **{"report_to": [], **options},
    )
    return transformers.Trainer(
        model=model if model is not None else tiny_model(),
        args=args,
        train_dataset=Rows(),
        callbacks=callbacks,
    )


def cairn_callbacks(trainer: Any) -> list[Any]:
    return [c for c in trainer.callback_handler.callbacks if isinstance(c, callback_class())]


def assert_logged_as_reported(trainer: Any, run_id: str, tmp_path: Path) -> None:
    """The run holds the Trainer's logs, arguments, config and model folder."""
    record = cairn.get_run(run_id)
    history = trainer.state.log_history
    assert len(history) == 5  # four steps and the final train_* figures
    for entry in history:
        for key, value in entry.items():
            if key == "step" or number(value) is None:
                continue
            points = [(p.step, p.value) for p in record.metric_history[key]]
            assert (entry["step"], pytest.approx(value, rel=1e-6)) in points, key
    assert record.params["learning_rate"] == trainer.args.learning_rate
    assert record.params["max_steps"] == 4
    assert record.params["per_device_train_batch_size"] == 4
    assert record.params["model_config.hidden_size"] == 16
    assert record.tags["transformers.model_class"] == "BertForSequenceClassification"
    assert record.tags["transformers.output_dir"] == trainer.args.output_dir
    stored = {a.path for a in record.artifacts}
    assert {"model/config.json", "model/model.safetensors"} <= stored
    folder = cairn.download_artifacts(run_id, "model", tmp_path / "download")
    loaded = transformers.BertForSequenceClassification.from_pretrained(str(folder))
    for name, tensor in trainer.model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor), name


def test_autolog_records_what_the_trainer_reports(
    store_url: str, autolog: None, tmp_path: Path
) -> None:
    """Under autolog a Trainer.train logs its metrics, arguments and final model to one run."""
    cairn.configure(store=store_url)
    trainer = trainer_for(tmp_path / "out")
    trainer.train()
    (callback,) = cairn_callbacks(trainer)
    run_id = callback._training.run.id
    assert cairn.get_run(run_id).status == "finished"
    assert cairn.get_run(run_id).tags["cairn.autolog"] == "transformers"
    assert_logged_as_reported(trainer, run_id, tmp_path)


def test_report_to_cairn_without_autolog(tmp_path: Path) -> None:
    """``report_to="cairn"`` logs the same things to a run of its own, ended with training."""
    from cairn.integrations.transformers import CairnCallback  # registers the name

    assert transformers.integrations.INTEGRATION_TO_CALLBACK["cairn"] is CairnCallback
    trainer = trainer_for(tmp_path / "out", report_to="cairn")
    trainer.train()
    (callback,) = cairn_callbacks(trainer)
    run_id = callback._training.run.id
    assert cairn.get_run(run_id).status == "finished"
    assert cairn.active_run() is None
    assert_logged_as_reported(trainer, run_id, tmp_path)


def test_callback_by_hand_logs_to_the_active_run(tmp_path: Path) -> None:
    """``callbacks=[CairnCallback()]`` logs into the user's active run and leaves it open."""
    callback = callback_class()()
    with cairn.start_run() as run:
        trainer = trainer_for(tmp_path / "out", callbacks=[callback])
        trainer.train()
        assert run.is_active
        assert_logged_as_reported(trainer, run.id, tmp_path)
        reported = trainer.evaluate(Rows())  # after train: the run still open takes it
    record = cairn.get_run(run.id)
    assert record.status == "finished"
    assert record.metrics["eval_loss"] == pytest.approx(reported["eval_loss"])


def test_autolog_adds_one_callback_once(autolog: None, tmp_path: Path) -> None:
    """Autolog adds a single callback, not again on a second train, nor beside report_to's."""
    trainer = trainer_for(tmp_path / "out")
    trainer.train()
    trainer.train()
    assert len(cairn_callbacks(trainer)) == 1
    runs = cairn.tracking.find_runs()
    assert len(runs) == 2  # one run per train
    reported = trainer_for(tmp_path / "out2", report_to="cairn")
    reported.train()
    assert len(cairn_callbacks(reported)) == 1
    assert len(cairn.tracking.find_runs()) == 3


def test_a_failure_in_cairns_code_never_reaches_training(tmp_path: Path) -> None:
    """A model that cannot be saved is counted as cairn's failure; the training finishes."""

    class Unsavable(transformers.BertForSequenceClassification):  # type: ignore[misc]
        def save_pretrained(self, *args: Any, **kwargs: Any) -> None:
            raise OSError("disk full")

    before = failures().get("transformers", 0)
    model = Unsavable(tiny_model().config)
    trainer = trainer_for(tmp_path / "out", model=model, callbacks=[callback_class()()])
    trainer.train()
    assert trainer.state.global_step == 4
    assert failures()["transformers"] == before + 1
    (callback,) = cairn_callbacks(trainer)
    record = cairn.get_run(callback._training.run.id)
    assert record.status == "finished"
    assert record.tags["cairn.autolog.failures"] == "1"
    assert "train_loss" in record.metrics


class Broken(Rows):
    """Rows whose reading fails, as a training's own error."""

    def __getitem__(self, index: int) -> dict[str, Any]:
        raise ValueError("corrupt row")


def test_autolog_ends_a_failed_training_failed(autolog: None, tmp_path: Path) -> None:
    """Under autolog a train that raises propagates its error and ends its run failed."""
    trainer = trainer_for(tmp_path / "out")
    trainer.train_dataset = Broken()
    with pytest.raises(ValueError, match="corrupt row"):
        trainer.train()
    (record,) = cairn.tracking.find_runs()
    assert record.status == "failed"
    assert "corrupt row" in (record.error or "")
    assert cairn.active_run() is None


def test_by_hand_a_failed_run_ends_failed_at_the_next_train(tmp_path: Path) -> None:
    """By hand a train that raises leaves its run open; the callback's next train ends it
    failed and logs to a run of its own."""
    callback = callback_class()()
    trainer = trainer_for(tmp_path / "out", callbacks=[callback])
    trainer.train_dataset = Broken()
    with pytest.raises(ValueError, match="corrupt row"):
        trainer.train()
    first = callback._training.run.id
    assert cairn.get_run(first).status == "running"
    trainer.train_dataset = Rows()
    trainer.train()
    assert cairn.get_run(first).status == "failed"
    second = callback._training.run.id
    assert second != first
    assert cairn.get_run(second).status == "finished"
    assert cairn.active_run() is None


def test_autolog_off_logs_nothing(tmp_path: Path) -> None:
    """With autolog on then off, a Trainer.train records no run."""
    cairn.autolog()
    cairn.autolog(disable=True)
    trainer = trainer_for(tmp_path / "out")
    trainer.train()
    assert cairn_callbacks(trainer) == []
    assert len(cairn.tracking.find_runs()) == 0
