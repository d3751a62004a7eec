"""The lineage graph around one node: up and down the chain, by level, within a depth and a
node limit, with served model versions as deployments."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import cairn
from cairn import registry, serving
from cairn.core.errors import InvalidInputError, NotFoundError
from cairn.store import Store, get_store


class Constant(cairn.PythonModel):
    """A model that answers its input."""

    def predict(self, inputs: Any) -> Any:
        return inputs


@dataclass
class Chain:
    """The URIs of a chain: raw data -> train run -> model -> score run -> scores."""

    raw: str
    train: str
    model: str
    score: str
    scores: str


def build_chain(project: Path, *, served: bool = True) -> Chain:
    """data:raw@v1 read by the run "train", which logs models:/m/1; the run "score" loads it and
    writes data:scores@v1; a server answered for m/1 (one prediction log file)."""
    folder = project / "raw"
    folder.mkdir()
    (folder / "part.csv").write_text("a,b\n1,2\n")
    cairn.data.add(folder, name="raw")
    with cairn.run(name="train") as train:
        cairn.data.path("raw@v1")
        cairn.log_model(Constant(), "m")
    with cairn.run(name="score") as score:
        registry.load_model("models:/m/1")
        out = project / "scores"
        out.mkdir()
        (out / "part.csv").write_text("a,score\n1,2\n")
        cairn.data.add(out, name="scores")
    registry.set_alias("m", "champion", 1)
    if served:
        _log_file("m", 1, rows=12)
    return Chain(
        "data:raw@v1", f"runs:/{train.id}", "models:/m/1", f"runs:/{score.id}", "data:scores@v1"
    )


def _log_file(model: str, version: int, rows: int) -> None:
    """A listed prediction log file, as a server's sealing writes it."""
    from cairn.core.ids import now_ms
    from cairn.store.db.schema import prediction_log_files

    now = now_ms()

    def add(conn: Any) -> None:
        conn.execute(
            prediction_log_files.insert().values(
                model=model,
                version=version,
                day="2026-12-01",
                digest="blake3:" + "0" * 64,
                rows=rows,
                first_ms=now - 3_600_000,
                last_ms=now,
                created_ms=now,
            )
        )

    get_store().db.transact(add)


def _levels(graph: registry.LineageGraph) -> dict[str, int]:
    return {n.uri: n.level for n in graph.nodes}


def test_the_graph_walks_up_and_down_from_every_kind_of_node(
    quiet_capture: None, store: Store, project: Path
) -> None:
    """From the model the graph reaches the data upstream and the scores downstream, by level;
    from the data it reaches the scores; an alias names the same centre; a deployment follows
    the served model version."""
    chain = build_chain(project)
    graph = serving.with_deployments(registry.lineage_graph(chain.model))
    assert graph.center == chain.model
    assert _levels(graph) == {
        chain.raw: -2,
        chain.train: -1,
        chain.model: 0,
        chain.score: 1,
        "deployment:m/1": 1,
        chain.scores: 2,
    }
    edges = {(e.src, e.dst, e.relation) for e in graph.edges}
    assert edges == {
        (chain.raw, chain.train, "input"),
        (chain.train, chain.model, "output"),
        (chain.model, chain.score, "input"),
        (chain.score, chain.scores, "output"),
        (chain.model, "deployment:m/1", "served"),
    }
    by_uri = {n.uri: n for n in graph.nodes}
    assert by_uri[chain.model].details["aliases"] == ["champion"]
    assert by_uri[chain.train].details["status"] == "finished"
    assert by_uri[chain.raw].details["files"] == 1 and by_uri[chain.raw].details["size"] > 0
    assert by_uri["deployment:m/1"].details["rows"] == 12
    down = registry.lineage_graph(chain.raw, depth=3)
    assert _levels(down) == {chain.raw: 0, chain.train: 1, chain.model: 2, chain.score: 3}
    assert [n.uri for n in down.nodes if n.cut] == [chain.score]  # scores is a 4th step away
    assert registry.lineage_graph("models:/m@champion", depth=0).nodes[0].uri == chain.model
    assert _levels(registry.lineage_graph(chain.score, depth=1)) == {
        chain.model: -1,
        chain.score: 0,
        chain.scores: 1,
    }
    assert serving.with_deployments(registry.lineage_graph(chain.raw, depth=2)).nodes[-1].uri == (
        chain.model  # served m/1 is a third step away from raw
    )


def test_the_node_limit_cuts_the_graph_and_says_so(
    quiet_capture: None, store: Store, project: Path
) -> None:
    """With a limit of 2 nodes the graph holds the centre and one neighbour, marks it truncated
    and keeps no edge to a node left out."""
    chain = build_chain(project, served=False)
    graph = registry.lineage_graph(chain.train, limit=2)
    assert graph.truncated and len(graph.nodes) == 2
    uris = {n.uri for n in graph.nodes}
    assert all(e.src in uris and e.dst in uris for e in graph.edges)
    assert not registry.lineage_graph(chain.train).truncated


BAD: list[tuple[str, Any, type[Exception], str]] = [
    ("", 3, InvalidInputError, "must not be empty"),
    ("garbage", 3, InvalidInputError, "data:<name>@v<N>"),
    ("runs:/../../x", 3, InvalidInputError, "runs:/<run id>"),
    ("data:a\x00b@v1", 3, InvalidInputError, "NUL"),
    ("\ud800", 3, InvalidInputError, "surrogate"),
    ("x" * 5000, 3, InvalidInputError, "limit is 1000"),
    ("data:raw@v0x", 3, InvalidInputError, "data:<name>@v<N>"),
    ("models:/m/zero", 3, InvalidInputError, "models:/<name>/<N>"),
    ("data:raw@v1", -1, InvalidInputError, "depth"),
    ("data:raw@v1", 10**30, InvalidInputError, "depth"),
    ("data:raw@v1", "abc", InvalidInputError, "depth"),
    ("data:nothing@v1", 3, NotFoundError, "cairn data ls"),
    ("runs:/01ZZZZZZZZZZZZZZZZZZZZZZZZ", 3, NotFoundError, "no run"),
    ("models:/nothing/1", 3, NotFoundError, "no model"),
    ("retraining:", 3, InvalidInputError, "retraining:<N>"),
    ("retraining:0", 3, InvalidInputError, "retraining:<N>"),
    ("retraining:-1", 3, InvalidInputError, "retraining:<N>"),
    ("retraining:seven", 3, InvalidInputError, "retraining:<N>"),
    ("retraining:7\x00", 3, InvalidInputError, "NUL"),
    ("retraining:" + "9" * 30, 3, InvalidInputError, "retraining:<N>"),
    ("retraining:99999999999999999999", 3, InvalidInputError, "retraining:<N>"),
    ("retraining:9223372036854775807", 3, NotFoundError, "no retraining #9223372036854775807"),
    ("retraining:12", 3, NotFoundError, "cairn models history"),
]


def test_bad_uris_and_depths_are_refused_clearly(store: Store) -> None:
    """A malformed URI or depth is an InvalidInputError naming the accepted forms; an unknown
    node a NotFoundError saying where to look."""
    for uri, depth, error, message in BAD:
        with pytest.raises(error) as caught:
            registry.lineage_graph(uri, depth=depth)
        assert message in str(caught.value), (uri, depth)
