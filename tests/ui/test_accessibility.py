"""Every page, keyboard and screen-reader ready: each control has a name, the skip link leads
to the content, and dark mode is really dark (checked in Chromium on one small project)."""

from __future__ import annotations

import urllib.parse
from pathlib import Path
from typing import Any

import cairn
from tests.registry.test_graph import build_chain
from tests.ui.conftest import shot

# The controls a person can reach, and the ones among them that no label names.
UNNAMED = """() => [...document.querySelectorAll(
    'input:not([type=hidden]), select, textarea, button, a[href]')]
  .filter(el => el.offsetParent !== null)
  .filter(el => !((el.labels && el.labels.length) || el.getAttribute('aria-label')
      || el.getAttribute('aria-labelledby') || el.getAttribute('title')
      || (el.textContent || '').trim() || el.getAttribute('alt')
      || (el.tagName === 'INPUT' && ['submit', 'button'].includes(el.type) && el.value)))
  .map(el => el.outerHTML.slice(0, 160))"""


def test_every_page_names_its_controls_and_reads_in_dark_mode(
    quiet_capture: None, project: Path, ui_server: Any, page: Any, dark_page: Any
) -> None:
    """On each page every visible control and link has an accessible name and nothing is
    fetched from another site (no CDN: the UI works offline), Tab first reaches the skip link
    to the content, and in dark mode the page is light text on a dark ground."""
    chain = build_chain(project)
    with cairn.run(name="second") as other:
        cairn.log({"loss": 0.5}, step=0)
    train = chain.train.removeprefix("runs:/")
    server = ui_server()
    fetched: list[str] = []
    page.on("request", lambda request: fetched.append(request.url))
    paths = [
        "/runs",
        f"/runs/{train}",
        f"/compare?runs={train},{other.id}",
        "/data",
        "/data/raw",
        "/data/raw/v1",
        "/models",
        "/models/m",
        "/models/m/1",
        f"/lineage?of={urllib.parse.quote(chain.model, safe='')}",
        "/pipelines",
        "/monitoring",
    ]
    for path in paths:
        answer = page.goto(server.url + path)
        assert answer.status == 200, path
        assert page.evaluate(UNNAMED) == [], path
    elsewhere = [url for url in fetched if not url.startswith(server.url + "/")]
    assert elsewhere == [] and any("/static/vendor/" in url for url in fetched)
    page.goto(server.url + "/runs")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    for path, name in (("/runs", "runs-dark"), (f"/runs/{train}", "run-dark")):
        dark_page.goto(server.url + path)
        colours = dark_page.evaluate(
            "[getComputedStyle(document.body).backgroundColor,"
            " getComputedStyle(document.body).color]"
        )
        ground, text = (_lightness(c) for c in colours)
        assert ground < 0.2 < 0.7 < text, (path, colours)
        shot(dark_page, name)


def _lightness(css: str) -> float:
    """The mean of an ``rgb(r, g, b)`` colour's channels, from 0 (black) to 1 (white)."""
    channels = [float(part) for part in css[css.index("(") + 1 : css.index(")")].split(",")[:3]]
    return sum(channels) / (3 * 255)
