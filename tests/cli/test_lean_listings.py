"""`cairn models ls` and `cairn data ls` read on the standard library answer what the full
path answers: the same records, and the same table byte for byte."""

from __future__ import annotations

from pathlib import Path

import pytest

import cairn
from cairn import data, registry
from cairn.cli._app import run_app
from cairn.cli.main import main
from cairn.store import Store


class Constant(cairn.PythonModel):
    """A model that answers its input's first column."""

    def predict(self, inputs: object) -> object:
        return inputs


def _fill(project: Path) -> None:
    """Two models (one with two versions, an alias, tags and a two-line description) and
    three datasets (owner, tags, a daily frequency, a deleted latest version)."""
    import pandas as pd

    example = pd.DataFrame({"a": [1.0, 2.0]})
    for name in ("churn", "churn", "fraud"):
        with cairn.run():
            cairn.log_model(Constant(), name, input_example=example)
    registry.set_alias("churn", "champion", 1)
    registry.set_model_tags("churn", {"team": "growth"})
    registry.describe("churn", "predicts churn\nfrom usage")
    for i, name in enumerate(("orders", "customers", "events")):
        folder = project / name
        folder.mkdir()
        (folder / "part.csv").write_text(f"a,b\n{i},2\n")
        data.add(folder, name=name, owner="ana", tags={"k": "v"}, description="raw\ntable")
        (folder / "part.csv").write_text(f"a,b\n{i},3\n")
        data.add(folder, name=name)
    data.edit_dataset("orders", frequency="daily")
    data.remove_version("events@v2")


@pytest.fixture
def filled(store: Store, project: Path, quiet_capture: None) -> Store:
    """Models and datasets in the store under test."""
    _fill(project)
    return store


@pytest.fixture
def filled_locally(project: Path, quiet_capture: None) -> None:
    """Models and datasets in the project's default SQLite store."""
    _fill(project)


def test_the_lean_reads_equal_the_full_ones(filled: Store) -> None:
    """On SQLite the lean reads equal list_models and list_datasets; elsewhere they are None."""
    if filled.db.url.startswith("postgresql"):
        assert registry.list_models_lean() is None and data.list_datasets_lean() is None
        return
    assert registry.list_models_lean() == registry.list_models()
    datasets = data.list_datasets_lean()
    assert datasets == data.list_datasets()
    assert datasets is not None and any(d.frequency == "daily" for d in datasets)


@pytest.mark.parametrize(
    "args", [["models", "ls"], ["data", "ls"], ["data", "ls", "--format", "table"]]
)
def test_the_listings_print_what_the_full_commands_print(
    capsys: pytest.CaptureFixture[str], filled_locally: None, args: list[str]
) -> None:
    """`cairn models ls` / `cairn data ls` on the lean path print what the Typer command prints."""
    with pytest.raises(SystemExit) as lean_exit:
        main(args)
    lean = capsys.readouterr()
    with pytest.raises(SystemExit) as full_exit:
        run_app(args)
    full = capsys.readouterr()
    assert (lean_exit.value.code or 0, lean.out, lean.err) == (
        full_exit.value.code or 0,
        full.out,
        full.err,
    )
    assert "churn" in lean.out or "orders" in lean.out
