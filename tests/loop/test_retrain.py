"""The loop in one process: a trigger queues a retraining, the retrainer validates the data,
runs the pipeline, scores both models on the held-out data and promotes or refuses."""

from __future__ import annotations

from cairn import loop, monitoring, registry
from tests.loop.conftest import MODEL, Wine, set_policy, shifted, until


def _drive(retrainer: loop.Retrainer) -> None:
    """Tick the retrainer until it has nothing left to do."""
    retrainer.tick()
    until(lambda: retrainer.running() == 0 and not _open())
    retrainer.stop(5.0)


def _open() -> bool:
    return any(not r.is_over for r in loop.list_retrainings(MODEL))


def test_new_data_retrains_and_promotes_a_better_model(wine: Wine) -> None:
    """A new version of the training data starts a retraining that promotes the challenger."""
    set_policy()
    ref = wine.add_version(shifted(wine.train))
    _drive(loop.Retrainer())
    [done] = loop.list_retrainings(MODEL)
    assert done.state == "promoted", done.summary()
    assert done.dataset_version == ref
    assert done.validation is not None and done.validation["passed"]
    assert done.challenger == 2 and done.champion == 1
    assert done.scores is not None
    assert done.scores["challenger"]["accuracy"] > done.scores["champion"]["accuracy"]
    model = registry.get_model(MODEL)
    assert model.aliases["champion"] == 2 and model.aliases["challenger"] == 2
    move = registry.alias_history(MODEL)[-1]
    assert move.alias == "champion" and move.to_version == 2
    assert move.reason is not None and move.reason.startswith(f"retraining #{done.id}")
    history = loop.model_history(MODEL)
    assert history.retraining_of(move) == done


def test_worse_challenger_is_refused_with_an_alert(wine: Wine) -> None:
    """A challenger worse than the champion leaves the champion and raises an alert."""
    set_policy(params={"dataset": "{dataset_version}", "scramble": "true"})
    wine.add_version(wine.train.sample(frac=1.0, random_state=1))
    _drive(loop.Retrainer())
    [done] = loop.list_retrainings(MODEL)
    assert done.state == "refused", done.summary()
    assert registry.get_model(MODEL).aliases["champion"] == 1
    assert done.result_alert_id is not None
    [alert] = monitoring.list_alerts(MODEL)
    assert alert.id == done.result_alert_id and alert.rule == "loop:refused"
    assert "accuracy" in alert.message


def test_data_failing_its_suite_stops_the_loop(wine: Wine) -> None:
    """Data that fails the suite blocks the retraining before any training, with an alert."""
    set_policy()
    bad = wine.train.copy()
    bad.loc[0:20, "alcohol"] = None
    wine.add_version(bad)
    _drive(loop.Retrainer())
    [done] = loop.list_retrainings(MODEL)
    assert done.state == "blocked", done.summary()
    assert done.pipeline_run is None and done.challenger is None
    assert registry.get_model(MODEL).aliases["champion"] == 1
    assert [a.rule for a in monitoring.list_alerts(MODEL)] == ["loop:data-failed"]
