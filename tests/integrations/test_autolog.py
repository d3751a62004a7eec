"""cairn.autolog itself: which frameworks, when they are patched, what is refused, and autolog
on by default under cairn run."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

import cairn
import cairn.tracking
from cairn.core.errors import InvalidInputError
from cairn.integrations import FRAMEWORKS, autolog_status

FRAMEWORK_MODULES = sorted({m.partition(".")[0] for f in FRAMEWORKS.values() for m in f.modules})


@pytest.fixture(autouse=True)
def _off() -> Iterator[None]:
    yield
    cairn.autolog(disable=True)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"frameworks": ["sklearn", "keras"]}, "no framework 'keras'"),
        ({"frameworks": [None]}, "no framework None"),
        ({"frameworks": 3}, "no framework 3"),
        ({"frameworks": ["a\x00b"]}, "choose from sklearn"),
        ({"frameworks": ["\ud800"]}, "choose from sklearn"),
        ({"frameworks": ["x" * 1_000_000]}, "choose from sklearn"),
        ({"log_models": "yes"}, "log_models is True or False"),
        ({"disable": 1}, "disable is True or False"),
    ],
)
def test_bad_arguments_are_refused_with_the_choices(kwargs: dict, message: str) -> None:
    """An unknown framework or a non-bool switch is refused, saying what is accepted."""
    with pytest.raises(InvalidInputError, match=message) as caught:
        cairn.autolog(**kwargs)
    assert len(str(caught.value)) < 400
    assert cairn.integrations.frameworks.active_frameworks() == []


def test_autolog_imports_no_framework() -> None:
    """Turning autolog on imports none of the frameworks (each is patched when imported)."""
    code = textwrap.dedent(
        f"""
        import json, sys
        import cairn
        on = cairn.autolog()
        print(json.dumps([on, [m for m in {FRAMEWORK_MODULES!r} if m in sys.modules]]))
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    on, imported = json.loads(done.stdout)
    assert imported == []
    assert "sklearn" in on and "lightgbm" in on


def test_a_framework_not_installed_is_skipped_cleanly(monkeypatch: pytest.MonkeyPatch) -> None:
    """A framework whose import is impossible is neither waited for nor an error."""
    monkeypatch.setitem(sys.modules, "optuna", None)  # what an uninstalled package looks like
    on = cairn.autolog(frameworks=["optuna", "sklearn"])
    assert "optuna" not in on
    assert autolog_status()["optuna"] == "not installed"


def test_a_version_outside_the_range_warns_once_and_stays_unpatched(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, quiet_capture: None
) -> None:
    """An unsupported release is left as it is, with one warning, and its training logs nothing."""
    lightgbm = pytest.importorskip("lightgbm")
    import numpy as np

    train = lightgbm.train
    monkeypatch.setattr(lightgbm, "__version__", "99.1.0")
    caplog.set_level(logging.WARNING, logger="cairn")
    cairn.autolog(frameworks=["lightgbm"])
    cairn.autolog(frameworks=["lightgbm"])
    warnings = [r for r in caplog.records if "outside the versions" in r.getMessage()]
    assert len(warnings) == 1 and "99.1.0" in warnings[0].getMessage()
    assert "unsupported" in autolog_status()["lightgbm"]
    assert lightgbm.train is train
    rows = np.random.default_rng(0).random((50, 3))
    data = lightgbm.Dataset(rows, label=rows[:, 0], params={"verbose": -1})
    lightgbm.train({"verbose": -1, "num_leaves": 4}, data, num_boost_round=2)
    assert cairn.tracking.find_runs() == []


TRAIN = """
import json, sys
from sklearn.linear_model import LogisticRegression
X = [[0.0, 1.0], [1.0, 0.0], [0.2, 0.9], [0.9, 0.1]] * 5
y = [0, 1, 0, 1] * 5
model = LogisticRegression(C=0.5).fit(X, y)
print(json.dumps({"cairn_imported_first": "cairn" not in sys.modules}))
if sys.argv[1:] == ["search"]:  # its fits in joblib's worker processes
    from sklearn.model_selection import GridSearchCV
    GridSearchCV(LogisticRegression(), {"C": [0.1, 1.0]}, cv=2, n_jobs=2).fit(X, y)
"""


def _launch(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    (project / "train.py").write_text(TRAIN)
    return subprocess.run(
        [sys.executable, "-m", "cairn", "run", "--", sys.executable, "train.py", *args],
        cwd=project,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_cairn_run_autologs_a_program_that_never_imports_cairn(project: Path) -> None:
    """Under cairn run, a scikit-learn fit is recorded in the launched run with no cairn code."""
    pytest.importorskip("sklearn")
    done = _launch(project, "search")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"cairn_imported_first": False}  # stdout is the program's
    runs = cairn.tracking.find_runs()
    (run,) = [r for r in runs if r.parent_id is None]
    # The search is the second training: a child run, with its two candidates; the fits in
    # joblib's worker processes log nothing of their own.
    (search,) = [r for r in runs if r.parent_id == run.id]
    assert search.tags["estimator_name"] == "GridSearchCV"
    assert sorted(r.params["C"] for r in runs if r.parent_id == search.id) == [0.1, 1.0]
    assert len(runs) == 4
    record = cairn.get_run(run.id)
    assert record.tags["cairn.autolog"] == "sklearn"
    assert record.params["C"] == 0.5
    assert any(a.path == "model/cairn-model.json" for a in record.artifacts)
    model = cairn.load_model(f"runs:/{record.id}/model")
    assert list(model.predict([[0.0, 1.0]])) == [0]


def test_capture_autolog_off_leaves_cairn_run_programs_alone(project: Path) -> None:
    """With capture.autolog false in cairn.yaml, a launched fit records nothing of its own."""
    pytest.importorskip("sklearn")
    (project / "cairn.yaml").write_text("capture:\n  autolog: false\n")
    done = _launch(project)
    assert done.returncode == 0, done.stderr
    (run,) = cairn.tracking.find_runs()
    record = cairn.get_run(run.id)
    assert "cairn.autolog" not in record.tags and "C" not in record.params
