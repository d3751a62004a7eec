"""The loop's commands: ``cairn models policy`` sets, shows and removes a policy;
``cairn models retrain --now`` runs one here; ``retrainings`` lists them; ``history`` shows
each move and each retraining's stages; ``rollback`` moves a loop promotion back."""

from __future__ import annotations

import json

import pytest

from cairn import loop, registry
from tests.cli.test_data_cli import cli
from tests.loop.conftest import MODEL, Wine, shifted

POLICY = (
    "models", "policy", MODEL, "--pipeline", "winepipe:training", "--on-data", "wine",
    "--dataset", "wine", "--suite", "wine", "--holdout", "wine-holdout", "--target", "target",
    "--require", "accuracy >= champion.accuracy and latency_p99_ms <= 1000",
    "--set", "dataset={dataset_version}", "--set", "C={retraining}", "--executor", "inline",
)  # fmt: skip


def test_policy_is_set_shown_and_removed(capsys: pytest.CaptureFixture[str], wine: Wine) -> None:
    """policy sets a policy and prints it, shows it as text or JSON, and --rm removes it."""
    code, out, err = cli(capsys, *POLICY)
    assert code == 0, err
    assert "wine: retrained by winepipe:training on data wine" in out
    assert "must pass suite wine" in out and "scored on: wine-holdout (label target)" in out
    assert "promoted to champion when: accuracy >= champion.accuracy" in out
    code, out, _ = cli(capsys, "models", "policy", MODEL)
    assert code == 0 and "retrained by winepipe:training" in out
    code, out, _ = cli(capsys, "models", "policy", MODEL, "--format", "json")
    shown = json.loads(out)
    assert shown["pipeline"] == "winepipe:training" and shown["on_data"] == ["wine"]
    assert shown["params"] == {"dataset": "{dataset_version}", "C": "{retraining}"}
    code, out, _ = cli(capsys, "models", "policy", MODEL, "--rm")
    assert code == 0 and "retraining policy of wine removed" in out
    assert loop.list_policies() == []
    code, _, err = cli(capsys, "models", "policy", MODEL)
    assert code == 1 and "no retraining policy" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("--on-alert", "nope"), "no alert rule named 'nope'"),
        (("--require", "auc >= champion.auc"), "use roc_auc"),
        (("--on-busy", "wait"), "on_busy is 'queue'"),
        (("--cron", "every day"), "does not parse"),
        (("--set", "lr=0.1"), "no param 'lr'"),
        (("--holdout", "nope"), "no dataset named 'nope'"),
    ],
    ids=["alert", "auc", "on-busy", "cron", "param", "holdout"],
)
def test_bad_policy_exits_1_with_the_message(
    capsys: pytest.CaptureFixture[str], wine: Wine, change: tuple[str, str], message: str
) -> None:
    """A bad option gives exit 1, the message on stderr, no traceback, no policy."""
    code, _, err = cli(capsys, *POLICY, *change)
    assert code == 1 and message in err and "Traceback" not in err
    assert loop.list_policies() == []


def test_policy_without_its_required_options_says_which(
    capsys: pytest.CaptureFixture[str], wine: Wine
) -> None:
    """policy with --pipeline only names the options a policy needs too."""
    code, _, err = cli(capsys, "models", "policy", MODEL, "--pipeline", "winepipe:training")
    assert code == 1 and "--holdout, --require" in err and "Traceback" not in err


def test_retrain_now_history_retrainings_and_rollback(
    capsys: pytest.CaptureFixture[str], wine: Wine
) -> None:
    """retrain --now runs a retraining here and prints its stages; retrainings lists it;
    history shows the moves and the retraining; rollback moves the champion back."""
    assert cli(capsys, *POLICY)[0] == 0
    ref = wine.add_version(shifted(wine.train))
    code, out, err = cli(capsys, "models", "retrain", MODEL, "--now", "--reason", "new data")
    assert code == 0, err
    assert "retraining #1 (manual: new data): promoted" in out
    assert f"data: {ref}" in out and "validation: suite wine passed" in out
    assert "pipeline run: " in out and "challenger: version 2; champion: version 1" in out
    assert "scored on wine-holdout@v1" in out and "ok  accuracy >= champion.accuracy" in out
    assert "decision: version 2 promoted to champion (was 1)" in out
    code, out, _ = cli(capsys, "models", "retrainings")
    assert code == 0 and "manual: new data" in out and "promoted" in out
    code, out, _ = cli(capsys, "models", "retrainings", MODEL, "--format", "json")
    [listed] = json.loads(out)
    assert listed["state"] == "promoted" and listed["challenger"] == 2
    code, out, _ = cli(capsys, "models", "history", MODEL)
    assert code == 0 and "first model" in out and "retraining #1" in out
    assert "validation: suite wine passed" in out and "decision: version 2 promoted" in out
    code, out, err = cli(capsys, "models", "rollback", MODEL, "--reason", "complaints from the lab")
    assert code == 0, err
    assert "wine@champion rolled back: version 2 -> 1" in out
    assert registry.get_model(MODEL).aliases["champion"] == 1
    move = registry.alias_history(MODEL)[-1]
    assert move.reason is not None and "complaints from the lab" in move.reason
    code, out, _ = cli(capsys, "models", "history", MODEL)
    assert "complaints from the lab" in out


def test_retrain_queues_without_now_and_refuses_without_a_policy(
    capsys: pytest.CaptureFixture[str], wine: Wine
) -> None:
    """retrain without --now queues (the scheduler takes it); without a policy it says so."""
    code, _, err = cli(capsys, "models", "retrain", MODEL)
    assert code == 1 and "no retraining policy" in err and "Traceback" not in err
    assert cli(capsys, *POLICY)[0] == 0
    code, out, _ = cli(capsys, "models", "retrain", MODEL)
    assert code == 0 and "retraining #1 of wine (manual: by hand): queued" in out
    code, out, _ = cli(capsys, "models", "retrain", MODEL)
    assert code == 0 and "dropped: retraining #1 is queued already" in out


def test_retrain_now_of_a_failing_pipeline_exits_1(
    capsys: pytest.CaptureFixture[str], wine: Wine
) -> None:
    """retrain --now whose data fails its suite prints why and exits 1."""
    assert cli(capsys, *POLICY)[0] == 0
    bad = wine.train.copy()
    bad.loc[0:20, "alcohol"] = None
    wine.add_version(bad)
    code, out, _ = cli(capsys, "models", "retrain", MODEL, "--now")
    assert code == 1 and "blocked" in out and "failed suite wine" in out
    assert registry.get_model(MODEL).aliases["champion"] == 1
