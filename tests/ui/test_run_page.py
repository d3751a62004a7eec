"""The run page: what a run recorded, its charts, its artifacts (previews and downloads), and
its answers to hostile input."""

from __future__ import annotations

import html
import json
import re
import struct
import urllib.parse
import zlib
from pathlib import Path
from typing import Any

import httpx
import pytest

import cairn
from cairn import tracking
from cairn.store import Store
from cairn.ui.page import number_text, size_text
from tests.ui.conftest import http_get, shot


def _png_1x1() -> bytes:
    """A valid PNG of one opaque red pixel."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def _artifact_files(root: Path) -> dict[str, Path]:
    """The files the rich run logs, by artifact path."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    root.mkdir()
    files = {
        "images/dot.png": _png_1x1(),
        "images/box.svg": b'<svg xmlns="http://www.w3.org/2000/svg" width="8" height="4">'
        b'<rect width="8" height="4" fill="teal"/><script>alert(1)</script></svg>',
        "metrics.json": json.dumps({"auc": 0.91, "classes": ["a", "b"]}).encode(),
        "data/rows.csv": b"id,name\n" + b"".join(f"{i},n{i}\n".encode() for i in range(30)),
        "blob.bin": bytes(range(256)) * 4,
        "logs/big.txt": b"0123456789abcde\n" * 196_000,  # about 3 MB
    }
    paths = {}
    for name, data in files.items():
        path = root / name.replace("/", "_")
        path.write_bytes(data)
        paths[name] = path
    table = pa.table({"id": list(range(50)), "word": [f"w{i}" for i in range(50)]})
    paths["data/head.parquet"] = root / "head.parquet"
    pq.write_table(table, paths["data/head.parquet"], row_group_size=25)
    return paths


def _rich_run(root: Path) -> str:
    """A finished run with params, tags, metrics, a system metric and many kinds of files."""
    with cairn.start_run(name="rich", params={"lr": 0.01, "layers": 3}) as run:
        cairn.set_tags({"team": "vision", "note": "<b>not bold</b>"})
        for step, loss in enumerate([0.9, 0.5, 0.25]):
            cairn.log({"loss": loss}, step=step)
        cairn.log({"system/cpu": 37.5}, step=0)
        for name, path in _artifact_files(root).items():
            cairn.log_artifact(path, name)
    return run.id


def test_the_run_page_shows_what_the_store_holds(ui_server: Any, page: Any, project: Path) -> None:
    """Params, tags, latest metrics, a drawn chart per metric and the previews of an image,
    JSON, a Parquet head, a CSV head, a binary file and a too-large text file match the run."""
    run_id = _rich_run(project / "files")
    record = tracking.get_run(run_id)
    server = ui_server()
    base = f"{server.url}/runs/{run_id}"
    page.goto(f"{server.url}/runs/{run_id[:12]}")  # a unique prefix is enough
    assert page.locator("h1").inner_text().startswith("rich")
    assert page.locator("#run-id").inner_text() == run_id
    shown = dict(
        zip(
            page.locator(".run-params th").all_inner_texts(),
            page.locator(".run-params td").all_inner_texts(),
            strict=True,
        )
    )
    assert shown == {k: number_text(v) for k, v in record.params.items()}
    tags = dict(
        zip(
            page.locator(".run-tags th").all_inner_texts(),
            page.locator(".run-tags td").all_inner_texts(),
            strict=True,
        )
    )
    assert tags == {k: v for k, v in record.tags.items() if not k.startswith("cairn.")}
    assert page.locator(".run-seed").inner_text() == record.tags["cairn.seed"]
    latest = page.locator(".run-metrics tbody tr").all_inner_texts()
    assert latest == [f"loss\t{number_text(record.metrics['loss'])}\t3"]
    lineage = page.locator("#main a", has_text="Lineage").get_attribute("href")
    assert lineage == "/lineage?of=" + urllib.parse.quote(f"runs:/{run_id}", safe="")
    for key in ("loss", "system/cpu"):
        chart = page.locator(f".chart[data-key='{key}']")
        chart.scroll_into_view_if_needed()
        page.wait_for_selector(f".chart[data-key='{key}'][data-state='drawn'] canvas")
    assert page.locator(".chart[data-key='loss']").get_attribute("data-points") == "3"

    page.goto(f"{base}?artifact=images/dot.png")
    image = page.locator("#preview img.preview-image")
    image.wait_for()
    page.wait_for_function("document.querySelector('#preview img').complete")
    assert image.evaluate("img => img.naturalWidth") == 1
    shot(page, "run")
    page.goto(f"{base}?artifact=images/box.svg")
    page.wait_for_function("document.querySelector('#preview img').complete")
    assert page.locator("#preview img").evaluate("img => img.naturalWidth") == 8

    page.goto(f"{base}?artifact=metrics.json")
    expected = json.dumps({"auc": 0.91, "classes": ["a", "b"]}, indent=2)
    assert page.locator("#preview pre").inner_text() == expected

    page.goto(f"{base}?artifact=data/head.parquet#preview")
    shot(page, "run-preview")
    rows = page.locator("#preview tbody tr").all_inner_texts()
    assert rows == [f"{i}\tw{i}" for i in range(20)]
    assert "the first 20 of 50 rows" in page.locator(".preview-note").inner_text()

    page.goto(f"{base}?artifact=data/rows.csv")
    assert page.locator("#preview thead th").all_inner_texts() == ["id", "name"]
    assert page.locator("#preview tbody tr").count() == 20

    big = next(a for a in record.artifacts if a.path == "logs/big.txt")
    page.goto(f"{base}?artifact=logs/big.txt")
    assert page.locator("#preview pre").count() == 0
    assert size_text(big.size) in page.locator(".preview-note").inner_text()
    link = page.locator("#preview a", has_text="Download").get_attribute("href")
    assert link == f"/runs/{run_id}/artifacts/logs/big.txt"

    page.goto(f"{base}?artifact=blob.bin")
    assert "binary" in page.locator(".preview-note").inner_text()


def test_an_artifact_downloads_as_its_bytes_in_an_attachment(ui_server: Any, project: Path) -> None:
    """The raw route answers the stored bytes with an attachment header, a fitting content
    type and a policy that keeps an SVG from running script; the preview route answers HTML;
    the page shows the git diff escaped and the tail of a long output log."""
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    (project / "pic.svg").write_bytes(svg)
    (project / "t.json").write_text('{"a": [1, 2]}')
    with cairn.start_run(name="dl") as run:
        cairn.log_artifact(project / "pic.svg", "figs/pic one.svg")
        cairn.log_artifact(project / "t.json", "t.json")
        cairn.log_text("".join(f"line {i}\n" for i in range(40_000)), "cairn/output.log")
        cairn.log_text("+<script>alert(1)</script>\n", "cairn/git.diff")
    server = ui_server()
    answer = http_get(f"{server.url}/runs/{run.id}/artifacts/figs/pic%20one.svg")
    assert answer.status_code == 200 and answer.content == svg
    assert answer.headers["content-type"].startswith("image/svg+xml")
    assert answer.headers["content-disposition"].startswith("attachment;")
    assert "pic%20one.svg" in answer.headers["content-disposition"]
    assert "sandbox" in answer.headers["content-security-policy"]
    assert answer.headers["x-content-type-options"] == "nosniff"
    answer = http_get(f"{server.url}/runs/{run.id}/artifacts/t.json")
    assert answer.content == b'{"a": [1, 2]}' and "json" in answer.headers["content-type"]
    answer = http_get(f"{server.url}/runs/{run.id}/preview/t.json")
    assert answer.status_code == 200 and "&#34;a&#34;: [" in answer.text
    texts = {t["label"]: t for t in http_get(f"{server.url}/runs/{run.id}.json").json()["texts"]}
    log = texts["Output log"]
    assert log["text"].endswith("line 39999\n") and "line 0\n" not in log["text"]
    assert log["note"].startswith("the last 200.0 KB")
    page = http_get(f"{server.url}/runs/{run.id}").text
    assert "+&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert" not in page


def test_a_failed_child_run_shows_its_error_and_links_to_its_parent(ui_server: Any) -> None:
    """A child run that raised shows the error text and a link to its parent; an unknown run
    id answers the 404 page."""
    with (
        cairn.start_run(name="parent") as parent,
        pytest.raises(ValueError),
        cairn.start_run(name="child") as child,
    ):
        raise ValueError("the <loss> diverged")
    server = ui_server()
    data = http_get(f"{server.url}/runs/{child.id}.json").json()
    assert data["run"]["status"] == "failed" and data["run"]["parent_id"] == parent.id
    assert data["links"]["parent"] == f"/runs/{parent.id}"
    answer = http_get(f"{server.url}/runs/{child.id}")
    assert "the &lt;loss&gt; diverged" in answer.text
    assert f'href="/runs/{parent.id}"' in answer.text
    answer = http_get(f"{server.url}/runs/{'0' * 26}")
    assert answer.status_code == 404 and "no run with id" in answer.text


def test_a_million_point_metric_draws_from_a_thinned_series_that_keeps_the_spike(
    ui_server: Any, page: Any
) -> None:
    """series.json answers a million-point metric with at most 2000 points that include its
    one spike, and the page draws the chart from it (its speed is benchmarks/ui.py's)."""
    spike = 1_000.0
    with cairn.start_run(name="long") as run:
        for step in range(1_000_000):
            run.log({"loss": spike if step == 654_321 else 1.0 / (1 + step % 1000)}, step)
    server = ui_server()
    url = f"{server.url}/runs/{run.id}/series.json?key=loss&x=step&points=2000"
    answer = http_get(url, timeout=60)
    body = answer.json()
    assert answer.status_code == 200
    assert body["total"] == 1_000_000 and len(body["y"]) <= 2000 and body["thinned"]
    assert max(body["y"]) == spike and body["x"][body["y"].index(spike)] == 654_321
    page.goto(f"{server.url}/runs/{run.id}?x=time&log=1")
    assert page.locator("#chart-x").input_value() == "time"
    assert page.locator("#chart-log").is_checked()
    page.wait_for_selector(".chart[data-key='loss'][data-state='drawn'] canvas")
    assert 0 < int(page.locator(".chart[data-key='loss']").get_attribute("data-points")) <= 2000


HOSTILE_PAGES = [
    "/runs/{unknown}.json",
    "/runs/a%00b.json",
    "/runs/" + "x" * 5000 + ".json",
    "/runs/{id}.json?x=bogus",
    "/runs/{id}.json?artifact=..%2F..%2Fetc%2Fpasswd",
    "/runs/{id}/series.json?key=loss&x=bogus",
    "/runs/{id}/series.json?key=loss&points=-1",
    "/runs/{id}/series.json?key=loss&points=" + str(10**30),
    "/runs/{id}/series.json?key=loss&points=abc",
    "/runs/{id}/series.json?key=nope",
    "/runs/{id}/series.json?key=a%00b",
    "/runs/{id}/series.json",
    "/runs/{unknown}/series.json?key=loss",
    "/runs/a%00b/series.json?key=loss",
    "/runs/{id}/artifacts/..%2F..%2Fetc%2Fpasswd",
    "/runs/{id}/artifacts/%2e%2e/%2e%2e/etc/passwd",
    "/runs/{id}/artifacts/nope.txt",
    "/runs/{id}/artifacts/a%00b",
    "/runs/{unknown}/artifacts/a.txt",
    "/runs/{id}/preview/%2e%2e/%2e%2e/etc/passwd",
    "/runs/{id}/preview/" + "y" * 5000,
]


def test_hostile_input_gets_a_4xx_with_a_reason(
    store: Store, ui_server: Any, project: Path
) -> None:
    """Unknown ids, NUL bytes, huge ids, traversal paths and bad query values answer 4xx with
    a message that says what is wrong, never a 500 and never a file outside the run."""
    (project / "a.txt").write_text("hello")
    with cairn.start_run(name="target") as run:
        cairn.log({"loss": 1.0}, step=0)
        cairn.log_artifact(project / "a.txt", "a.txt")
    server = ui_server()
    wrong = []
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for template in HOSTILE_PAGES:
            path = template.format(id=run.id, unknown="0" * 26)
            answer = client.get(path)
            if answer.headers["content-type"].startswith("application/json"):
                message = answer.json()["error"]["message"]
            else:
                found = re.search(r'<p class="message">(.*?)</p>', answer.text, re.S)
                message = html.unescape(found.group(1)) if found else ""
            if (
                not (400 <= answer.status_code < 500)
                or "root:" in answer.text
                or (len(message) < 10 or "Traceback" in message)
            ):
                wrong.append((path[:80], answer.status_code, message[:200]))
    assert not wrong
