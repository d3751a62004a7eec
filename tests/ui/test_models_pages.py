"""The model registry pages: what they show, alias moves from the page (audited, with their
reasons), rollback and promotion, who may change what, and hostile input."""

from __future__ import annotations

import html
import urllib.parse
import warnings
from typing import Any

import pytest
from starlette.exceptions import StarletteDeprecationWarning

import cairn
from cairn import registry
from cairn.server import create_token
from cairn.server.audit import list_events
from cairn.store import Store, get_store
from cairn.ui import create_app
from tests.ui.conftest import shot

with warnings.catch_warnings():  # starlette's TestClient over httpx (not httpx2) warns
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient


def _register(name: str = "churn", aucs: tuple[float, ...] = (0.80, 0.85)) -> None:
    """Log one tiny scikit-learn model per AUC, each in its own run with that metric."""
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    x = pd.DataFrame({"age": np.arange(12.0), "income": np.arange(12.0) % 4})
    y = (x["age"] > 5).astype(int)
    model = LogisticRegression().fit(x, y)
    for auc in aucs:
        with cairn.start_run():
            cairn.log({"auc": auc})
            registry.log_model(model, name, input_example=x.head(3))


def _aliases(page: Any) -> str:
    return str(page.locator("#aliases").inner_text())


def test_a_writer_moves_rolls_back_and_promotes_aliases_from_the_page(
    quiet_capture: None, ui_server: Any, page: Any
) -> None:
    """The list and model pages show what the store holds; moving champion with a reason, rolling
    it back and a refused promotion show in the page, agree with alias_history and are audited
    as alias.set; the version page shows its signature, files, lineage link and description."""
    _register()
    registry.set_alias("churn", "champion", 1, reason="first")
    registry.set_alias("churn", "challenger", 2, reason="try it")
    server = ui_server()

    page.goto(f"{server.url}/models")
    row = page.locator("table.models tbody tr", has_text="churn")
    assert "champion → v1" in row.inner_text() and "challenger → v2" in row.inner_text()
    row.locator("a", has_text="churn").click()
    assert page.url.endswith("/models/churn")
    assert page.locator("table.versions tbody tr").count() == 2
    assert "auc 0.85" in page.locator("tr[data-version='2']").inner_text()
    assert "2 columns" in page.locator("tr[data-version='1'] .sig").inner_text()

    page.fill("#set-alias", "bad name")
    page.fill("#set-reason", "x")
    page.click("form.set-alias button[type=submit]")
    page.locator(".model-error", has_text="cannot be an alias").wait_for()
    page.fill("#set-alias", "champion")
    page.select_option("#set-version", "2")
    page.fill("#set-reason", "v2 beats v1 on auc")
    page.click("form.set-alias button[type=submit]")
    page.locator(".model-notice", has_text="champion now points at version 2").wait_for()
    assert "v2 beats v1 on auc" in page.locator("table.alias-history tbody tr").first.inner_text()
    last = registry.alias_history("churn")[-1]
    assert (last.alias, last.from_version, last.to_version) == ("champion", 1, 2)
    assert last.reason == "v2 beats v1 on auc"

    page.fill("tr[data-alias='champion'] input[name=reason]", "v2 misbehaves in prod")
    page.click("tr[data-alias='champion'] form.rollback button")
    page.locator(".model-notice", has_text="rolled back").wait_for()
    assert registry.get_model("churn").aliases["champion"] == 1
    assert "v2 misbehaves in prod" in registry.alias_history("churn")[-1].reason

    page.fill("#promote-rule", "metrics.auc >= champion.metrics.auc + 0.5")
    page.click("form.promote button[type=submit]")
    page.locator(".promotion").wait_for()
    assert "Not promoted" in page.locator(".promotion h3").inner_text()
    assert "does not hold" in page.locator(".promotion").inner_text()
    assert registry.get_model("churn").aliases["champion"] == 1
    shot(page, "models")

    events = list_events(get_store().db, action="alias.set")
    assert [e.detail["to"] for e in events] == [1, 2]  # newest first: the rollback, the move
    assert events[1].subject == "models:/churn@champion"
    assert events[1].detail == {"from": 1, "to": 2, "reason": "v2 beats v1 on auc"}

    page.goto(f"{server.url}/models/churn/champion")
    assert page.locator("h1").inner_text().startswith("churn v1")
    assert "age" in page.locator("table.signature").first.inner_text()
    assert page.locator("table.files tbody tr").count() >= 2
    lineage = page.locator("a", has_text="where this version came from").get_attribute("href")
    assert lineage == "/lineage?of=" + urllib.parse.quote("models:/churn/1", safe="")
    page.click("#description summary")
    page.fill("#description-input", "the baseline")
    page.click("#description button[type=submit]")
    page.locator(".description-text", has_text="the baseline").wait_for()
    assert registry.get_model_version("churn/1").description == "the baseline"


def test_a_reader_sees_no_edit_controls_and_a_forged_post_moves_nothing(
    quiet_capture: None, ui_server: Any, page: Any
) -> None:
    """A reader signed in through the login page sees the aliases but no form; a POST forged
    with the reader's cookie (from this origin) is refused with 403 and moves nothing."""
    _register(aucs=(0.8,))
    registry.set_alias("churn", "champion", 1, reason="first")
    token, _ = create_token(get_store().db, "rita", "reader")
    server = ui_server(auth=True)
    page.goto(f"{server.url}/models/churn")
    page.fill("#token", token)
    page.click("button[type=submit]")
    assert page.url.endswith("/models/churn")
    assert "champion" in _aliases(page)
    assert page.locator("#aliases form").count() == 0
    page.goto(f"{server.url}/models/churn/1")
    assert page.locator("#description form").count() == 0
    for path, form in [
        ("/models/churn/aliases", {"alias": "champion", "version": "1", "reason": "x"}),
        ("/models/churn/rollback", {"alias": "champion", "reason": "x"}),
        ("/models/churn/promote", {"from_alias": "champion", "to_alias": "prod"}),
        ("/models/churn/1/description", {"description": "forged"}),
    ]:
        answer = page.request.post(
            f"{server.url}{path}", form=form, headers={"origin": server.url}, max_redirects=0
        )
        assert answer.status == 403, path
        assert "reader role" in answer.text()
    assert registry.get_model("churn").aliases == {"champion": 1}
    assert len(registry.alias_history("churn")) == 1
    assert registry.get_model_version("churn/1").description is None


@pytest.fixture
def client(quiet_capture: None, store: Store) -> TestClient:
    """The UI over each store (auth off: an admin), with one model of two versions."""
    _register(aucs=(0.8, 0.9))
    registry.set_alias("churn", "champion", 1, reason="first")
    return TestClient(create_app(auth=False, store=store), base_url="http://ui.test")


def _post(client: TestClient, path: str, form: dict[str, str], htmx: bool = False) -> Any:
    headers = {"origin": "http://ui.test", "content-type": "application/x-www-form-urlencoded"}
    if htmx:
        headers["hx-request"] = "true"
    body = urllib.parse.urlencode(form, errors="surrogatepass")  # a lone surrogate as %ED%A0%80
    return client.post(path, content=body, headers=headers, follow_redirects=False)


def _check_hostile_addresses(client: TestClient) -> None:
    """NUL bytes, 5000-character names, traversal, surrogates, huge, negative and non-numeric
    versions answer 400/404 with a clear message on the pages' JSON, never a 500."""
    long = "x" * 5000
    cases = {
        "/models/a%00b.json": (400, "cannot name a model"),
        f"/models/{long}.json": (400, "cannot name a model"),
        "/models/nope.json": (404, "no model named 'nope'"),
        "/models/churn/9.json": (404, "version 9"),
        f"/models/churn/{10**30}.json": (400, "not a version number"),
        "/models/churn/-1.json": (400, "not a version number"),
        "/models/churn/0.json": (400, "versions count from 1"),
        "/models/churn/abc.json": (404, "no alias 'abc'"),
        "/models/churn/%ED%A0%80.json": (400, "cannot be an alias"),
        "/models/churn/a%20b.json": (400, "cannot be an alias"),
        "/models/churn/..%2F..%2Fetc%2Fpasswd.json": (404, "no page"),
        f"/models/churn/{long}.json": (400, "cannot be an alias"),
        f"/models/churn/{'9' * 5000}.json": (400, "not a version number"),
    }
    for path, (status, words) in cases.items():
        answer = client.get(path)
        assert answer.status_code == status, (path[:60], answer.text[:200])
        assert words in answer.json()["error"]["message"], path[:60]
    assert client.get("/models/nope").status_code == 404
    assert "no model named" in client.get("/models/nope").text


def test_hostile_input_answers_4xx_and_moves_nothing(client: TestClient) -> None:
    """Hostile names and versions in the pages' addresses, and bad alias names, versions and
    empty reasons posted to the forms, answer 4xx with the reason (in the aliases fragment for
    htmx), never a 500, and the alias history stays as it was."""
    _check_hostile_addresses(client)
    long = "x" * 5000
    bad_sets = [
        ({"alias": "../etc/passwd", "version": "2", "reason": "r"}, 400, "cannot be an alias"),
        ({"alias": "a b", "version": "2", "reason": "r"}, 400, "cannot be an alias"),
        ({"alias": "a\x00b", "version": "2", "reason": "r"}, 400, "cannot be an alias"),
        ({"alias": "\ud800", "version": "2", "reason": "r"}, 400, "cannot be an alias"),
        ({"alias": long, "version": "2", "reason": "r"}, 400, "cannot be an alias"),
        ({"alias": "champion", "version": str(10**30), "reason": "r"}, 400, "version number"),
        ({"alias": "champion", "version": "-1", "reason": "r"}, 400, "version number"),
        ({"alias": "champion", "version": "abc", "reason": "r"}, 400, "version number"),
        ({"alias": "champion", "version": "9" * 5000, "reason": "r"}, 400, "version number"),
        ({"alias": "champion", "version": "7", "reason": "r"}, 404, "version 7"),
        ({"alias": "champion", "version": "2", "reason": "  "}, 400, "reason is required"),
        ({"alias": "champion", "version": "2", "reason": "a\x00b"}, 400, "reason"),
    ]
    for form, status, words in bad_sets:
        plain_post = _post(client, "/models/churn/aliases", form)
        assert plain_post.status_code == status, (form, plain_post.text[:300])
        assert words in html.unescape(plain_post.text)
        fragment = _post(client, "/models/churn/aliases", form, htmx=True)
        assert fragment.status_code == status and words in html.unescape(fragment.text)
        assert fragment.headers["x-cairn-fragment"] == "aliases"
    rollbacks = [
        ({"alias": "champion", "reason": ""}, 400, "reason is required"),
        ({"alias": "champion", "reason": "r"}, 400, "no earlier version"),
        ({"alias": "nope", "reason": "r"}, 400, "no alias 'nope'"),
        ({"alias": "../x", "reason": "r"}, 400, "cannot be an alias"),
    ]
    for form, status, words in rollbacks:
        answer = _post(client, "/models/churn/rollback", form)
        assert answer.status_code == status and words in html.unescape(answer.text), (
            form,
            answer.text[:300],
        )
    promotions = [
        ({"from_alias": "nope", "to_alias": "champion"}, 400, "no alias"),
        ({"from_alias": "champion", "to_alias": "champion"}, 400, "both are"),
        ({"from_alias": "a\x00", "to_alias": "champion"}, 400, "cannot be an alias"),
        ({"from_alias": "champion", "to_alias": "p", "rule": "metrics.auc >>"}, 400, "rule"),
    ]
    for form, status, words in promotions:
        answer = _post(client, "/models/churn/promote", form)
        assert answer.status_code == status and words in html.unescape(answer.text), (
            form,
            answer.text[:300],
        )
    for path in ("/models/a%00b/aliases", f"/models/{long}/rollback", "/models/nope/promote"):
        answer = _post(client, path, {"alias": "champion", "version": "1", "reason": "r"})
        assert answer.status_code in (400, 404) and "model" in answer.text
    bad_description = _post(client, "/models/churn/-1/description", {"description": "d"})
    assert bad_description.status_code == 400
    nul_description = _post(client, "/models/churn/1/description", {"description": "a\x00"}, True)
    assert nul_description.status_code == 400 and "description" in nul_description.text
    assert nul_description.headers["x-cairn-fragment"] == "description"
    assert registry.get_model_version("churn/1").description is None
    assert registry.get_model("churn").aliases == {"champion": 1}
    assert len(registry.alias_history("churn")) == 1
    assert list_events(get_store().db, action="alias.*") == []


def test_plain_form_posts_redirect_and_refusals_say_why(client: TestClient) -> None:
    """A plain (no htmx) alias move answers 303 to the model page; a promotion whose rule fails
    answers 409 with the reason; a post from another origin is refused with 403."""
    moved = _post(
        client, "/models/churn/aliases", {"alias": "challenger", "version": "2", "reason": "next"}
    )
    assert moved.status_code == 303 and moved.headers["location"] == "/models/churn#aliases"
    refused = _post(
        client,
        "/models/churn/promote",
        {"from_alias": "challenger", "to_alias": "champion", "rule": "metrics.auc > 2"},
    )
    assert refused.status_code == 409 and "does not hold" in refused.text
    promoted = _post(
        client,
        "/models/churn/promote",
        {"from_alias": "challenger", "to_alias": "champion", "rule": "metrics.auc > 0.85"},
        htmx=True,
    )
    assert promoted.status_code == 200 and "Promoted" in promoted.text
    assert registry.get_model("churn").aliases["champion"] == 2
    event = list_events(get_store().db, action="alias.set")[0]
    assert event.detail == {
        "from": 1,
        "to": 2,
        "reason": "promote from challenger with metrics.auc > 0.85",
    }
    assert registry.alias_history("churn")[-1].reason == event.detail["reason"]
    foreign = client.post(
        "/models/churn/aliases",
        data={"alias": "champion", "version": "1", "reason": "x"},
        headers={"origin": "https://evil.example"},
    )
    assert foreign.status_code == 403
    assert registry.get_model("churn").aliases["champion"] == 2
    shown = client.get("/models/churn.json").json()
    assert [(v["version"], v["metrics"]) for v in shown["versions"]] == [
        (2, {"auc": 0.9}),
        (1, {"auc": 0.8}),
    ]
    assert [(m["alias"], m["to_version"]) for m in shown["history"]][:2] == [
        ("champion", 2),
        ("challenger", 2),
    ]
    version = client.get("/models/churn/champion.json").json()
    assert version["model_version"]["version"] == 2 and version["metrics"] == {"auc": 0.9}
    assert version["lineage"] == "/lineage?of=models%3A%2Fchurn%2F2"
    listed = client.get("/models.json").json()["models"]
    assert [(m["name"], m["aliases"]) for m in listed] == [
        ("churn", {"champion": 2, "challenger": 2})
    ]
