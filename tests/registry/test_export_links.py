"""export_model and load_model write only inside their folder (decision 0011): a destination
named through a symbolic link is the folder it names, and a stored path that would leave the
folder is refused before anything is written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import cairn
from cairn import registry
from cairn.core.errors import InvalidInputError, ModelLoadError
from cairn.core.ids import now_ms
from cairn.store import Store, get_store
from cairn.tracking import _queries
from cairn.tracking.record import ArtifactEntry


def _logged_run() -> str:
    """A run with a small scikit-learn model at ``model`` (registered as ``m``); its id."""
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression().fit(np.array([[0.0], [1.0]]), [0, 1])
    with cairn.run() as run:
        cairn.log_model(model, "m")
    return run.id


def test_export_into_a_link_writes_into_the_folder_it_names(
    project: Path, store: Store, quiet_capture: None
) -> None:
    """A destination that is a link to an empty folder receives the export (the link stays); a
    link to nothing, or a folder already holding a link, is refused and nothing is written."""
    _logged_run()
    real = project / "real"
    real.mkdir()
    (project / "chosen").symlink_to(real, target_is_directory=True)
    exported = registry.export_model("models:/m/1", project / "chosen")
    assert (project / "chosen").is_symlink() and exported == real
    assert cairn.load_model(str(project / "chosen")).predict(np.array([[1.0]])).tolist() == [1]
    (project / "dangling").symlink_to(project / "missing")
    with pytest.raises(InvalidInputError, match="does not exist; create that folder"):
        registry.export_model("models:/m/1", project / "dangling")
    outside = project / "outside"
    outside.mkdir()
    holding = project / "holding"
    holding.mkdir()
    (holding / "model.joblib").symlink_to(outside / "model.joblib")
    with pytest.raises(InvalidInputError, match="not empty"):
        registry.export_model("models:/m/1", holding)
    assert not (project / "missing").exists() and list(outside.iterdir()) == []
    assert sorted(p.name for p in project.iterdir() if ".partial-" in p.name) == []


def test_a_run_path_leaving_the_model_folder_is_refused(
    project: Path, store: Store, quiet_capture: None
) -> None:
    """A run's model holding a stored path with ``..`` (recorded before names were checked) is
    refused by export_model and load_model, and nothing is written outside the folder."""
    run_id = _logged_run()
    run = cairn.get_run(run_id)
    digest = run.artifacts[0].digest
    bad = ArtifactEntry("model/../../escaped.txt", digest, run.artifacts[0].size)
    with get_store().db.read() as conn:
        db_id, _ = _queries.resolve_run(conn, run_id)
    get_store().db.transact(lambda conn: _queries.record_artifacts(conn, db_id, [bad], now_ms()))
    dest = project / "out" / "export"
    dest.parent.mkdir()
    for attempt in (
        lambda: registry.export_model(f"runs:/{run_id}/model", dest),
        lambda: cairn.load_model(f"runs:/{run_id}/model"),
    ):
        with pytest.raises(ModelLoadError, match=r"would leave its folder.*escaped\.txt"):
            attempt()
    assert list(dest.parent.iterdir()) == []
    assert list(project.rglob("escaped.txt")) == []
