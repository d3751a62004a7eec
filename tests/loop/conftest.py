"""A small world for the loop's tests: the wine data in the catalog (training data and a
held-out set from a world where the instruments drifted), a suite, a training pipeline in the
project, and version 1 of model ``wine`` as the champion."""

from __future__ import annotations

import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import cairn
from cairn import pipelines, registry

MODEL = "wine"
RULE = "accuracy >= champion.accuracy and latency_p99_ms <= 1000"
#: A policy over the wine world: retrain on wine's new versions, validated, pinned, scored on
#: the drifted held-out data.
POLICY: dict[str, Any] = {
    "pipeline": "winepipe:training",
    "on_data": ["wine"],
    "dataset": "wine",
    "suite": "wine",
    "holdout": "wine-holdout",
    "target": "target",
    "require": RULE,
    "params": {"dataset": "{dataset_version}"},
    "executor": "inline",
}

PIPELINE = """
import cairn
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


@cairn.step
def load(dataset: str):
    return cairn.data.load(dataset)


@cairn.step
def train(df, C: float, scramble: bool):
    X, y = df.drop(columns="target"), df["target"]
    if scramble:  # a deliberately bad model: labels shuffled
        y = y.sample(frac=1.0, random_state=0).to_numpy()
    return make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=2000)).fit(X, y)


@cairn.step
def register(model, dataset: str):
    example = cairn.data.load(dataset).drop(columns="target").head(5)
    return cairn.log_model(model, "wine", input_example=example).version


@cairn.pipeline
def training(dataset: str = "wine", C: float = 1.0, scramble: bool = False):
    return register(train(load(dataset), C=C, scramble=scramble), dataset)
"""


def shifted(frame: Any) -> Any:
    """The same wines measured by drifted instruments."""
    out = frame.copy()
    out["alcohol"] = out["alcohol"] + 2.0
    out["proline"] = out["proline"] * 1.6
    out["color_intensity"] = out["color_intensity"] + 3.0
    return out


@dataclass
class Wine:
    """The loop's test world."""

    root: Path
    train: Any  # the original training rows
    holdout: Any  # held-out rows of the drifted world

    def add_version(self, frame: Any, name: str = "wine") -> str:
        """Add ``frame`` as the next version of dataset ``name``; its ref."""
        folder = self.root / "incoming" / f"{name}-{time.monotonic_ns()}"
        folder.mkdir(parents=True)
        frame.to_csv(folder / "data.csv", index=False)
        return cairn.data.add(folder, name).version.ref


def _frames() -> tuple[Any, Any]:
    from sklearn.datasets import load_wine
    from sklearn.model_selection import train_test_split

    df = load_wine(as_frame=True).frame.rename(
        columns={"od280/od315_of_diluted_wines": "od280_od315"}
    )
    train, holdout = train_test_split(df, test_size=0.3, random_state=0, stratify=df["target"])
    return train.reset_index(drop=True), shifted(holdout).reset_index(drop=True)


@pytest.fixture
def wine(store: Any, project: Path) -> Iterator[Wine]:
    """The wine world on each store: datasets, suite, pipeline, champion version 1."""
    from cairn.validation import ColumnExists, NullRate, RowCount, Suite, save_suite

    train, holdout = _frames()
    world = Wine(project, train, holdout)
    world.add_version(train, "wine")
    world.add_version(holdout, "wine-holdout")
    columns = list(train.columns)
    save_suite(
        Suite(
            "wine",
            [RowCount(min=50)]
            + [ColumnExists(column=c) for c in columns]
            + [NullRate(column=c) for c in columns],
        )
    )
    (project / "winepipe.py").write_text(textwrap.dedent(PIPELINE))
    sys.modules.pop("winepipe", None)
    result = pipelines.run_pipeline("winepipe:training", executor="inline")
    assert result.status == "finished", result
    registry.set_alias(MODEL, "champion", 1, reason="first model")
    yield world
    sys.modules.pop("winepipe", None)
    root = str(project.resolve())
    while root in sys.path:
        sys.path.remove(root)


def set_policy(**changes: Any) -> Any:
    """Set model wine's policy: ``POLICY`` with ``changes``."""
    from cairn import loop

    return loop.set_policy(MODEL, **(POLICY | changes))


def until(condition: Callable[[], Any], timeout: float = 120.0, every: float = 0.2) -> Any:
    """Wait for ``condition()`` to be truthy; its value (fails the test on timeout)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {condition}")
