"""TensorBoard: the scalars written through torch's or tensorboardX's ``SummaryWriter`` are
mirrored as metrics with their tags and steps, in the active run or a run the writer starts
and ends, without ever raising into the writing loop."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import cairn
from cairn.core.settings import configure
from cairn.integrations import failures
from cairn.tracking import find_runs

pytest.importorskip("torch.utils.tensorboard")

WRITERS = ["torch.utils.tensorboard", "tensorboardX"]


@pytest.fixture(params=WRITERS)
def writer_class(request: pytest.FixtureRequest) -> Any:
    """torch's SummaryWriter, then tensorboardX's."""
    return pytest.importorskip(request.param).SummaryWriter


@pytest.fixture
def autolog(quiet_capture: None) -> Iterator[None]:
    """The TensorBoard mirror on for the test, put back after it."""
    cairn.autolog(frameworks=["tensorboard"])
    yield
    cairn.autolog(frameworks=["tensorboard"], disable=True)


def _history(run_id: str) -> dict[str, list[tuple[int, float]]]:
    record = cairn.get_run(run_id)
    return {
        k: [(p.step, p.value) for p in v]
        for k, v in record.metric_history.items()
        if not k.startswith("system/")
    }


def _write(writer_class: Any, folder: Path) -> dict[str, list[tuple[int, float]]]:
    """Write scalars of every kind the mirror takes; return what was written, by metric."""
    import torch

    written: dict[str, list[tuple[int, float]]] = {}
    with writer_class(str(folder)) as writer:
        for step in range(0, 10, 2):
            values = (float(step) / 3, np.float32(step) * 2, torch.tensor(step / 7))
            for tag, value in zip(("loss/plain", "loss/numpy", "loss/tensor"), values, strict=True):
                writer.add_scalar(tag, value, step)
                written.setdefault(tag, []).append((step, float(value)))
            writer.add_scalars("lr", {"a": step * 0.5, "b": np.float64(step)}, step)
            written.setdefault("lr/a", []).append((step, step * 0.5))
            written.setdefault("lr/b", []).append((step, float(step)))
        for value in (0.5, 0.25, 0.125):
            writer.add_scalar("no_step", value)
        written["no_step"] = [(0, 0.5), (1, 0.25), (2, 0.125)]
    return written


def test_scalars_are_mirrored_in_the_active_run(
    store_url: str, autolog: None, writer_class: Any, tmp_path: Path
) -> None:
    """Each scalar (float, NumPy, tensor; add_scalar and add_scalars) is a metric point with
    the tag and step written (a per-tag count without a step), in the active run."""
    configure(store=store_url)
    with cairn.run() as run:
        written = _write(writer_class, tmp_path / "tb")
        assert run.is_active  # closing the writer leaves a run it did not start
    history = _history(run.id)
    assert history.keys() == written.keys()
    for key, points in written.items():
        assert [s for s, _ in history[key]] == [s for s, _ in points], key
        assert [v for _, v in history[key]] == pytest.approx([v for _, v in points]), key


def test_a_writer_without_a_run_starts_one_and_ends_it(
    autolog: None, writer_class: Any, tmp_path: Path
) -> None:
    """With no active run, the first scalar starts a run, which the writer's close ends."""
    writer = writer_class(str(tmp_path / "tb"))
    writer.add_scalar("loss", 1.0, 3)
    writer.add_scalar("loss", 0.5, 4)
    (running,) = find_runs()
    assert running.status == "running"
    writer.close()
    assert cairn.active_run() is None
    record = cairn.get_run(running.id)
    assert record.status == "finished"
    assert record.tags["cairn.autolog"] == "tensorboard"
    assert _history(record.id) == {"loss": [(3, 1.0), (4, 0.5)]}


def test_a_cairn_failure_never_reaches_the_loop(
    autolog: None, writer_class: Any, tmp_path: Path
) -> None:
    """A scalar cairn cannot record (a tag too long for a metric name) is counted, not raised;
    the other scalars are still mirrored."""
    before = failures().get("tensorboard", 0)
    with cairn.run() as run, writer_class(str(tmp_path / "tb")) as writer:
        writer.add_scalar("x" * 600, 1.0, 0)
        writer.add_scalar("loss", 2.0, 0)
    assert failures()["tensorboard"] == before + 1
    assert _history(run.id) == {"loss": [(0, 2.0)]}


def test_autolog_off_mirrors_nothing(
    quiet_capture: None, writer_class: Any, tmp_path: Path
) -> None:
    """After autolog is disabled, scalars are written to TensorBoard only."""
    cairn.autolog(frameworks=["tensorboard"])
    cairn.autolog(frameworks=["tensorboard"], disable=True)
    with writer_class(str(tmp_path / "tb")) as writer:
        writer.add_scalar("loss", 1.0, 0)
    assert find_runs() == []
