"""The lineage page: the graph around a node (Cytoscape.js and a list of the same nodes), its
side panel, the starting page, and clear 4xx answers to bad URIs and depths."""

from __future__ import annotations

import urllib.parse
from pathlib import Path
from typing import Any

import httpx

from cairn.store import Store
from tests.registry.test_graph import build_chain
from tests.ui.conftest import http_get, shot


def _url(base: str, uri: str, depth: int | None = None) -> str:
    query = {"of": uri} if depth is None else {"of": uri, "depth": str(depth)}
    return f"{base}/lineage?{urllib.parse.urlencode(query)}"


def test_the_graph_goes_up_and_down_the_chain_and_shows_a_selected_node(
    quiet_capture: None, project: Path, ui_server: Any, page: Any
) -> None:
    """From models:/m/1 the graph (drawn on a canvas and listed below) holds the dataset, the
    runs, the model, the scores and the deployment; clicking a node or its list entry shows its
    facts and links; from the dataset the graph reaches the model; the start page offers it."""
    chain = build_chain(project)
    server = ui_server()
    data = http_get(_url(server.url, chain.model).replace("/lineage?", "/lineage.json?")).json()
    uris = {n["uri"] for n in data["nodes"]}
    assert uris == {
        chain.raw,
        chain.train,
        chain.model,
        chain.score,
        chain.scores,
        "deployment:m/1",
    }
    assert data["of"] == chain.model and len(data["edges"]) == 5
    page.goto(_url(server.url, chain.model))
    page.wait_for_selector("#lineage-graph canvas")
    assert page.evaluate("window.cairnLineage.nodes().length") == 6
    rows = page.locator("#lineage-nodes tbody tr")
    assert rows.count() == 6
    names = rows.all_inner_texts()
    for label in ("raw@v1", "train", "m/1", "score", "scores@v1", "served m/1"):
        assert any(label in row for row in names), label
    panel = page.locator("#lineage-details")
    assert panel.locator("h3").inner_text() == "m/1" and "@champion" in panel.inner_text()
    position = page.evaluate(
        f"(() => {{ const p = window.cairnLineage.getElementById({chain.train!r})"
        ".renderedPosition(); return [p.x, p.y]; })()"
    )
    box = page.locator("#lineage-graph").bounding_box()
    page.mouse.click(box["x"] + position[0], box["y"] + position[1])
    assert panel.locator("h3").inner_text() == "train"
    assert "finished" in panel.inner_text()
    run_id = chain.train.removeprefix("runs:/")
    assert panel.locator(f"a[href='/runs/{run_id}']").count() == 1
    page.locator(f"button.select-node[data-uri='{chain.raw}']").click()
    assert panel.locator("h3").inner_text() == "raw@v1"
    assert panel.locator("a[href='/data/raw/v1']").count() == 1
    recentre = panel.locator("a", has_text="Centre the graph here").get_attribute("href")
    assert recentre == "/lineage?of=" + urllib.parse.quote(chain.raw, safe="")
    page.locator(f"button.select-node[data-uri='{chain.model}']").click()
    page.evaluate("window.scrollTo(0, 0)")
    shot(page, "lineage")
    page.goto(server.url + recentre + "&depth=2")
    page.wait_for_selector("#lineage-graph canvas")
    assert "m/1" in page.locator("#lineage-nodes").inner_text()
    page.goto(f"{server.url}/lineage")
    page.locator("a", has_text="m/1").click()
    page.wait_for_selector("#lineage-graph canvas")  # the new page, not the start page
    assert page.locator("#lineage-nodes tbody tr").count() == 6
    served = http_get(f"{server.url}/lineage.json?of=deployment:m/1").json()
    assert served["of"] == "deployment:m/1"
    levels = {n["uri"]: n["level"] for n in served["nodes"]}
    assert levels["deployment:m/1"] == 0 and levels[chain.model] == -1
    assert levels[chain.raw] == -3


BAD = [
    ("of=", 400, "give the node"),
    ("of=garbage", 400, "data:<name>@v<N>"),
    ("of=data:a%00b@v1", 400, "NUL"),
    ("of=" + "x" * 5000, 400, "limit is 1000"),
    ("of=runs:/../../x", 400, "runs:/<run id>"),
    ("of=%ED%A0%80", 400, "lineage URI"),
    ("of=../etc/passwd", 400, "lineage URI"),
    ("of=data:raw@v1&depth=-1", 400, "0 to 10"),
    ("of=data:raw@v1&depth=" + str(10**30), 400, "0 to 10"),
    ("of=data:raw@v1&depth=abc", 400, "0 to 10"),
    ("of=data:raw@v99", 404, "cairn data ls"),
    ("of=runs:/01ZZZZZZZZZZZZZZZZZZZZZZZZ", 404, "no run"),
    ("of=models:/nothing@champion", 404, "no model"),
    ("of=deployment:../x", 400, "deployment:<model name>/<version number>"),
    ("of=deployment:m/0", 400, "deployment:<model name>/<version number>"),
    ("of=deployment:nothing/1", 404, "no model"),
]


def test_bad_nodes_and_depths_are_clear_4xx_answers(store: Store, ui_server: Any) -> None:
    """A malformed URI or depth is a 400 naming the accepted forms, an unknown node a 404,
    never a 500, as JSON and as a page; without ``of`` the page is the starting page."""
    server = ui_server()
    with httpx.Client(timeout=30, base_url=server.url) as client:
        for query, status, message in BAD:
            answer = client.get(f"/lineage.json?{query}")
            assert answer.status_code == status, (query, answer.text)
            assert message in answer.json()["error"]["message"], query
            page = client.get(f"/lineage?{query}")
            assert page.status_code == status and "Traceback" not in page.text, query
        assert client.get("/lineage.json").json() == {"of": None, "depth": 3, "starts": []}
