"""The data catalog pages: the list (filter, sort, staleness, edits in place), a dataset's
versions with the runs and models that used them, a version's files, and diffs."""

from __future__ import annotations

import urllib.parse
import warnings
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

import cairn
from cairn.core.ids import now_ms
from cairn.server import create_token
from cairn.server.audit import list_events
from cairn.store import Store, get_store
from cairn.store.db.schema.data import dataset_versions, datasets
from tests.ui.conftest import http_post, shot

with warnings.catch_warnings():
    # starlette asks for httpx2 at import; the client works the same on httpx.
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

DAY_MS = 86_400_000


class Echo(cairn.PythonModel):
    """A model that answers its inputs (enough to be registered)."""

    def predict(self, inputs: Any) -> Any:
        return inputs


def write(path: Path, text: str) -> None:
    """Write ``text`` to ``path``, making its folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def age_versions(name: str, days: float) -> None:
    """Pretend every version of ``name`` was added ``days`` ago."""
    ds_id = select(datasets.c.id).where(datasets.c.name == name).scalar_subquery()
    change = (
        update(dataset_versions)
        .where(dataset_versions.c.dataset_id == ds_id)
        .values(created_ms=now_ms() - int(days * DAY_MS))
    )
    get_store().db.transact(lambda conn: conn.execute(change))


def settled(page: Any, selector: str) -> None:
    """Wait until ``selector`` is on the page and htmx has wired it (it does so as the swap
    settles: a click before that would post the form without htmx)."""
    page.locator(selector).wait_for()
    page.wait_for_function(
        "() => !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')"
    )


def two_datasets(project: Path) -> str:
    """``alpha`` (v1, v2; daily but 3 days old: stale) read at v1 by a run that logged the
    model ``echo``, and ``beta`` (weekly, fresh); the run's id."""
    write(project / "a" / "f.txt", "one")
    cairn.data.add(project / "a", name="alpha", description="first set", owner="ana@team")
    with cairn.start_run(name="reader") as run:
        cairn.data.path("alpha@v1")
        cairn.log_model(Echo(), "echo")
    write(project / "a" / "f.txt", "one, changed")
    write(project / "a" / "new.txt", "new")
    cairn.data.add(project / "a", name="alpha", frequency="daily")
    age_versions("alpha", days=3)
    write(project / "b" / "g.txt", "b")
    cairn.data.add(project / "b", name="beta", owner="bob@team", frequency="weekly")
    return str(run.id)


def test_the_catalog_lists_edits_and_diffs_datasets(
    ui_server: Any, page: Any, project: Path, quiet_capture: None
) -> None:
    """The list shows what the catalog holds (stale marked), an admin edits a description in
    place, the dataset page shows both versions, the run that read v1 and the model made from
    it, and the diff page lists the changed file."""
    run_id = two_datasets(project)
    server = ui_server()
    page.goto(f"{server.url}/data")
    alpha, beta = page.locator("#ds-alpha"), page.locator("#ds-beta")
    assert "first set" in alpha.inner_text() and "ana@team" in alpha.inner_text()
    assert (
        alpha.locator(".status-stale").count() == 1 and beta.locator(".status-stale").count() == 0
    )
    assert "bob@team" in beta.inner_text() and "on time" in beta.inner_text()
    alpha.get_by_role("button", name="Edit alpha").click()
    settled(page, "#ds-alpha form")
    page.fill("#ds-alpha-frequency", "every now and then")
    page.click("#ds-alpha button[type=submit]")
    assert "does not parse" in page.locator("#ds-alpha [role=alert]").inner_text()
    settled(page, "#ds-alpha form")
    page.fill("#ds-alpha-frequency", "daily")
    page.fill("#ds-alpha-description", "customers, cleaned")
    page.click("#ds-alpha button[type=submit]")
    page.locator("#ds-alpha .ds-description", has_text="customers, cleaned").wait_for()
    assert cairn.data.show_dataset("alpha").dataset.description == "customers, cleaned"
    shot(page, "data")
    page.goto(f"{server.url}/data?q=bob")
    assert page.locator("#datasets tbody tr").count() == 1
    page.goto(f"{server.url}/data/alpha")
    assert page.locator("#versions tbody tr").count() == 2
    assert run_id in page.locator("#v1 .uses a").get_attribute("href")
    assert page.locator("#v2 .uses a").count() == 0
    assert page.locator("#v1 .models a").get_attribute("href") == "/models/echo/1"
    shot(page, "data-dataset")
    lineage = page.locator("#v1 a", has_text="lineage").get_attribute("href")
    assert lineage == "/lineage?of=" + urllib.parse.quote("data:alpha@v1", safe="")
    page.click("#diff-form button[type=submit]")
    page.wait_for_url("**/data/alpha/diff?a=1&b=2")
    assert "f.txt" in page.locator("#diff tr.changed").inner_text()
    assert "new.txt" in page.locator("#diff tr.added").inner_text()


def test_a_reader_sees_no_edit_controls_and_may_not_edit(
    ui_server: Any, page: Any, project: Path
) -> None:
    """A reader signed in through the login page sees no edit control, and an edit posted
    with the reader's cookie is refused with 403 and changes nothing."""
    write(project / "a" / "f.txt", "one")
    cairn.data.add(project / "a", name="alpha", description="first set")
    token, _ = create_token(get_store().db, "rita", "reader")
    server = ui_server(auth=True)
    page.goto(f"{server.url}/data")
    page.fill("#token", token)
    page.click("button[type=submit]")
    assert page.url.endswith("/data") and "first set" in page.locator("#ds-alpha").inner_text()
    assert page.locator("[hx-get$='/edit'], [hx-post]").count() == 0
    assert page.get_by_role("button", name="Edit alpha").count() == 0
    page.goto(f"{server.url}/data/alpha")
    assert page.locator("a[href$='/edit']").count() == 0
    for headers in ({"origin": server.url}, {"hx-request": "true"}):
        answer = http_post(
            f"{server.url}/data/alpha/edit",
            data={"description": "forged"},
            headers=headers,
            cookies={"cairn_token": token},
        )
        assert answer.status_code == 403 and "reader role" in answer.text
    assert cairn.data.show_dataset("alpha").dataset.description == "first set"


# -- JSON and hostile input, on both stores --------------------------------------------------


@pytest.fixture
def client(store: Store, project: Path) -> TestClient:
    """The UI (auth off: an admin) over ``store`` holding dataset ``alpha`` (v1, v2)."""
    from cairn.ui import create_app

    write(project / "a" / "f.txt", "one")
    cairn.data.add(project / "a", name="alpha", description="first set", owner="ana@team")
    write(project / "a" / "f.txt", "two")
    cairn.data.add(project / "a", name="alpha")
    return TestClient(create_app(auth=False, store=store), headers={"origin": "http://testserver"})


def test_the_json_pages_answer_the_catalog(client: TestClient) -> None:
    """``.json`` gives the list, a dataset, a version's files and a diff as data; an edit
    through the form is written with an audit event."""
    listed = client.get("/data.json?q=ANA&sort=-updated").json()
    assert [d["name"] for d in listed["datasets"]] == ["alpha"]
    assert listed["datasets"][0]["latest"]["ref"] == "alpha@v2"
    assert client.get("/data.json?q=nobody").json()["datasets"] == []
    shown = client.get("/data/alpha.json").json()
    assert [e["version"]["number"] for e in shown["versions"]] == [2, 1]
    assert shown["pick_a"] == 1 and shown["pick_b"] == 2
    version = client.get("/data/alpha/v1.json").json()
    assert [f["path"] for f in version["files"]] == ["f.txt"] and version["total"] == 1
    assert client.get("/data/alpha/v1.json?offset=5").json()["files"] == []
    for url, text in [
        ("/data/alpha/v1", "<code>f.txt</code>"),
        ("/data/alpha/v1?offset=5", "go to the first"),
        ("/data/alpha/edit", 'name="description"'),
        ("/data/alpha/row", 'aria-label="Edit alpha"'),
    ]:
        answer = client.get(url)
        assert answer.status_code == 200 and text in answer.text, url
    diff = client.get("/data/alpha/diff.json?a=1&b=v2").json()
    assert [c["path"] for c in diff["diff"]["changed"]] == ["f.txt"] and not diff["same"]
    answer = client.post("/data/alpha/edit", data={"owner": "ola@team"}, follow_redirects=False)
    assert answer.status_code == 303
    assert cairn.data.show_dataset("alpha").dataset.owner == "ola@team"
    events = list_events(get_store().db, action="dataset.edit")
    assert [(e.subject, e.detail) for e in events] == [("data:alpha", {"fields": ["owner"]})]
    edited = client.post("/data/alpha/edit.json", json={"description": ""}).json()
    assert edited["dataset"]["description"] is None  # an empty field clears it


def test_tables_show_their_schema_rows_and_changes(client: TestClient, project: Path) -> None:
    """A version's page gives its tables' columns and rows; the diff gives row counts and
    the columns added between versions."""
    write(project / "t" / "t.csv", "id\n1\n2\n")
    cairn.data.add(project / "t", name="tab")
    write(project / "t" / "t.csv", "id,x\n1,a\n2,b\n3,c\n")
    cairn.data.add(project / "t", name="tab")
    facts = client.get("/data/tab/v2.json").json()["tables"]["t.csv"]
    assert facts["rows"] == 3 and [c[0] for c in facts["columns"]] == ["id", "x"]
    shown = client.get("/data/tab.json").json()
    assert [e["rows"] for e in shown["versions"]] == [3, 2]
    (table,) = client.get("/data/tab/diff.json?a=v1&b=v2").json()["diff"]["tables"]
    assert (table["rows_a"], table["rows_b"]) == (2, 3)
    assert [c[0] for c in table["columns_added"]] == ["x"]
    page = client.get("/data/tab/diff?a=1&b=2").text
    assert "column added: x" in page and "2 → 3" in page
    assert "<caption><code>t.csv</code> · csv · 3 rows</caption>" in client.get("/data/tab/v2").text


BAD_PAGES = {
    "/data/a%00b.json": 400,
    f"/data/{'x' * 5000}.json": 400,
    "/data/..%2F..%2Fetc%2Fpasswd.json": 404,
    "/data/%2E%2E.json": 400,
    "/data/alpha@v1.json": 400,
    "/data/nope.json": 404,
    "/data/alpha/vx.json": 400,
    "/data/alpha/v-1.json": 400,
    "/data/alpha/v0.json": 400,
    f"/data/alpha/v{10**30}.json": 400,
    f"/data/alpha/v{'9' * 5000}.json": 400,
    "/data/alpha/v99.json": 404,
    "/data/alpha/2.json": 400,
    "/data/alpha/v1.json?offset=-1": 400,
    f"/data/alpha/v1.json?offset={10**30}": 400,
    "/data/alpha/v1.json?limit=abc": 400,
    "/data/alpha/diff.json?a=1": 400,
    f"/data/alpha/diff.json?a=1&b={10**30}": 400,
    "/data/alpha/diff.json?a=1&b=x%00": 400,
    "/data/alpha/diff.json?a=1&b=7": 404,
    "/data/nope/diff.json?a=1&b=2": 404,
    "/data.json?sort=bogus": 400,
    "/data.json?stale=maybe": 400,
    f"/data.json?q={'x' * 5000}": 400,
}


def test_hostile_addresses_answer_a_clear_4xx(client: TestClient) -> None:
    """NUL bytes, huge names, traversal, references, bad or huge version numbers and wrong
    query types answer 4xx with a message, never a 500."""
    for url, status in BAD_PAGES.items():
        answer = client.get(url)
        assert answer.status_code == status, (url, answer.text[:300])
        assert answer.json()["error"]["message"], url
    page = client.get("/data/alpha/vx")
    assert page.status_code == 400 and "is not a version" in page.text and "<html" in page.text
    assert "no dataset named &#39;nope&#39;" in client.get("/data/nope").text


def test_hostile_edits_are_refused_and_write_nothing(client: TestClient) -> None:
    """Edits with NUL bytes, lone surrogates, bad UTF-8, overlong fields, bad names or no
    fields are refused with a 4xx and a message, and change nothing."""
    before = cairn.data.show_dataset("alpha")
    raw = {"content-type": "application/x-www-form-urlencoded"}
    sends: list[tuple[str, dict[str, Any], int]] = [
        ("/data/alpha/edit", {"data": {"description": "a\x00b"}}, 400),
        ("/data/alpha/edit", {"content": b"description=%ED%A0%80", "headers": raw}, 400),
        ("/data/alpha/edit", {"content": b"owner=\xff", "headers": raw}, 400),
        ("/data/alpha/edit", {"data": {"owner": "o" * 5000}}, 400),
        ("/data/alpha/edit", {"data": {"frequency": "now and then"}}, 400),
        ("/data/alpha/edit", {"data": {"unknown": "x"}}, 400),
        ("/data/alpha/edit.json", {"content": b'{"description": "\\ud800"}'}, 400),
        ("/data/alpha/edit.json", {"content": b'{"description": 5}'}, 400),
        ("/data/alpha/edit.json", {"content": b"[1, 2]"}, 400),
        ("/data/alpha/edit.json", {"content": b"{nope"}, 400),
        ("/data/a%00b/edit.json", {"json": {"description": "x"}}, 400),
        (f"/data/{'x' * 5000}/edit.json", {"json": {"description": "x"}}, 400),
        ("/data/..%2Fetc/edit.json", {"json": {"description": "x"}}, 404),
        ("/data/nope/edit.json", {"json": {"description": "x"}}, 404),
    ]
    for url, sent, status in sends:
        how = sent
        if "content" in how and "headers" not in how:
            how = {**how, "headers": {"content-type": "application/json"}}
        answer = client.post(url, **how)
        assert answer.status_code == status, (url, how, answer.text[:300])
        assert answer.json()["error"]["message"] if url.endswith(".json") else answer.text
    htmx = client.post(
        "/data/alpha/edit", data={"owner": "o" * 300}, headers={"hx-request": "true"}
    )
    assert htmx.status_code == 400 and 'role="alert"' in htmx.text and "<html" not in htmx.text
    foreign = client.post(
        "/data/alpha/edit", data={"owner": "x"}, headers={"origin": "https://evil.example"}
    )
    assert foreign.status_code == 403
    after = cairn.data.show_dataset("alpha")
    assert after.dataset == before.dataset and after.events == before.events
    assert list_events(get_store().db, action="dataset.edit") == []
