"""PyTorch Lightning: ``CairnLogger`` records hyperparams, every ``self.log`` metric at
Lightning's steps and the checkpoints; under autolog a fit logs through it, each point once even
with the TensorBoard mirror on, and cairn's failures never stop a fit."""

from __future__ import annotations

import csv
import subprocess
import sys
from argparse import Namespace
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import cairn
from cairn.core.settings import configure
from cairn.integrations import failures
from cairn.integrations.lightning import flat_params, logger_class
from cairn.tracking import find_runs
from tests.records import own_artifacts

pl = pytest.importorskip("pytorch_lightning")
torch = pytest.importorskip("torch")

# Lightning's own chatter about a tiny CPU fit, and a deprecation inside its pytree helper.
QUIET = [
    pytest.mark.filterwarnings("ignore:The '(train|val)_dataloader' does not have many workers"),
    pytest.mark.filterwarnings("ignore:`isinstance\\(treespec, LeafSpec\\)` is deprecated"),
]
pytestmark = QUIET


class TinyModule(pl.LightningModule):  # type: ignore[misc]
    """A linear regression that logs its losses with ``self.log``."""

    def __init__(self, lr: float = 0.1, optim: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.layer = torch.nn.Linear(3, 1)
        self.example_input_array = torch.zeros(2, 3)

    def forward(self, x: Any) -> Any:
        return self.layer(x)

    def training_step(self, batch: Any, index: int) -> Any:
        x, y = batch
        loss = torch.nn.functional.mse_loss(self(x), y)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch: Any, index: int) -> None:
        x, y = batch
        self.log("val_loss", torch.nn.functional.mse_loss(self(x), y))

    def configure_optimizers(self) -> Any:
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)


def _loader() -> Any:
    generator = torch.Generator().manual_seed(0)
    x, y = torch.randn(64, 3, generator=generator), torch.randn(64, 1, generator=generator)
    return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=16)


def _trainer(root: Path, **kwargs: Any) -> Any:
    return pl.Trainer(
        max_epochs=2,
        enable_progress_bar=False,
        enable_model_summary=False,
        log_every_n_steps=1,
        default_root_dir=root,
        **kwargs,
    )


def _history(run_id: str) -> dict[str, list[tuple[int, float]]]:
    record = cairn.get_run(run_id)
    return {
        k: [(p.step, p.value) for p in v]
        for k, v in record.metric_history.items()
        if not k.startswith("system/")
    }


def _csv_points(folder: str) -> dict[str, list[tuple[int, float]]]:
    points: dict[str, list[tuple[int, float]]] = {}
    with open(Path(folder) / "metrics.csv") as file:
        for row in csv.DictReader(file):
            for key, value in row.items():
                if key != "step" and value:
                    points.setdefault(key, []).append((int(row["step"]), float(value)))
    return points


@pytest.fixture
def autolog(quiet_capture: None) -> Iterator[None]:
    """Lightning and the TensorBoard mirror autologged for the test, put back after it."""
    cairn.autolog(frameworks=["lightning", "tensorboard"])
    yield
    cairn.autolog(frameworks=["lightning", "tensorboard"], disable=True)


def test_logger_records_what_lightning_logs(
    store_url: str, quiet_capture: None, tmp_path: Path
) -> None:
    """CairnLogger records the hparams, each metric point at Lightning's step (as a CSVLogger
    beside it does), and the checkpoints with the best one tagged, in a run it ends."""
    configure(store=store_url)
    before = failures().get("lightning", 0)
    logger = logger_class()()
    beside = pl.loggers.CSVLogger(tmp_path / "csv")
    module = TinyModule(optim={"name": "sgd", "betas": [0.9, 0.99]})
    _trainer(tmp_path, logger=[logger, beside]).fit(module, _loader(), _loader())

    record = cairn.get_run(logger.version)
    assert record.status == "finished"
    assert record.params == {"lr": 0.1, "optim.name": "sgd", "optim.betas": "[0.9, 0.99]"}
    history = _history(record.id)
    expected = _csv_points(beside.log_dir)
    assert {k: sorted(v) for k, v in history.items()} == {k: sorted(v) for k, v in expected.items()}
    assert [step for step, _ in history["train_loss"]] == list(range(8))
    checkpoints = sorted(p for p in own_artifacts(record) if p.startswith("checkpoints/"))
    assert checkpoints == ["checkpoints/epoch=0-step=4.ckpt", "checkpoints/epoch=1-step=8.ckpt"]
    assert record.tags["cairn.lightning.best_checkpoint"] == "checkpoints/epoch=1-step=8.ckpt"
    assert failures().get("lightning", 0) == before


def test_logger_logs_to_the_active_run(quiet_capture: None, tmp_path: Path) -> None:
    """A CairnLogger without a run logs to the run active at fit start and leaves it running;
    fitting again after that run ended, it logs to a run of its own."""
    with cairn.run() as run:
        logger = logger_class()(log_checkpoints=False)
        _trainer(tmp_path, logger=logger).fit(TinyModule(), _loader(), _loader())
        assert logger.version == run.id
        assert run.is_active
    record = cairn.get_run(run.id)
    assert len(record.metric_history["train_loss"]) == 8
    assert not [p for p in own_artifacts(record) if p.startswith("checkpoints/")]

    _trainer(tmp_path, logger=logger).fit(TinyModule(), _loader(), _loader())
    assert logger.version != run.id  # its run ended: the next fit logs to a run of its own
    again = cairn.get_run(logger.version)
    assert again.status == "finished"
    assert len(again.metric_history["train_loss"]) == 8


def test_cairn_failure_never_stops_a_fit(quiet_capture: None, tmp_path: Path) -> None:
    """A run cairn cannot log to (ended before the fit) is reported and counted; the fit ends."""
    ended = cairn.start_run()
    ended.end()
    before = failures().get("lightning", 0)
    trainer = _trainer(tmp_path, logger=logger_class()(run=ended))
    trainer.fit(TinyModule(), _loader(), _loader())
    assert trainer.state.finished
    assert failures()["lightning"] > before


def test_autolog_fit_logs_each_point_once(autolog: None, tmp_path: Path) -> None:
    """Under autolog a fit with Lightning's default (TensorBoard) logger logs to a run of its
    own: hparams, trainer settings, each metric point once, checkpoints and the model."""
    before = failures().get("lightning", 0)
    trainer = _trainer(tmp_path)
    trainer.fit(TinyModule(), _loader(), _loader())

    assert [type(lg).__name__ for lg in trainer.loggers] == ["TensorBoardLogger"]
    runs = find_runs()
    assert len(runs) == 1
    record = cairn.get_run(runs[0].id)
    assert record.status == "finished"
    assert record.tags["cairn.autolog"] == "lightning"
    assert record.params["lr"] == 0.1
    assert record.params["trainer.max_epochs"] == 2
    history = _history(record.id)
    assert "hp_metric" not in history  # TensorBoard's own point, not mirrored during the fit
    for key in ("train_loss", "val_loss"):
        steps = [step for step, _ in history[key]]
        assert len(steps) == len(set(steps)), key
    assert [step for step, _ in history["train_loss"]] == list(range(8))
    assert history["val_loss"][-1][1] == pytest.approx(float(trainer.logged_metrics["val_loss"]))
    artifacts = own_artifacts(record)
    assert "checkpoints/epoch=1-step=8.ckpt" in artifacts
    predictions = cairn.load_model(f"runs:/{record.id}/model").predict([[1.0, 2.0, 3.0]])
    assert predictions.shape == (1, 1)
    assert failures().get("lightning", 0) == before


def test_autolog_keeps_a_logger_given(autolog: None, tmp_path: Path) -> None:
    """Under autolog a trainer that has a CairnLogger gets no second one; it logs to the
    fit's run."""
    logger = logger_class()(log_checkpoints=False)
    trainer = _trainer(tmp_path, logger=logger)
    trainer.fit(TinyModule(), _loader(), _loader())
    assert trainer.loggers == [logger]
    (run,) = find_runs()
    assert logger.version == run.id
    assert [s for s, _ in _history(run.id)["train_loss"]] == list(range(8))


def test_autolog_with_logging_off_records_settings_only(autolog: None, tmp_path: Path) -> None:
    """Under autolog a fit with ``logger=False`` records hparams and trainer settings, and no
    metrics (Lightning logs none), and gets no logger."""
    trainer = _trainer(tmp_path, logger=False, enable_checkpointing=False)
    trainer.fit(TinyModule(lr=0.2), _loader(), _loader())
    assert trainer.loggers == []
    (run,) = find_runs()
    record = cairn.get_run(run.id)
    assert record.params["lr"] == 0.2
    assert record.params["trainer.max_epochs"] == 2
    assert _history(run.id) == {}


def test_autolog_off_logs_nothing(quiet_capture: None, tmp_path: Path) -> None:
    """After autolog is disabled, a fit logs no run."""
    cairn.autolog(frameworks=["lightning"])
    cairn.autolog(frameworks=["lightning"], disable=True)
    _trainer(tmp_path, logger=False, enable_checkpointing=False).fit(
        TinyModule(), _loader(), _loader()
    )
    assert find_runs() == []


def test_flat_params_flattens_namespaces_and_mappings() -> None:
    """Hyperparams become dotted keys; leaves that are no mapping stay as they are."""
    params = Namespace(lr=0.1, net=Namespace(width=8), opt={"betas": (0.9, 0.99), "x": {}})
    assert flat_params(params) == {
        "lr": 0.1,
        "net.width": 8,
        "opt.betas": (0.9, 0.99),
        "opt.x": {},
    }


def test_importing_the_module_does_not_import_lightning() -> None:
    """Importing the integration (as autolog and ``import cairn`` do) leaves Lightning out."""
    code = (
        "import sys, cairn.integrations.lightning\n"
        "assert 'pytorch_lightning' not in sys.modules and 'torch' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
