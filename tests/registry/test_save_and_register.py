"""save_model keeps a model in its run without a version; register_model makes it one later."""

from __future__ import annotations

import pytest

import cairn
from cairn.core.errors import InvalidInputError, ModelNotFoundError, RunStateError
from cairn.registry import save_model
from tests.cli.test_data_cli import cli

X = [[0.0, 1.0], [1.0, 0.0], [0.1, 0.8], [0.9, 0.2]]
Y = [0, 1, 0, 1]


def _fitted() -> object:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression().fit(X, Y)


def test_a_saved_model_loads_from_its_run_and_registers_later(
    store_url: str, quiet_capture: None
) -> None:
    """The saved model is no version until registered; then it is one, with run and signature."""
    model = _fitted()
    with cairn.run() as run:
        import numpy as np

        saved = save_model(model, input_example=np.array(X[:2]))
        second = save_model(model)
    assert saved.uri == f"runs:/{run.id}/model" and second.path == "model-2"
    assert saved.flavor == "sklearn" and saved.descriptor["signature"] is not None
    assert cairn.registry.list_models() == []
    loaded = cairn.load_model(saved.uri)
    assert list(loaded.predict(X)) == list(model.predict(X))  # type: ignore[attr-defined]
    version = cairn.register_model(saved.uri, "churn", description="from autolog", tags={"k": 1})
    assert (version.name, version.version, version.run_id) == ("churn", 1, run.id)
    assert version.signature is not None and version.tags == {"k": "1"}
    assert version.description == "from autolog"
    again = cairn.register_model(f"runs:/{run.id[:12]}/model-2", "churn")
    assert again.version == 2
    assert list(cairn.load_model("models:/churn/1").predict(X)) == list(model.predict(X))  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("uri", "error", "message"),
    [
        ("models:/churn/1", InvalidInputError, "names no run's model"),
        ("churn", InvalidInputError, "names no run's model"),
        ("runs:/{run}/nothing", ModelNotFoundError, "has no model at 'nothing'"),
        ("runs:/{run}/../../etc", InvalidInputError, ""),
        ("runs:/{run}/a\x00b", InvalidInputError, ""),
        ("runs:/{run}/\ud800", InvalidInputError, ""),
        ("runs:/" + "x" * 1_000_000 + "/model", Exception, ""),
    ],
)
def test_register_model_refuses_what_names_no_saved_model(
    quiet_capture: None, uri: str, error: type[Exception], message: str
) -> None:
    """A URI that is not a run's saved model is refused with a message, registering nothing."""
    with cairn.run() as run:
        cairn.log({"a": 1.0})
    with pytest.raises(error, match=message or None) as caught:
        cairn.register_model(uri.format(run=run.id), "churn")
    assert len(str(caught.value)) < 2_000
    assert cairn.registry.list_models() == []


def test_save_model_needs_a_run_and_a_model(quiet_capture: None) -> None:
    """Without an active run, or with an object no flavor knows, nothing is saved."""
    with pytest.raises(RunStateError, match="needs an active run"):
        save_model(_fitted())
    with cairn.run() as run, pytest.raises(InvalidInputError):
        save_model(object())
    assert cairn.get_run(run.id).artifacts == []


def test_models_register_command(capsys: pytest.CaptureFixture[str], quiet_capture: None) -> None:
    """cairn models register RUN_URI NAME makes the run's model a version; bad input exits 1."""
    with cairn.run() as run:
        save_model(_fitted())
    code, out, err = cli(capsys, "models", "register", f"runs:/{run.id}/model", "churn")
    assert code == 0, err
    assert "churn/1 registered" in out
    code, _, err = cli(capsys, "models", "register", f"runs:/{run.id}/none", "churn")
    assert code == 1 and "has no model" in err and "Traceback" not in err
