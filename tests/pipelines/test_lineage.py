"""A model logged by a pipeline step traces back through the steps above it to the data."""

from __future__ import annotations

from pathlib import Path

import cairn
from tests.pipelines.conftest import WriteModule


def test_model_lineage_follows_step_to_step_edges(
    project: Path, quiet_capture: None, write_module: WriteModule
) -> None:
    """`models lineage` of a model a later step registered reaches the dataset an earlier step
    read, through the run -> run edges between the steps."""
    (project / "rows.csv").write_text("x,y\n1,2\n3,4\n")
    cairn.data.add(project / "rows.csv", name="rows")
    write_module(
        "lineage_flow",
        """
        import cairn

        @cairn.step
        def load():
            return cairn.data.load("rows")

        @cairn.step
        def fit(frame):
            from sklearn.dummy import DummyRegressor

            model = DummyRegressor().fit(frame[["x"]], frame["y"])
            return cairn.log_model(model, "toy").version

        @cairn.pipeline
        def flow():
            return fit(load())
        """,
    )
    result = cairn.pipelines.run_pipeline("lineage_flow:flow", executor="inline")
    assert result.status == "finished", result.steps
    tree = cairn.registry.model_lineage("toy").to_dict()

    def refs(node: dict, kind: str) -> set[str]:
        found = {node["ref"]} if node["kind"] == kind else set()
        for parent in node["parents"]:
            found |= refs(parent, kind)
        return found

    assert "rows@v1" in refs(tree, "dataset_version")
    assert {result.step("load").run_id, result.step("fit").run_id} <= refs(tree, "run")
