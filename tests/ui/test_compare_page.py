"""The compare page: overlaid and grouped metric charts, the params table, parallel coordinates,
the runs diff, and clear 4xx answers to bad requests."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from cairn.store import Store
from cairn.tracking import start_run
from tests.ui.conftest import http_get, shot

pytestmark = pytest.mark.usefixtures("quiet_capture")

RUNS = (("adam", 0, 0.9), ("adam", 1, 0.85), ("sgd", 0, 0.97), ("sgd", 1, 0.95))


def make_runs(steps: int) -> list[str]:
    """Four runs: two optimisers (param ``opt``), two seeds each, a decreasing ``loss`` and a
    rising ``accuracy``."""
    ids = []
    for opt, seed, decay in RUNS:
        run = start_run(name=f"{opt}-s{seed}", params={"opt": opt, "lr": 0.01})
        run.set_tags({"cairn.seed": str(seed)})
        for step in range(steps):
            noise = 0.04 * np.sin(step * (seed + 1.3))
            loss = float(2.0 * decay**step + noise + 0.1 * seed)
            run.log({"loss": loss, "accuracy": 1.0 - loss / 2.5}, step=step)
        run.end()
        ids.append(run.id)
    return ids


def test_the_page_overlays_groups_and_diffs_four_runs(ui_server: Any, page: Any) -> None:
    """One chart line per run, two groups with numpy's mean ± std, the differing param
    highlighted (and alone with diff=1), a polyline per run and the seed in the runs diff."""
    ids = make_runs(30)
    server = ui_server()
    runs = ",".join(ids)

    def series(**params: str) -> list[dict[str, Any]]:
        url = f"{server.url}/compare/series.json"
        answer = http_get(url, params={"runs": runs, "key": "loss", **params})
        return list(answer.json()["series"])

    per_run = {line["run_id"]: line["y"] for line in series()}
    grouped = series(group="params.opt")
    assert [g["label"] for g in grouped] == ["opt=adam (2 runs)", "opt=sgd (2 runs)"]
    for group in grouped:
        table = np.array([per_run[r] for r in group["run_ids"]])
        assert sorted(group["run_ids"]) == sorted(
            i for i, (opt, _, _) in zip(ids, RUNS, strict=True) if opt == group["value"]
        )
        assert np.allclose(group["y"], table.mean(axis=0))
        assert np.allclose(group["std"], table.std(axis=0))

    page.goto(f"{server.url}/compare?runs={runs}&smooth=0.3")
    page.wait_for_selector(".compare-chart[data-key='loss'][data-lines='4'] .u-legend")
    loss = page.locator(".compare-chart[data-key='loss']")
    legend = loss.locator(".u-legend .u-series .u-label").all_inner_texts()
    for name in ("adam-s0", "adam-s1", "sgd-s0", "sgd-s1"):
        assert sum(label.startswith(name + " · ") for label in legend) == 1
    changed = page.locator("#compare-table tr.changed").evaluate_all(
        "rows => rows.map(r => r.dataset.key)"
    )
    assert [key for key in changed if key.startswith("params.")] == ["params.opt"]
    assert page.locator("#compare-table tr[data-key='params.lr']").count() == 1
    assert page.locator("#parallel svg polyline.pc-line").count() == 4
    seed = page.locator("#runs-diff [data-section='seed']")
    assert "cairn.seed" in seed.inner_text() and "1 differ" in seed.inner_text()
    shot(page, "compare")

    page.goto(f"{server.url}/compare?runs={runs}&group=params.opt&diff=1")
    page.wait_for_selector(".compare-chart[data-key='loss'][data-lines='2'] .u-legend")
    legend = loss.locator(".u-legend .u-series .u-label").all_inner_texts()
    assert "opt=adam (2 runs)" in legend and "opt=sgd (2 runs)" in legend
    assert page.locator("#compare-table tr[data-key='params.lr']").count() == 0
    assert page.locator("#compare-table tr[data-key='params.opt']").count() == 1


def test_without_runs_the_page_says_how_to_pick_them(ui_server: Any) -> None:
    """``/compare`` alone explains how to choose runs and links to the runs page."""
    server = ui_server()
    answer = http_get(f"{server.url}/compare")
    assert answer.status_code == 200
    assert 'href="/runs"' in answer.text and "filter" in answer.text


def test_a_filter_compares_a_whole_search(ui_server: Any) -> None:
    """``filter=`` compares the runs the search finds, as the runs table's filter language."""
    make_runs(3)
    server = ui_server()
    answer = http_get(f"{server.url}/compare.json", params={"filter": "params.opt = 'sgd'"})
    assert answer.status_code == 200
    assert sorted(r["name"] for r in answer.json()["runs"]) == ["sgd-s0", "sgd-s1"]


def test_bad_requests_answer_a_clear_4xx_on_both_stores(store: Store, ui_server: Any) -> None:
    """Unknown, NUL, overlong and too many ids, a bad x axis, a missing param or metric and
    wrong point counts answer 4xx with a message that says what is wrong, never a 500."""
    ids = make_runs(3)
    server = ui_server()
    runs = ",".join(ids)
    cases: list[tuple[str, dict[str, str], int, str]] = [
        ("/compare.json", {"runs": "0" * 26}, 404, "no run with id"),
        ("/compare.json", {"runs": f"{ids[0]},zzzz-nope"}, 404, "zzzz-nope"),
        ("/compare.json", {"runs": "a\x00b"}, 400, "NUL"),
        ("/compare.json", {"runs": "x" * 5000}, 404, "5,000 characters"),
        ("/compare.json", {"runs": ",".join(["x"] * 10_000)}, 400, "too many"),
        ("/compare.json", {"runs": runs, "x": "bogus"}, 400, "x axis"),
        ("/compare.json", {"runs": runs, "x": "metric:a\x00b"}, 400, "x axis"),
        ("/compare.json", {"runs": runs, "group": "params.missing"}, 400, "missing"),
        ("/compare.json", {"runs": runs, "group": "opt"}, 400, "params.<key>"),
        ("/compare.json", {"runs": runs, "smooth": "abc"}, 400, "smoothing"),
        ("/compare.json", {"runs": runs, "color": "nope"}, 400, "colour"),
        ("/compare.json", {"runs": runs, "a": ids[0], "b": "../etc/passwd"}, 404, "no run"),
        ("/compare.json", {"filter": "params.opt ="}, 400, "filter"),
        ("/compare/series.json", {"runs": runs, "key": "loss", "x": "bogus"}, 400, "x axis"),
        ("/compare/series.json", {"runs": runs, "key": "nope"}, 404, "metric"),
        ("/compare/series.json", {"runs": runs, "key": "loss", "points": "abc"}, 400, "points"),
        ("/compare/series.json", {"runs": runs, "key": "loss", "points": str(10**30)}, 400, ""),
        ("/compare/series.json", {"runs": runs, "key": "loss", "points": "-5"}, 400, "points"),
        ("/compare/series.json", {"runs": runs, "key": "loss", "x": "metric:nope"}, 404, ""),
        ("/compare/series.json", {"key": "loss"}, 400, "runs"),
        (
            "/compare/series.json",
            {"runs": runs, "key": "loss", "group": "params.missing"},
            400,
            "missing",
        ),
    ]
    for path, params, status, words in cases:
        answer = http_get(f"{server.url}{path}", params=params)
        assert answer.status_code == status, (path, params, answer.text[:300])
        message = answer.json()["error"]["message"]
        assert words in message and "Traceback" not in message, (path, message)
    for query in (f"runs={runs}&key=%ED%A0%80", "runs=%ED%A0%80&key=loss"):
        answer = http_get(f"{server.url}/compare/series.json?{query}")
        assert answer.status_code == 404 and "error" in answer.json(), query
    many = ",".join(ids * 70)  # repeats count: 210 ids are refused before any is looked up
    assert http_get(f"{server.url}/compare.json", params={"runs": many}).status_code == 400
