"""A pipeline run's steps read back as a graph: status, cache flag, duration and edges."""

from __future__ import annotations

import pytest

import cairn
from cairn import pipelines
from cairn.core.errors import NotFoundError
from tests.pipelines.conftest import WriteModule


def test_the_graph_of_a_run_holds_each_step_status_and_its_recorded_inputs(
    quiet_capture: None, write_module: WriteModule
) -> None:
    """A failed step is failed with its edges in (it read its inputs before it failed), the
    step below it skipped (its edge from the step its reason names), a step
    served from the cache reads as cached with the run it reused, and the edges are the
    run -> run inputs the coordinator recorded."""
    write_module(
        "graph_flow",
        """
        import cairn

        @cairn.step
        def load(n):
            return list(range(n))

        @cairn.step
        def fit(values, fail):
            if fail:
                raise RuntimeError("no fit today")
            return sum(values)

        @cairn.step
        def report(score):
            return str(score)

        @cairn.pipeline
        def flow(n: int = 3, fail: bool = False):
            return report(fit(load(n), fail))
        """,
    )
    first = pipelines.run_pipeline("graph_flow:flow", {"fail": True}, executor="inline")
    graph = pipelines.pipeline_run_graph(first.run_id)
    assert graph.name == "flow" and graph.status == "failed"
    by_node = {s.node: s for s in graph.steps}
    assert {n: s.status for n, s in by_node.items()} == {
        "load": "finished", "fit": "failed", "report": "skipped",
    }  # fmt: skip
    assert "no fit today" in (by_node["fit"].error or "")
    assert by_node["load"].duration_s is not None and not by_node["load"].cached
    assert set(graph.edges) == {("load", "fit"), ("fit", "report")}

    second = pipelines.run_pipeline("graph_flow:flow", executor="inline")
    again = pipelines.pipeline_run_graph(second.run_id[:20])  # a unique prefix will do
    load = again.steps[0]
    assert (load.node, load.status, load.cached) == ("load", "cached", True)
    assert load.cached_from == first.step("load").run_id
    assert [s.run_id for s in again.steps] == [second.step(s.node).run_id for s in again.steps]
    assert set(again.edges) == {("load", "fit"), ("fit", "report")}


def test_a_run_that_is_no_pipeline_run_is_not_found(quiet_capture: None) -> None:
    """A plain run, or an id no run has, is a NotFoundError that says where to look."""
    with cairn.run() as run:
        pass
    with pytest.raises(NotFoundError, match="not a pipeline run"):
        pipelines.pipeline_run_graph(run.id)
    with pytest.raises(NotFoundError):
        pipelines.pipeline_run_graph("0" * 26)
