"""A retraining in the lineage graph: the data it was started by and trained on, the pipeline
run it started, and the challenger it registered and promoted."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from cairn import loop, registry
from cairn.loop._lineage import record_retraining
from cairn.store import get_store
from cairn.store.db.schema import lineage_edges
from tests.loop.conftest import MODEL, Wine, shifted, until


def promote(wine: Wine) -> tuple[Any, str]:
    """Drive one retraining, started by a new version of the training data, to a promotion;
    the retraining and the data version's ref."""
    loop.set_policy(
        MODEL,
        pipeline="winepipe:training",
        on_data=["wine"],
        dataset="wine",
        suite="wine",
        holdout="wine-holdout",
        target="target",
        require="accuracy >= champion.accuracy",
        params={"dataset": "{dataset_version}"},
        executor="inline",
    )
    ref = wine.add_version(shifted(wine.train))
    retrainer = loop.Retrainer()
    retrainer.tick()
    until(lambda: retrainer.running() == 0 and all(r.is_over for r in loop.list_retrainings(MODEL)))
    retrainer.stop(5.0)
    [done] = loop.list_retrainings(MODEL)
    assert done.state == "promoted", done.summary()
    return done, ref


def test_a_promotion_is_walked_from_the_data_to_the_model_and_back(wine: Wine) -> None:
    """From the promoted version the graph reaches the retraining with its facts, and from the
    retraining the data version it was started by and trained on and the pipeline run."""
    done, ref = promote(wine)
    node = f"retraining:{done.id}"

    graph = registry.lineage_graph(f"models:/{MODEL}/2")
    found = {n.uri: n for n in graph.nodes}
    assert node in found
    shown = found[node]
    assert shown.kind == "retraining" and shown.label == f"retraining #{done.id}"
    assert shown.level == -1
    facts = shown.details
    assert facts["state"] == "promoted"
    assert facts["trigger"] == done.trigger and facts["trigger_kind"] == "data"
    assert facts["dataset_version"] == ref
    assert facts["validation_passed"] is True
    assert facts["pipeline_run"] == done.pipeline_run
    assert facts["challenger"] == 2 and facts["champion"] == 1
    assert "accuracy" in facts["challenger_scores"] and "accuracy" in facts["champion_scores"]
    assert facts["decision"] == done.reason and "promoted" in facts["decision"]
    assert facts["started_ms"] is not None and facts["ended_ms"] is not None
    edges = {(e.src, e.dst, e.relation) for e in graph.edges}
    assert (node, f"models:/{MODEL}/2", "promoted") in edges
    assert (node, f"models:/{MODEL}/2", "challenger") in edges

    around = registry.lineage_graph(node, depth=1)
    assert around.center == node
    edges = {(e.src, e.dst, e.relation) for e in around.edges}
    data = f"data:{ref}"
    assert (data, node, "input") in edges and (data, node, "trigger") in edges
    assert (node, f"runs:/{done.pipeline_run}", "started") in edges
    levels = {n.uri: n.level for n in around.nodes}
    assert levels[data] == -1 and levels[f"runs:/{done.pipeline_run}"] == 1
    assert levels[f"models:/{MODEL}/2"] == 1
    assert registry.lineage_graph(f"retraining:#{done.id}", depth=0).center == node
    _recording_again_adds_nothing(done.id)


def _recording_again_adds_nothing(number: int) -> None:
    """Recording a retraining a second time finds every edge already there."""

    def count(conn: Any) -> int:
        return int(conn.execute(select(func.count()).select_from(lineage_edges)).scalar() or 0)

    with get_store().db.read() as conn:
        before = count(conn)
    again = get_store().db.transact(lambda conn: record_retraining(conn, number))
    assert {relation for _, _, relation in again} == {
        "trigger",
        "input",
        "started",
        "challenger",
        "promoted",
    }
    with get_store().db.read() as conn:
        assert count(conn) == before
    assert get_store().db.transact(lambda conn: record_retraining(conn, 10**12)) == []
