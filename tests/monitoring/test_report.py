"""The monitoring report: one offline HTML file with every feature, charts, quality and alerts."""

from __future__ import annotations

import re
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import cairn
from cairn.core.errors import CairnError, InvalidInputError, NotFoundError
from cairn.monitoring import _queries, write_report
from cairn.monitoring.drift import compare
from cairn.monitoring.report import build_report
from cairn.monitoring.sketch import CategoricalSketch, TableSketch, sketch_table
from cairn.store import Store, get_store
from tests.cli.test_data_cli import cli

HOUR = 3_600_000
T0 = 1_780_000_000_000 - 1_780_000_000_000 % HOUR
HOSTILE = "<script>alert(1)</script>"
_VOID = {"meta", "br", "hr", "img", "input", "link", "area", "base", "col", "source", "wbr"}
_SVG_EMPTY = {"line", "polyline", "circle", "rect", "path"}


class _Checker(HTMLParser):
    """Fails on end tags that close nothing open, and on elements left open."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [v or "" for k, v in attrs if k in ("src", "href", "xlink:href")]
        if tag not in _VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [v or "" for k, v in attrs if k in ("src", "href", "xlink:href")]

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:]}")
        else:
            self.stack.pop()


def _valid(page: str) -> _Checker:
    checker = _Checker()
    checker.feed(page)
    checker.close()
    assert checker.errors == [] and checker.stack == [], (checker.errors, checker.stack)
    return checker


def _frame(rows: int, seed: int, shift: float = 0.0, city: str = "paris") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "age": rng.normal(40 + shift * 10, 10, rows),
            "city": rng.choice([city, "lyon", "nice"], rows, p=[0.5, 0.3, 0.2]),
            "_prediction": rng.normal(0.5, 0.1, rows),
        }
    )


def _registered(name: str) -> int:
    """Log a small model as version 1 of ``name``; its database id."""
    from sklearn.dummy import DummyRegressor

    with cairn.run():
        cairn.log_model(DummyRegressor().fit([[0.0], [1.0]], [0.0, 1.0]), name)
    with get_store().db.read() as conn:
        found = _queries.version_db_id(conn, name, 1)
    assert found is not None
    return found


def _keep_reference(name: str, sketch: TableSketch) -> None:
    version_id = _registered(name)
    digest = get_store().artifacts.put_bytes(sketch.to_bytes()).digest
    source = {"datasets": ["customers@v1"], "predicted_rows": sketch.rows}
    get_store().db.transact(
        lambda conn: _queries.save_reference(conn, version_id, digest, sketch.rows, source, T0)
    )


def _keep_windows(
    name: str, reference: TableSketch, currents: list[TableSketch], *, start: int = T0
) -> None:
    """Store one drift window per summary in ``currents``, an hour apart."""
    rows = []
    for i, current in enumerate(currents):
        report = compare(reference, current, list(reference.columns))
        digest = get_store().artifacts.put_bytes(current.to_bytes()).digest
        rows.append((start + i * HOUR, current.rows, report, digest))

    def save(conn: Any) -> None:
        for begin, count, report, digest in rows:
            _queries.save_window(
                conn, model=name, version=1, kind="drift", start_ms=begin, end_ms=begin + HOUR,
                rows=count, verdict=report.verdict, score=report.share, result=report.to_dict(),
                digest=digest, now=begin + HOUR,
            )  # fmt: skip

    get_store().db.transact(save)


def _alert(name: str, rule: str, start: int, message: str, delivery: str = "delivered") -> None:
    get_store().db.transact(
        lambda conn: _queries.insert_alert(
            conn,
            rule=rule,
            subject=name,
            window_start_ms=start,
            window_end_ms=start + HOUR,
            message=message,
            evidence={"share": 0.5},
            delivery=delivery,
            now=start + HOUR,
        )
    )


@pytest.fixture
def churn(quiet_capture: None, store: Store) -> TableSketch:
    """Model churn with a reference and 6 windows (the last 3 with age shifted), 2 alerts."""
    reference = sketch_table(_frame(2000, 0), limit=None)
    _keep_reference("churn", reference)
    currents = [sketch_table(_frame(500, i + 1, shift=1.0 if i >= 3 else 0.0)) for i in range(6)]
    _keep_windows("churn", reference, currents)
    _alert("churn", "age-drift", T0 + 3 * HOUR, "feature age drifted (effect 1.0)")
    _alert("churn", "share-high", T0 + 4 * HOUR, "drift share 0.33 above 0.3", "failed")
    return reference


def test_the_report_holds_every_feature_charts_and_alerts(
    churn: TableSketch, tmp_path: Path
) -> None:
    """The page is valid offline HTML naming every feature (prediction first), with histograms,
    level bars, drift series with the drifted windows marked, and both alerts."""
    written = write_report("churn", tmp_path / "report.html")
    assert written == tmp_path / "report.html"
    page = written.read_text(encoding="utf-8")
    checker = _valid(page)
    assert "http:" not in page and "https:" not in page and "<script" not in page
    assert all(url.startswith("#") for url in checker.urls)
    sections = re.findall(r"<section id=f\d+><h3><code>([^<]*)</code>", page)
    assert sections == ["_prediction", "age", "city"]
    assert "customers@v1" in page and "2,000 training rows" in page
    assert page.count("<svg") >= 7  # dataset share + 3 distributions + 3 series
    assert "class=ref" in page and "class=cur" in page
    assert ">paris</text>" in page and ">lyon</text>" in page
    assert "class=hit" in page  # drifted windows of age are marked
    assert "the 6 windows of the report merged" in page
    for text in ("age-drift", "feature age drifted (effect 1.0)", "share-high", "failed"):
        assert text in page
    summary = re.search(r"<h2>Features</h2>.*?</table>", page, re.S)
    assert summary is not None and "<td class=bad>drift</td>" in summary.group(0)


def test_a_range_or_limit_chooses_the_windows(churn: TableSketch) -> None:
    """--limit keeps the newest windows, --since the later ones; an empty range says so."""
    newest = build_report("churn", limit=2)
    assert newest.windows == 2 and "age" in newest.drifted
    assert "the 2 windows of the report merged" in newest.html
    assert "share-high" in newest.html and "age-drift" not in newest.html
    later = build_report("churn", since="2026-01-01", until=T0 + 2 * HOUR)
    assert later.windows == 2 and later.drifted == []
    with pytest.raises(NotFoundError, match="in the range asked"):
        build_report("churn", since=T0 + 100 * HOUR)
    with pytest.raises(InvalidInputError, match="cannot read since"):
        build_report("churn", since="yesterday-ish")


def test_a_model_without_windows_is_a_clear_error(store: Store, tmp_path: Path) -> None:
    """A model never monitored: say so and how to monitor it, and write nothing."""
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(NotFoundError) as info:
        write_report("ghost", out / "r.html")
    assert str(info.value) == (
        "no monitoring results for ghost yet; run `cairn monitor run ghost` first"
    )
    assert list(out.iterdir()) == []


def test_a_missing_folder_is_refused(churn: TableSketch, tmp_path: Path) -> None:
    """Writing into a folder that does not exist, or onto a folder, is refused with the reason."""
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(InvalidInputError, match="does not exist; create it first"):
        write_report("churn", out / "nope" / "r.html")
    with pytest.raises(InvalidInputError, match="is a folder"):
        write_report("churn", out)
    assert list(out.iterdir()) == []


def test_hostile_names_are_escaped_and_the_file_is_utf8(
    quiet_capture: None, store: Store, tmp_path: Path
) -> None:
    """Markup, quotes, NUL and lone surrogates in model, column and level names and in alert
    messages come out as inert text in a valid UTF-8 page."""
    model = HOSTILE
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {
            "n0": rng.normal(0, 1, 400),
            "c1": rng.choice(["s", "nul", "lone"], 400),
            "n2": rng.normal(0, 1, 400),
            "c3": rng.choice(["x", "y"], 400),
        }
    )
    # (Arrow refuses lone surrogates: the hostile names are put into the summaries directly.)
    names = {"n0": HOSTILE, "c1": "nul\x00col", "n2": "lone\ud800half", "c3": "q\"'&<b>"}
    levels = {"s": HOSTILE, "nul": "a\x00b", "lone": "c\udfffd", "x": "x", "y": "'\"<>"}

    def hostile(sketch: TableSketch) -> TableSketch:
        columns: dict[str, Any] = {}
        for key, column in sketch.columns.items():
            columns[names[key]] = (
                replace(column, counts={levels[k]: n for k, n in column.counts.items()})
                if isinstance(column, CategoricalSketch)
                else column
            )
        return TableSketch(sketch.rows, columns)

    reference = hostile(sketch_table(frame, limit=None))
    currents = [hostile(sketch_table(frame.iloc[:200])), hostile(sketch_table(frame))]
    _keep_windows(model, reference, currents)
    _alert(model, f"rule {HOSTILE}", T0, f"message {HOSTILE} \"quoted\" 'single' & more")
    written = write_report(model, tmp_path / "hostile.html")
    raw = written.read_bytes()
    page = raw.decode("utf-8")  # strict: any lone surrogate would fail here
    assert "<script" not in page and "\x00" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;b&gt;" in page and "lone\ufffdhalf" in page and "nul\ufffdcol" in page
    assert "c\ufffdd" in page  # a level holding a lone surrogate
    assert "message &lt;script&gt;" in page
    _valid(page)
    assert len(re.findall(r"<section id=f\d+>", page)) == 4
    assert "has no stored reference" in page


def test_sizes_stay_bounded_with_1000_windows_and_60_features(
    quiet_capture: None, store: Store, tmp_path: Path
) -> None:
    """1,000 windows and 60 features: 50 features charted, all 60 in the table, at most 500
    points per series, and a page of bounded size."""
    rng = np.random.default_rng(7)
    frame = pd.DataFrame({f"f{i:02d}": rng.normal(0, 1, 300) for i in range(60)})
    reference = sketch_table(frame, limit=None)
    current = sketch_table(frame.iloc[:150])
    report = compare(reference, current).to_dict()
    digest = get_store().artifacts.put_bytes(current.to_bytes()).digest
    # (as monitor_model keeps them: the reference compared with, though none is registered)
    report["reference_digest"] = get_store().artifacts.put_bytes(reference.to_bytes()).digest
    report["reference_datasets"] = ["wide@v3"]

    def save(conn: Any) -> None:
        for i in range(1000):
            begin = T0 + i * HOUR
            _queries.save_window(
                conn, model="wide", version=1, kind="drift", start_ms=begin, end_ms=begin + HOUR,
                rows=150, verdict=report["verdict"], score=report["share"], result=report,
                digest=digest, now=begin,
            )  # fmt: skip
        for i in range(3):  # quality windows as quality.py keeps them
            accuracy = {"value": 0.8 + i / 100, "training": 0.9, "change": i / 100 - 0.1}
            _queries.save_window(
                conn, model="wide", version=1, kind="quality", start_ms=T0 + i * HOUR,
                end_ms=T0 + (i + 1) * HOUR, rows=150, verdict="worse" if i < 2 else "ok",
                score=accuracy["value"], result={"task": "classification", "main": "accuracy",
                "metrics": {"accuracy": accuracy}, "notes": ["3 labels matched no prediction"]},
                digest=None, now=T0,
            )  # fmt: skip

    get_store().db.transact(save)
    written = write_report("wide", tmp_path / "wide.html")
    page = written.read_text(encoding="utf-8")
    _valid(page)
    assert len(re.findall(r"<section id=f\d+>", page)) == 50
    assert all(f"<code>f{i:02d}</code>" in page for i in range(50, 60))  # table rows only
    assert "10 feature(s) beyond the first 50" in page
    for points in re.findall(r'points="([^"]*)"', page):
        assert len(points.split()) <= 500
    assert page.count("(500 of 1,000 windows, evenly spaced)") == 1
    assert "newest 200 windows with a summary merged" in page
    assert "300 training rows of <code>wide@v3</code> (the reference the newest" in page
    assert page.count("class=ref") >= 50
    quality = page[page.index("<h2>Quality</h2>") :]
    assert "<b class=ok>ok</b>" in quality and "training 0.9" in quality
    assert quality.count("class=hit") == 2 and "3 labels matched no prediction" in quality
    assert written.stat().st_size < 1_500_000


def test_the_cli_prints_the_path_and_a_summary(
    capsys: pytest.CaptureFixture[str], churn: TableSketch, tmp_path: Path
) -> None:
    """`cairn monitor report` prints the file written on stdout and one summary line on stderr;
    a wrong folder or model is a message, not a traceback."""
    target = tmp_path / "out.html"
    code, out, err = cli(capsys, "monitor", "report", "churn", "-o", str(target), "--limit", "3")
    assert code == 0 and out.strip() == str(target) and target.exists()
    assert "report of churn: 3 window(s), 3 feature(s)" in err and "2 alert(s)" in err
    code, out, err = cli(capsys, "monitor", "report", "churn", "-o", str(tmp_path / "no/r.html"))
    assert code == 1 and out == "" and "does not exist" in err and "Traceback" not in err
    code, out, err = cli(capsys, "monitor", "report", "ghost", "-o", str(tmp_path / "g.html"))
    assert code == 1 and "no monitoring results for ghost yet" in err


def test_a_report_of_windows_that_monitor_model_computed(
    quiet_capture: None, store: Store, project: Path, tmp_path: Path
) -> None:
    """End to end: a served model's log monitored hour by hour, then reported: the shifted
    feature is the one marked, beside the reference made from the training dataset."""
    from cairn.monitoring.windows import monitor_model
    from tests.monitoring.test_windows import hours, register, write_log

    register(project)
    write_log(hours(0.0, 0.0, 1.0, 1.0))
    assert len(monitor_model("churn", window="1h").windows) == 4
    report = build_report("churn/1")
    sections = re.findall(r"<section id=f\d+><h3><code>([^<]*)</code>", report.html)
    assert sections[0] == "_prediction"
    assert set(sections) == {"_prediction", "age", "income", "city"}
    assert report.drifted == ["age"] and report.windows == 4
    assert "customers@v1" in report.html and "the 4 windows of the report merged" in report.html
    _valid(report.html)
    written = write_report("churn", tmp_path / "churn.html")
    assert written.read_text(encoding="utf-8").count("<svg") == 9  # share + 4 x 2


def test_quality_windows_alone_make_a_report(store: Store) -> None:
    """A model with quality windows and no drift window still gets its quality section."""
    accuracy = {"value": 0.7, "training": 0.9, "change": -0.2}
    result = {"main": "accuracy", "metrics": {"accuracy": accuracy}, "notes": []}
    get_store().db.transact(
        lambda conn: _queries.save_window(
            conn,
            model="q",
            version=2,
            kind="quality",
            start_ms=T0,
            end_ms=T0 + HOUR,
            rows=80,
            verdict="worse",
            score=0.7,
            result=result,
            digest=None,
            now=T0,
        )
    )
    report = build_report("q")
    assert report.windows == 1 and report.features == 0
    assert "No drift windows in this range" in report.html
    assert "<b class=bad>worse</b>" in report.html and "training 0.9" in report.html
    assert "version 2 has no stored reference" in report.html
    _valid(report.html)


class _Opaque:
    """An object of no type any argument takes."""


@pytest.mark.parametrize(
    ("argument", "value", "invalid"),
    [
        ("model", "a\x00b", True),
        ("model", "a\ud800b", True),
        ("model", "", True),
        ("model", None, True),
        ("model", 123, True),
        ("model", _Opaque(), True),
        ("model", "x" * 1_000_000, False),
        ("model", "../../etc/passwd", False),
        ("model", "m/" + "9" * 30, False),
        ("path", "a\x00b.html", True),
        ("path", "a\ud800b.html", True),
        ("path", "", True),
        ("path", None, True),
        ("path", 123, True),
        ("path", "x" * 1_000_000, True),
        ("limit", 0, True),
        ("limit", True, True),
        ("limit", 2**70, True),
        ("limit", 10**400, True),
        ("limit", float("nan"), True),
        ("limit", "1", True),
        ("since", "a\x00b", True),
        ("since", "a\ud800b", True),
        ("since", "x" * 1_000_000, True),
        ("since", _Opaque(), True),
        ("until", True, True),
    ],
    ids=lambda value: repr(value)[:20],
)
def test_hostile_arguments_are_refused_cleanly(
    churn: TableSketch, tmp_path: Path, argument: str, value: Any, invalid: bool
) -> None:
    """Each hostile argument gives a CairnError with a short message (InvalidInputError where
    the value itself is wrong), never a driver's or Python's own exception, and writes nothing."""
    out = tmp_path / "out"
    out.mkdir()
    kwargs: dict[str, Any] = {"model": "churn", "path": out / "r.html", argument: value}
    with pytest.raises(CairnError) as info:
        write_report(**kwargs)
    assert 0 < len(str(info.value)) <= 2_000
    assert isinstance(info.value, InvalidInputError) == invalid, str(info.value)[:200]
    assert list(out.iterdir()) == []
