"""The runs table: values, filters (and where they break), "only what differs", sorting,
selection (compare, delete, restore), CSV export, hostile query values and speed."""

from __future__ import annotations

import csv
import io
import time
import warnings
from typing import Any

import pytest

import cairn
from cairn import tracking
from cairn.store import Store, get_store
from cairn.ui import create_app
from tests.ui.conftest import http_get, shot

with warnings.catch_warnings():
    # starlette asks for httpx2 at import; the client works the same on httpx.
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

pytestmark = pytest.mark.usefixtures("quiet_capture")


def _runs() -> list[str]:
    """Three runs: lr and auc differ, ``batch`` is the same everywhere."""
    ids = []
    for i, (lr, auc) in enumerate([(0.1, 0.61), (0.01, 0.83), (0.001, 0.72)]):
        with cairn.run(
            name=f"trial-{i}",
            experiment="churn",
            params={"lr": lr, "batch": 32, "optim": "adam"},
            tags={"team": "nlp"},
        ) as run:
            cairn.log({"auc": auc, "loss": 1 - auc})
        ids.append(run.id)
    return ids


def _navigate(page: Any, selector: str) -> None:
    """Click ``selector`` and wait for the page it leads to (even at the same URL) to load."""
    page.evaluate("window.cairnStale = true")
    page.click(selector)
    page.wait_for_function("window.cairnStale === undefined")
    page.wait_for_load_state()


def _shown(page: Any) -> list[str]:
    return list(
        page.locator("table.runs tbody tr").evaluate_all("rs => rs.map(r => r.dataset.run)")
    )


def test_the_table_shows_filters_sorts_and_hides_what_is_equal(ui_server: Any, page: Any) -> None:
    """Every run appears with its values; a filter narrows the table and a broken one shows a
    caret where it breaks; "only show what differs" hides the equal param; a metric sorts."""
    ids = _runs()
    server = ui_server()
    page.goto(f"{server.url}/runs")
    assert sorted(_shown(page)) == sorted(r.id for r in tracking.find_runs())
    row = page.locator(f"tr[data-run='{ids[1]}']")
    assert "trial-1" in row.inner_text() and "0.83" in row.inner_text()
    assert "0.01" in row.inner_text() and "finished" in row.inner_text()
    assert page.locator(f"a[href='/runs/{ids[1]}']").count() == 1
    shot(page, "runs")

    page.fill("#filter", "metrics.auc > 0.7")
    _navigate(page, "#search-form button[type=submit]")
    assert sorted(_shown(page)) == sorted(ids[1:])

    answer = page.goto(f"{server.url}/runs?filter=metrics.auc%20%3E%3E%200.7")
    assert answer.status == 400
    caret = page.locator("pre.filter-error").inner_text().split("\n")
    assert caret[0] == "metrics.auc >> 0.7" and caret[1] == " " * 13 + "^"
    assert "position 13" in page.locator("#filter-error").inner_text()

    page.goto(f"{server.url}/runs?diff=1")
    headers = page.locator("table.runs thead th[data-column]")
    names = headers.evaluate_all("hs => hs.map(h => h.dataset.column)")
    assert "params.lr" in names and "metrics.auc" in names
    assert "params.batch" not in names and "params.optim" not in names
    assert "params.batch" in page.locator("#same-note").inner_text()

    _navigate(page, "th[data-column='metrics.auc'] a")
    first = page.locator("th[data-column='metrics.auc']").get_attribute("aria-sort")
    expected = [ids[1], ids[2], ids[0]] if first == "descending" else [ids[0], ids[2], ids[1]]
    assert first in ("ascending", "descending") and _shown(page) == expected
    _navigate(page, "th[data-column='metrics.auc'] a")
    assert _shown(page) == list(reversed(expected))


def test_selected_runs_are_compared_deleted_and_restored(ui_server: Any, page: Any) -> None:
    """Two ticked runs lead to /compare?runs=a,b; Delete hides a ticked run (restorable), and
    Restore among the deleted runs brings it back."""
    ids = _runs()
    server = ui_server()
    page.route(
        "**/compare?*", lambda route: route.fulfill(body="compare", content_type="text/plain")
    )
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(f"{server.url}/runs?order=run_name")
    page.check(f"input[name=runs][value='{ids[0]}']")
    page.check(f"input[name=runs][value='{ids[2]}']")
    assert page.locator("#selected-count").inner_text() == "2 selected"
    page.click("#compare-selected")
    page.wait_for_url("**/compare?*")
    assert page.url.endswith(f"/compare?runs={ids[0]},{ids[2]}")

    page.goto(f"{server.url}/runs?order=run_name")
    page.check(f"input[name=runs][value='{ids[1]}']")
    _navigate(page, "#delete-selected")
    assert page.url.endswith("/runs?order=run_name")
    assert {r.id for r in tracking.find_runs()} == {ids[0], ids[2]}
    assert ids[1] not in _shown(page)

    page.check("#deleted")
    _navigate(page, "#search-form button[type=submit]")
    page.check(f"input[name=runs][value='{ids[1]}']")
    _navigate(page, "#restore-selected")
    assert "deleted=1" in page.url
    assert {r.id for r in tracking.find_runs()} == set(ids)


def test_the_csv_export_holds_every_matching_run_with_the_shown_columns(ui_server: Any) -> None:
    """``/runs.csv`` answers all matching runs (not one page), in the table's order, with the
    chosen columns, quoted so that commas and quotes survive."""
    ids = _runs()
    with cairn.run(name='odd, "quoted"', experiment="churn", params={"lr": 0.5}):
        cairn.log({"auc": 0.5})
    server = ui_server()
    query = "limit=1&order=metrics.auc%20DESC&columns=params.lr,metrics.auc,tags.team"
    answer = http_get(f"{server.url}/runs.csv?{query}")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    records = tracking.find_runs(order_by="metrics.auc DESC")
    assert [r["run_id"] for r in rows] == [r.id for r in records] and len(rows) == 4
    for row, record in zip(rows, records, strict=True):
        assert row["run_name"] == record.name and row["status"] == record.status
        assert float(row["params.lr"]) == record.params["lr"]
        assert float(row["metrics.auc"]) == record.metrics["auc"]
        assert row["tags.team"] == record.tags.get("team", "")
    assert set(ids) <= {r["run_id"] for r in rows}


HOSTILE = [
    ("filter=a%00b", "NUL"),
    ("filter=" + "x" * 5000, "invalid filter at position 0"),
    ("offset=-1", "offset"),
    ("limit=" + "1" + "0" * 30, "limit"),
    ("limit=abc", "whole number"),
    ("order=nope%20DESC", "invalid order-by"),
    ("order=params.lr%20SIDEWAYS", "invalid order-by"),
    ("columns=../etc/passwd", "unknown column"),
    ("columns=params.lr,%2E%2E%2Fetc", "unknown column"),
    ("experiment=no-such", "no experiment"),
]


def test_hostile_query_values_and_changes_answer_a_clear_4xx(store: Store) -> None:
    """Each bad query value answers a 4xx that says what is wrong (never a 500), on the table,
    its JSON and its CSV; a delete with no run ticked, of an unknown run, or from another
    site is refused and changes nothing."""
    ids = _runs()
    client = TestClient(create_app(auth=False, store=store), raise_server_exceptions=False)
    for query, words in HOSTILE:
        for path in ("/runs.json", "/runs.csv", "/runs"):
            answer = client.get(f"{path}?{query}")
            assert 400 <= answer.status_code < 500, (path, query[:40], answer.text[:300])
            assert words in answer.text, (path, answer.text[:300])
            assert "Traceback" not in answer.text
    here = {"origin": "http://testserver"}
    empty = client.post("/runs/delete", data={}, headers=here)
    assert empty.status_code == 400 and "select at least one run" in empty.text
    foreign = client.post("/runs/delete", data={"runs": ids[0]}, headers={"origin": "http://x.y"})
    assert foreign.status_code == 403
    unknown = client.post("/runs/restore", data={"runs": "zz" * 13}, headers=here)
    assert unknown.status_code == 404 and "no run with id" in unknown.text
    assert {r.id for r in tracking.find_runs()} == set(ids)


def _fill(count: int) -> None:
    """``count`` runs with 5 params, 3 metrics and 2 tags each, written in one transaction."""
    from cairn.core.ids import new_id
    from cairn.store.db.schema import (
        experiments,
        latest_metrics,
        metric_keys,
        params,
        run_tags,
        runs,
    )

    now = int(time.time() * 1000)

    def fill(conn: Any) -> None:
        conn.execute(experiments.insert(), [{"name": "bench", "created_ms": now}])
        eid = conn.execute(experiments.select().where(experiments.c.name == "bench")).one().id
        conn.execute(metric_keys.insert(), [{"name": k} for k in ("auc", "loss", "acc")])
        keys = {r.name: r.id for r in conn.execute(metric_keys.select())}
        base = {"experiment_id": eid, "status": "finished", "user": "ana", "heartbeat_ms": now}
        conn.execute(
            runs.insert(),
            [
                {
                    **base,
                    "uid": new_id(now - i),
                    "name": f"b{i}",
                    "start_ms": now - i,
                    "end_ms": now,
                }
                for i in range(count)
            ],
        )
        ids = list(conn.execute(runs.select().with_only_columns(runs.c.id)).scalars())
        p, m, t = [], [], []
        for n, run_id in enumerate(ids):
            for key, value in (("lr", n / count), ("bs", 32), ("layers", n % 7), ("drop", 0.1)):
                p.append(
                    {
                        "run_id": run_id,
                        "key": key,
                        "value": str(value),
                        "num": value,
                        "is_json": True,
                    }
                )
            p.append(
                {"run_id": run_id, "key": "opt", "value": "adam", "num": None, "is_json": False}
            )
            for key in ("auc", "loss", "acc"):
                m.append(
                    {
                        "run_id": run_id,
                        "key_id": keys[key],
                        "step": 0,
                        "ts_ms": now,
                        "value": (n % 97) / 97,
                    }
                )
            t += [
                {"run_id": run_id, "key": "team", "value": "nlp"},
                {"run_id": run_id, "key": "i", "value": str(n)},
            ]
        conn.execute(params.insert(), p)
        conn.execute(latest_metrics.insert(), m)
        conn.execute(run_tags.insert(), t)

    get_store().db.transact(fill)


def test_ten_thousand_runs_page_sort_and_filter_in_sql() -> None:
    """With 10,000 runs the table and its JSON page, sort by a metric and filter (paging,
    counting and the keys done in SQL; how fast is benchmarks/ui.py's figure)."""
    _fill(10_000)
    client = TestClient(create_app(auth=False))
    client.get("/runs.json")  # the first request imports the app's modules
    for url in (
        "/runs.json",
        "/runs",
        "/runs?order=metrics.auc%20DESC&offset=5000",
        "/runs.json?filter=metrics.auc%20%3E%200.5%20AND%20params.lr%20%3C%200.3&diff=1",
    ):
        answer = client.get(url)
        assert answer.status_code == 200, url
    page = client.get("/runs.json?order=metrics.auc%20DESC&offset=5000&limit=50").json()
    assert page["total"] == 10_000 and len(page["runs"]) == 50
    assert client.get("/runs.json").json()["total"] == 10_000
