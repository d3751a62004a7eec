"""The pipelines pages (runs, the step graph coloured by status) and the monitoring pages
(drift per feature over time, alerts, the HTML report)."""

from __future__ import annotations

import importlib
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from cairn import monitoring, pipelines
from cairn.registry import PythonModel
from cairn.store import Store, get_store
from tests.ui.conftest import shot

HOUR = 3_600_000
T0 = 1_780_000_000_000 - 1_780_000_000_000 % HOUR

_FLOW = """
import cairn


@cairn.step
def load(rows):
    return list(range(rows))


@cairn.step
def double(values):
    return [2 * v for v in values]


@cairn.step
def total(values):
    return sum(values)


@cairn.pipeline
def tiny(rows: int = 5):
    return total(double(load(rows)))
"""


@pytest.fixture
def tiny_flow(project: Path) -> Iterator[str]:
    """The target of a three-step pipeline (load -> double -> total) written into the project."""
    (project / "tiny_flow.py").write_text(textwrap.dedent(_FLOW))
    sys.modules.pop("tiny_flow", None)
    importlib.invalidate_caches()
    yield "tiny_flow:tiny"
    sys.modules.pop("tiny_flow", None)
    while str(project.resolve()) in sys.path:
        sys.path.remove(str(project.resolve()))


def test_a_pipeline_page_draws_each_step_with_its_status_and_cache_flag(
    quiet_capture: None, tiny_flow: str, ui_server: Any, page: Any
) -> None:
    """The list shows the pipeline's newest run; its page lists every step of the chosen run
    with the status and cached flag the store recorded, and Cytoscape draws the graph with
    the recorded dependencies as edges."""
    first = pipelines.run_pipeline(tiny_flow, executor="inline")
    second = pipelines.run_pipeline(tiny_flow, executor="inline", force=["total"])
    assert first.status == second.status == "finished"
    assert all(not s.stale for s in pipelines.pipeline_status(tiny_flow))
    recorded = pipelines.pipeline_run_graph(second.run_id)
    expected = {
        s.node: ("succeeded" if s.status == "finished" else s.status) for s in recorded.steps
    }
    assert expected == {"load": "cached", "double": "cached", "total": "succeeded"}
    assert set(recorded.edges) == {("load", "double"), ("double", "total")}
    server = ui_server()

    page.goto(f"{server.url}/pipelines")
    row = page.locator("#pipelines tbody tr")
    assert row.count() == 1 and "tiny" in row.inner_text()
    assert pipelines.find_pipeline_runs(name="tiny")[0].run_id[:12] in row.inner_text()
    page.click("#pipelines a[href='/pipelines/tiny']")

    page.wait_for_function("window.cairnStepGraph && window.cairnStepGraph.nodes().length === 3")
    assert page.locator("#step-graph canvas").count() >= 1
    assert page.evaluate("window.cairnStepGraph.edges().length") == 2
    for node, status in expected.items():
        cells = page.locator(f"#steps tr[data-node='{node}']")
        assert cells.get_attribute("data-status") == status
        assert cells.get_attribute("data-cached") == ("yes" if status == "cached" else "no")
        link = cells.locator("a[href^='/runs/']").last
        assert link.get_attribute("href") == f"/runs/{second.step(node).run_id}"
    assert "cached from" in page.locator("#steps tr[data-node='load']").inner_text()
    shot(page, "pipelines")

    page.click(f"#pipeline-runs a[href*='{first.run_id}']")
    page.wait_for_function("window.cairnStepGraph && window.cairnStepGraph.nodes().length === 3")
    statuses = page.locator("#steps tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.status)"
    )
    assert statuses == ["succeeded"] * 3
    assert page.locator("#pipeline-runs tr.selected").inner_text().startswith(first.run_id[:12])


class Constant(PythonModel):
    """Predicts 0.5 for every row (a model to monitor, without a framework to import)."""

    def predict(self, inputs: Any) -> Any:
        return [0.5] * len(inputs)


def _drift_report(age_effect: float) -> Any:
    """A drift report as ``compare`` makes one: age moved by ``age_effect`` sd, city did not."""
    moved = age_effect >= 0.5
    columns = [
        monitoring.ColumnDrift(
            "age", "numeric", "drift" if moved else "no drift", "wasserstein+ks",
            0.1 + age_effect / 3, 10.0 ** (-40 * age_effect) if moved else 0.4, age_effect,
            300, 300,
        ),
        monitoring.ColumnDrift(
            "city", "categorical", "no drift", "chi2", 1.9, 0.17, 0.04, 300, 300
        ),
    ]  # fmt: skip
    return monitoring.DriftReport(columns, 300, 300)


def _keep_monitoring_history(name: str) -> None:
    """Three drift windows of model ``name`` (age drifting in the last two), two quality
    windows and an alert: what ``cairn monitor run`` and ``cairn monitor labels`` store, without a
    served model."""
    import cairn
    from cairn.monitoring import _queries

    with cairn.run():
        cairn.log_model(Constant(), name)
    reports = [_drift_report(effect) for effect in (0.05, 1.0, 1.5)]

    def save(conn: Any) -> None:
        for i, report in enumerate(reports):
            start = T0 + i * HOUR
            _queries.save_window(
                conn, model=name, version=1, kind="drift", start_ms=start, end_ms=start + HOUR,
                rows=300, verdict=report.verdict, score=report.share, result=report.to_dict(),
                digest=None, now=start + HOUR,
            )  # fmt: skip
        for i, r2 in enumerate((0.9, 0.7)):
            start = T0 + i * HOUR
            _queries.save_window(
                conn, model=name, version=1, kind="quality", start_ms=start, end_ms=start + HOUR,
                rows=50, verdict="ok", score=r2, result={"task": "regression", "main": "r2",
                "metrics": {"r2": {"value": r2}}, "notes": []}, digest=None, now=start + HOUR,
            )  # fmt: skip
        _queries.insert_alert(
            conn, rule="age-drift", subject=name, window_start_ms=T0 + 2 * HOUR,
            window_end_ms=T0 + 3 * HOUR, message="feature age drifted", evidence={"share": 0.5},
            delivery="none", now=T0 + 3 * HOUR,
        )  # fmt: skip

    get_store().db.transact(save)


def test_a_monitoring_page_charts_drift_per_feature_and_serves_the_report(
    quiet_capture: None, ui_server: Any, page: Any
) -> None:
    """The list shows the model's newest verdict and its firing alert; its page charts drift
    per feature, tables the newest window's features as the store holds them, lists the
    alert, and links the report, served as HTML that may run no script."""
    _keep_monitoring_history("churn")
    newest = monitoring.monitor_history("churn")[-1]
    drifted = {c["column"]: c["verdict"] == "drift" for c in newest.result["columns"]}
    server = ui_server()

    page.goto(f"{server.url}/monitoring")
    row = page.locator("#monitored tbody tr")
    assert row.count() == 1 and newest.verdict in row.inner_text()
    assert row.locator("td.num").nth(1).inner_text() == "1"  # one alert firing
    assert "age-drift" in page.locator("#alerts").inner_text()
    page.click("#monitored a[href='/monitoring/churn']")

    page.wait_for_selector("#chart-effect .uplot")
    assert page.locator("#chart-pvalue .uplot").count() == 1
    assert page.locator("#chart-quality .uplot").count() == 1
    assert page.locator("#quality tbody tr").count() == 2
    for feature, drift in drifted.items():
        cell = page.locator(f"#features tr[data-feature='{feature}']")
        assert cell.get_attribute("data-drift") == ("yes" if drift else "no")
    assert drifted["age"] is True
    assert "feature age drifted" in page.locator("#alerts").inner_text()
    shot(page, "monitoring")

    answer = page.request.get(f"{server.url}/monitoring/churn/report")
    assert answer.status == 200 and answer.headers["content-type"].startswith("text/html")
    policy = answer.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src" not in policy
    assert "<svg" in answer.text() and "age" in answer.text()
    assert page.locator("#report-link").get_attribute("href") == "/monitoring/churn/report"


HOSTILE = [
    ("/pipelines/a%00b.json", 400, "NUL"),
    ("/pipelines/" + "x" * 5000 + ".json", 400, "longer than"),
    ("/pipelines/nothing.json", 404, "no pipeline named"),
    ("/pipelines/..%2F..%2Fetc%2Fpasswd.json", 404, "there is no page"),
    ("/pipelines/tiny.json?run=garbage", 404, "garbage"),
    ("/pipelines/tiny.json?run=a%00b", 400, "NUL"),
    ("/pipelines/tiny.json?run=" + "x" * 5000, 400, "longer than"),
    ("/pipelines/tiny.json?run=" + str(10**30), 404, "no run with id"),
    ("/pipelines/tiny.json?run=-1", 404, "-1"),
    ("/pipelines/tiny.json?run=..%2Fetc%2Fpasswd", 404, "passwd"),
    ("/monitoring/a%00b.json", 400, "NUL"),
    ("/monitoring/" + "x" * 5000 + ".json", 400, "longer than"),
    ("/monitoring/nothing.json", 404, "nothing"),
    ("/monitoring/nothing/report", 404, "nothing"),
    ("/monitoring/a%00b/report", 400, "NUL"),
    ("/monitoring/" + "x" * 5000 + "/report", 400, "longer than"),
]


def test_hostile_names_and_runs_answer_a_clear_4xx(
    quiet_capture: None, store: Store, tiny_flow: str, ui_server: Any
) -> None:
    """NUL bytes, 5000-character names, huge numbers, traversal paths, unknown names and runs
    (and a step's run, which is no pipeline run) answer a 4xx whose message says what is
    wrong, never a 500; the page itself answers the 404 page."""
    run = pipelines.run_pipeline(tiny_flow, executor="inline")
    step = run.step("load").run_id
    with httpx.Client(timeout=30, base_url=ui_server().url) as client:
        assert client.get("/pipelines/tiny.json").json()["selected"] == run.run_id
        for path, status, words in [*HOSTILE, (f"/pipelines/tiny.json?run={step}", 404, step)]:
            answer = client.get(path)
            assert answer.status_code == status, (path[:60], answer.text[:300])
            shown = answer.json()["error"]["message"] if ".json" in path else answer.text
            assert words in shown, (path[:60], shown[:300])
        page = client.get("/pipelines/tiny", params={"run": "garbage"})
        assert page.status_code == 404 and "404 · Not found" in page.text
        page = client.get("/monitoring/nothing")
        assert page.status_code == 404 and "404 · Not found" in page.text
