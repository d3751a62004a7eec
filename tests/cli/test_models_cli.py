"""The models commands of the CLI: ls, show, alias, rollback, history, lineage, compare, promote,
rm."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import cairn
from tests.cli.test_data_cli import cli


@pytest.fixture
def churn(quiet_capture: None) -> None:
    """Model ``churn`` with versions 1 (auc 0.8) and 2 (auc 0.9); champion 1, challenger 2."""
    from sklearn.dummy import DummyClassifier

    model = DummyClassifier().fit([[0], [1]], [0, 1])
    for auc in (0.8, 0.9):
        with cairn.run(params={"auc_target": auc}):
            cairn.log({"auc": auc})
            cairn.log_model(model, "churn", input_example=[[0.0], [1.0]])
    cairn.registry.set_alias("churn", "champion", 1)
    cairn.registry.set_alias("churn", "challenger", 2)


def test_ls_show_and_history(capsys: pytest.CaptureFixture[str], churn: None) -> None:
    """ls lists models with aliases; show lists versions or one version; history lists moves."""
    code, out, _ = cli(capsys, "models", "ls")
    assert code == 0 and "churn" in out and "champion=1" in out
    code, out, _ = cli(capsys, "models", "ls", "--format", "json")
    assert json.loads(out)[0]["aliases"] == {"challenger": 2, "champion": 1}
    code, out, _ = cli(capsys, "models", "show", "churn")
    assert code == 0 and "challenger" in out and "sklearn" in out
    code, out, _ = cli(capsys, "models", "show", "churn@champion")
    assert code == 0 and "models:/churn/1" in out and "scikit-learn==" in out
    code, out, _ = cli(capsys, "models", "history", "churn")
    assert code == 0 and "champion" in out and "challenger" in out


def test_alias_promote_and_rm(capsys: pytest.CaptureFixture[str], churn: None) -> None:
    """promote refuses a failing rule (exit 1, saying why) and moves the alias when it holds."""
    code, out, err = cli(
        capsys,
        "models",
        "promote",
        "churn",
        "--require",
        "metrics.auc > champion.metrics.auc + 0.5",
    )
    assert code == 1 and "does not hold" in err and "Traceback" not in err
    assert (out + err).count("does not hold") == 1  # the reason, once
    code, out, _ = cli(
        capsys, "models", "promote", "churn", "--require", "metrics.auc > champion.metrics.auc"
    )
    assert code == 0 and "champion -> version 2 (was version 1)" in out
    code, _, err = cli(capsys, "models", "rm", "churn/2")
    assert code == 1 and "move or delete" in err
    code, out, _ = cli(capsys, "models", "alias", "churn", "champion", "1")
    assert code == 0 and "moved: version 2 -> 1" in out
    code, out, _ = cli(capsys, "models", "alias", "churn", "challenger", "--delete")
    assert code == 0
    code, out, _ = cli(capsys, "models", "rm", "churn/2")
    assert code == 0 and "deleted" in out
    code, out, _ = cli(capsys, "models", "restore", "churn/2")
    assert code == 0 and "restored" in out


def test_rollback_moves_the_alias_back(capsys: pytest.CaptureFixture[str], churn: None) -> None:
    """rollback needs a reason, moves the alias to its previous version and says so."""
    code, _, err = cli(capsys, "models", "rollback", "churn")
    assert code != 0 and "--reason" in err
    code, _, err = cli(capsys, "models", "rollback", "churn", "--reason", "why")
    assert code == 1 and "no earlier version" in err and "Traceback" not in err
    cli(capsys, "models", "alias", "churn", "champion", "2")
    code, out, _ = cli(capsys, "models", "rollback", "churn", "--reason", "v2 misbehaves")
    assert code == 0 and "churn@champion rolled back: version 2 -> 1" in out
    assert cairn.registry.alias_history("churn")[-1].reason == "rollback: v2 misbehaves"
    code, _, err = cli(
        capsys, "models", "rollback", "churn", "--alias", "challenger", "--reason", "x"
    )
    assert code == 1 and "challenger has pointed at version 2 since it was set" in err


def test_lineage_and_compare(capsys: pytest.CaptureFixture[str], churn: None) -> None:
    """lineage prints the run as a tree or JSON; compare shows both versions' metrics."""
    code, out, _ = cli(capsys, "models", "lineage", "churn@champion")
    assert code == 0 and "model churn/1 (champion)" in out and "auc=0.8" in out
    code, out, _ = cli(capsys, "models", "lineage", "churn@champion", "--format", "json")
    tree = json.loads(out)
    assert tree["parents"][0]["facts"]["metrics"] == {"auc": 0.8}
    code, out, _ = cli(capsys, "models", "compare", "churn@champion", "churn@challenger")
    assert code == 0 and "0.8" in out and "0.9" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("models", "show", "nope"), "no model named 'nope'"),
        (("models", "show", "churn@gold"), "no alias 'gold'"),
        (("models", "alias", "churn", "champion", "9"), "has no version 9"),
        (("models", "alias", "churn", "champion"), "give the version"),
        (("models", "promote", "churn", "--require", "metrics.auc >< 1"), "cannot parse"),
        (("models", "lineage", "bad name"), "cannot name a model"),
        (("models", "edit", "churn"), "nothing to change"),
        (("models", "rollback", "churn", "--alias", "gold", "--reason", "r"), "no alias 'gold'"),
        (("models", "rollback", "churn", "--reason", " "), "reason is required"),
    ],
)
def test_bad_input_exits_1_with_a_message(
    capsys: pytest.CaptureFixture[str], churn: None, args: tuple[str, ...], message: str
) -> None:
    """Unknown models, aliases, versions and unparsable rules: one message, exit 1."""
    code, _, err = cli(capsys, *args)
    assert code == 1 and message in err and "Traceback" not in err


def test_data_show_lists_the_models_made_from_a_version(
    capsys: pytest.CaptureFixture[str], quiet_capture: None, project: Path
) -> None:
    """cairn data show names the model versions whose runs read each dataset version."""
    from sklearn.dummy import DummyClassifier

    (project / "raw").mkdir()
    (project / "raw" / "t.csv").write_text("x,y\n0,0\n1,1\n")
    cairn.data.add(project / "raw", "table")
    with cairn.run():
        frame = cairn.data.load("table")
        cairn.log_model(DummyClassifier().fit(frame[["x"]], frame["y"]), "clf")
    code, out, _ = cli(capsys, "data", "show", "table")
    assert code == 0 and "models made from it" in out and "clf/1" in out
    code, _, err = cli(capsys, "data", "rm", "table@v1")
    assert code == 1 and "model clf/1" in err
