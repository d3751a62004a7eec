"""The closed loop in the web UI: the model page lists its retrainings (with the decision, and
links to each one's lineage and pipeline run) and its retraining policy, the ``.json`` twin
carries the same, and the lineage page draws a retraining as its own kind of node."""

from __future__ import annotations

import urllib.parse
from typing import Any

import httpx

from cairn import loop
from cairn.store import Store
from tests.loop.conftest import MODEL, Wine, wine  # noqa: F401  (the loop's test world)
from tests.loop.test_lineage import promote
from tests.ui.conftest import http_get, shot


def test_the_model_page_lists_a_promotion_and_its_lineage_shows_the_retraining(
    wine: Wine,  # noqa: F811  (the fixture imported above)
    ui_server: Any,
    page: Any,
) -> None:
    """After a promoted retraining the model page (and its JSON) shows it with its trigger,
    both versions, the decision and the policy; its lineage link draws the retraining node,
    whose side panel says how it ended; its pipeline run link opens the run."""
    done, ref = promote(wine)
    server = ui_server()
    data = http_get(f"{server.url}/models/{MODEL}.json").json()
    [row] = data["retrainings"]
    assert row["number"] == done.id and row["state"] == "promoted"
    assert row["decision"] == done.reason and row["trigger"] == done.trigger
    assert row["challenger"] == 2 and row["champion"] == 1
    assert row["dataset_version"] == ref and row["validation"]["passed"] is True
    assert row["scores"]["challenger"]["accuracy"] > row["scores"]["champion"]["accuracy"]
    lineage = "/lineage?of=" + urllib.parse.quote(f"retraining:{done.id}", safe="")
    assert row["lineage_href"] == lineage
    assert row["run_href"] == f"/runs/{done.pipeline_run}"
    policy = data["policy"]
    assert policy["pipeline"] == "winepipe:training" and policy["triggers"] == ["data wine"]
    assert policy["holdout"] == "wine-holdout" and policy["rule"] == "accuracy >= champion.accuracy"

    page.goto(f"{server.url}/models/{MODEL}")
    listed = page.locator(f"#retraining-{done.id}")
    text = listed.inner_text()
    assert "promoted" in text and done.trigger in text and "v2" in text and "v1" in text
    assert "version 2 promoted to champion" in text
    assert "accuracy >= champion.accuracy" in page.locator("table.policy").inner_text()
    assert http_get(server.url + row["run_href"]).status_code == 200
    page.evaluate(f"document.getElementById('retraining-{done.id}').scrollIntoView()")
    shot(page, "model-retrainings")
    listed.get_by_role("link", name=f"Lineage of retraining #{done.id}").click()
    page.wait_for_selector("#lineage-graph canvas")
    node = f"retraining:{done.id}"
    kind = page.evaluate(f"window.cairnLineage.getElementById({node!r}).data('kind')")
    assert kind == "retraining"
    shown = page.evaluate(
        "window.cairnLineage.nodes().map((n) => n.id())",
    )
    assert f"data:{ref}" in shown and f"runs:/{done.pipeline_run}" in shown
    assert f"models:/{MODEL}/2" in shown
    panel = page.locator("#lineage-details")
    assert panel.locator("h3").inner_text() == f"retraining #{done.id}"
    facts = panel.inner_text()
    assert "promoted" in facts and ref in facts and "challenger scores" in facts
    assert panel.locator(f"a[href='/models/{MODEL}#retraining-{done.id}']").count() == 1
    edges = page.locator("#lineage-edges").inner_text()
    assert "promoted by the retraining" in edges and "pipeline run of the retraining" in edges
    shot(page, "lineage-retraining")

    loop.remove_policy(MODEL)
    data = http_get(f"{server.url}/models/{MODEL}.json").json()
    assert data["policy"] is None and [r["number"] for r in data["retrainings"]] == [done.id]


BAD = [
    ("of=retraining:", 400, "retraining:<N>"),
    ("of=retraining:0", 400, "retraining:<N>"),
    ("of=retraining:-3", 400, "retraining:<N>"),
    ("of=retraining:1%00", 400, "NUL"),
    ("of=retraining:%ED%A0%80", 400, "retraining:<N>"),
    ("of=retraining:" + "9" * 5000, 400, "limit is 1000"),
    ("of=retraining:" + "9" * 30, 400, "retraining:<N>"),
    ("of=retraining:1.5", 400, "retraining:<N>"),
    ("of=retraining:../../etc", 400, "retraining:<N>"),
    ("of=retraining:42", 404, "no retraining #42"),
]


def test_bad_retraining_nodes_are_clear_4xx_answers(store: Store, ui_server: Any) -> None:
    """A malformed retraining node is a 400 saying how to write one, an unknown one a 404,
    never a 500, as JSON and as a page."""
    server = ui_server()
    with httpx.Client(timeout=30, base_url=server.url) as client:
        for query, status, message in BAD:
            answer = client.get(f"/lineage.json?{query}")
            assert answer.status_code == status, (query[:60], answer.text[:200])
            assert message in answer.json()["error"]["message"], query[:60]
            shown = client.get(f"/lineage?{query}")
            assert shown.status_code == status and "Traceback" not in shown.text, query[:60]
