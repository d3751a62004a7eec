"""The HTML of the monitoring report: header, dataset drift, the features' table and
charts, quality and alerts, each section bounded whatever the history."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cairn.core.errors import CairnError
from cairn.core.ids import now_ms
from cairn.core.progress import track
from cairn.monitoring import _charts, _queries
from cairn.monitoring._charts import number, text, when
from cairn.monitoring._report_distributions import distribution, merge_parts
from cairn.monitoring.drift import MIN_CATEGORICAL_EFFECT, MIN_NUMERIC_EFFECT
from cairn.monitoring.reference import PREDICTION
from cairn.monitoring.sketch import ColumnSketch, TableSketch

__all__ = ["MAX_CHARTED", "MAX_MERGED", "MAX_POINTS", "ReportPage"]

MAX_CHARTED = 50  # features drawn in full; the rest are rows of the summary table
MAX_POINTS = 500  # windows per time series (evenly spaced when there are more)
MAX_MERGED = 200  # newest windows whose summaries make the "current" distributions
MAX_ALERTS = 500  # alerts listed (newest first)

_STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:2rem;color:#1d1d1f;max-width:1100px}
h1{font-size:1.35rem}h2{font-size:1.15rem;margin-top:2rem}h3{font-size:1rem;margin:.2rem 0}
.ok{color:#137333}.bad{color:#b3261e}.muted{color:#666}.small{font-size:10px}
table{border-collapse:collapse;width:100%;margin:.6rem 0}
th,td{border-bottom:1px solid #ddd;padding:.3rem .6rem;text-align:left;vertical-align:top}
th{background:#f5f5f7}td.n{text-align:right;font-variant-numeric:tabular-nums}
table.facts th{width:11rem;background:none}
section{border-top:1px solid #ddd;padding:.6rem 0}
.charts{display:flex;flex-wrap:wrap;gap:1rem}
svg{font:11px system-ui,sans-serif;max-width:100%;height:auto}
svg text{fill:#444}.ref{fill:#4e79a7;opacity:.6}.cur{fill:#f28e2b;opacity:.6}
.axis{stroke:#999}.line{fill:none;stroke:#4e79a7;stroke-width:1.5}
.limit{stroke:#b3261e;stroke-dasharray:4 3}.dot{fill:#4e79a7}.hit{fill:#b3261e}
.key{display:inline-block;width:.8rem;height:.8rem;margin:0 .3rem 0 .8rem;vertical-align:-1px}
.key.ref{background:#4e79a7}.key.cur{background:#f28e2b}
code{word-break:break-all}
"""


@dataclass
class _Feature:
    """One feature's results over the report's windows."""

    name: str
    kind: str
    latest: dict[str, Any] | None  # the newest window's result for it
    per_window: list[dict[str, Any] | None]  # aligned with the sampled windows
    drifted: int  # windows where it drifted
    tested: int  # windows where it got a verdict


class ReportPage:
    """Builds the HTML of one report."""

    def __init__(
        self,
        name: str,
        version: int | None,
        drift: list[_queries.WindowRow],
        quality: list[_queries.WindowRow],
        alerts: list[_queries.AlertRow],
        reference: Any,
        reference_note: str,
        store: Any,
    ) -> None:
        self.name, self.version, self.store = name, version, store
        self.drift, self.quality, self.alerts = drift, quality, alerts
        self.reference, self.reference_note = reference, reference_note
        self.sampled = _evenly(drift, MAX_POINTS)
        self.features = self._features()

    def render(self) -> tuple[str, int, int, list[str]]:
        """(the page, features, features charted, features drifting in the newest window)."""
        charted = self.features[:MAX_CHARTED]
        current, current_note = self._current([f.name for f in charted])
        title = f"Monitoring of {self.name}"
        body = [
            f"<h1>{text(title)}</h1>",
            self._facts(current_note),
            self._dataset(),
            self._summary_table(charted),
            self._details(charted, current),
            self._quality(),
            self._alerts(),
            f"<p class=muted>Written by cairn on {when(now_ms())} UTC. Times are UTC.</p>",
        ]
        page = (
            "<!doctype html>\n<html lang=en><head><meta charset=utf-8>"
            '<meta name=viewport content="width=device-width,initial-scale=1">'
            f"<title>{text(title)}</title><style>{_STYLE}</style></head><body>"
            + "".join(body)
            + "</body></html>\n"
        )
        newest = self.drift[-1].result if self.drift else {}
        drifted = [str(c) for c in newest.get("drifted_columns", [])]
        return page, len(self.features), len(charted), drifted

    # -- gathering ---------------------------------------------------------------------

    def _features(self) -> list[_Feature]:
        order: dict[str, str] = {}
        for window in reversed(self.drift):  # the newest window's order first
            for column in window.result.get("columns", []):
                order.setdefault(str(column.get("column")), str(column.get("kind", "")))
        names = sorted(order, key=lambda n: n != PREDICTION)  # the prediction first (stable)
        by_name: dict[str, dict[int, dict[str, Any]]] = {n: {} for n in names}
        drifted = dict.fromkeys(names, 0)
        tested = dict.fromkeys(names, 0)
        latest: dict[str, dict[str, Any]] = {}
        sampled_ids = {id(w): i for i, w in enumerate(self.sampled)}
        for window in self.drift:
            slot = sampled_ids.get(id(window))
            for column in window.result.get("columns", []):
                key = str(column.get("column"))
                latest[key] = column
                drifted[key] += column.get("verdict") == "drift"
                tested[key] += column.get("verdict") in ("drift", "no drift")
                if slot is not None:
                    by_name[key][slot] = column
        return [
            _Feature(
                name=n,
                kind=order[n],
                latest=latest.get(n),
                per_window=[by_name[n].get(i) for i in range(len(self.sampled))],
                drifted=drifted[n],
                tested=tested[n],
            )
            for n in names
        ]

    def _current(self, names: list[str]) -> tuple[dict[str, ColumnSketch], str]:
        """The merged summaries of the newest windows for ``names``, and what they are (HTML)."""
        with_summary = [w for w in self.drift if w.digest]
        chosen = with_summary[-MAX_MERGED:]
        if not chosen or not names:
            return {}, "no window kept a summary of its rows: no current distributions"
        wanted = set(names)
        parts: dict[str, list[ColumnSketch]] = {}
        failed = 0
        for window in track(chosen, len(chosen), "reading window summaries"):
            try:
                sketch = TableSketch.from_bytes(self.store.artifacts.read_bytes(window.digest))
            except CairnError:  # a lost summary leaves the others standing
                failed += 1
                continue
            for key, column in sketch.columns.items():
                if key in wanted:
                    parts.setdefault(key, []).append(column)
        merged = {k: one for k, found in parts.items() if (one := merge_parts(found)) is not None}
        if len(chosen) == 1:
            note = f"the newest window ({_span(chosen[0])})"
        elif len(chosen) == len(with_summary) == len(self.drift):
            note = f"the {len(chosen)} windows of the report merged ({_range(chosen)})"
        else:
            note = (
                f"the newest {len(chosen)} windows with a summary merged ({_range(chosen)}; "
                f"{len(self.drift)} in the report)"
            )
        if failed:
            note += f"; {failed} window summary(ies) could not be read and were left out"
        return merged, note

    # -- sections ----------------------------------------------------------------------

    def _facts(self, current_note: str) -> str:
        windows = self.drift + self.quality
        versions = sorted({w.version for w in windows})
        rows = [
            ("model", text(self.name)),
            ("versions", ", ".join(str(v) for v in versions)),
            ("reference", self.reference_note),
            (
                "windows",
                f"{len(self.drift):,} drift, {len(self.quality):,} quality; "
                f"{sum(w.rows for w in self.drift):,} rows monitored",
            ),
            (
                "time range",
                f"{when(min(w.start_ms for w in windows))} &ndash; "
                f"{when(max(w.end_ms for w in windows))} UTC",
            ),
            ("current", current_note),  # (HTML already: dates and counts only)
        ]
        cells = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
        return f"<table class=facts>{cells}</table>"

    def _dataset(self) -> str:
        if not self.drift:
            return "<p class=muted>No drift windows in this range.</p>"
        newest = self.drift[-1]
        verdict = str(newest.result.get("verdict", newest.verdict))
        drifted = [str(c) for c in newest.result.get("drifted_columns", [])]
        css = "bad" if verdict == "drift" else "ok"
        which = ", ".join(f"<code>{text(c, 80)}</code>" for c in drifted[:20]) or "none"
        if len(drifted) > 20:
            which += f" and {len(drifted) - 20} more"
        threshold = newest.result.get("threshold")
        chart = _charts.series(
            [w.start_ms for w in self.sampled],
            [_float(w.result.get("share", w.score)) for w in self.sampled],
            [w.verdict == "drift" for w in self.sampled],
            _float(threshold),
            label="share of drifted features",
        )
        return (
            "<h2>Dataset drift</h2>"
            f"<p>Newest window ({_span(newest)}): <b class={css}>{text(verdict)}</b>; "
            f"drifted features: {which}.</p>"
            f"{chart}<p class=muted>Share of drifted features per window"
            f"{_sampled_note(len(self.drift), len(self.sampled))}; red: the dataset drifted.</p>"
        )

    def _summary_table(self, charted: list[_Feature]) -> str:
        if not self.features:
            return ""
        rows = []
        for index, feature in enumerate(self.features):
            latest = feature.latest or {}
            verdict = str(latest.get("verdict", "-"))
            css = "bad" if verdict == "drift" else ("ok" if verdict == "no drift" else "muted")
            name = text(feature.name, 120)
            if index < len(charted):
                name = f"<a href='#f{index}'>{name}</a>"
            rows.append(
                f"<tr><td><code>{name}</code></td><td>{text(feature.kind)}</td>"
                f"<td class={css}>{text(verdict)}</td>"
                f"<td class=n>{number(_float(latest.get('effect')))}</td>"
                f"<td class=n>{number(_float(latest.get('p_value')), 2)}</td>"
                f"<td>{text(latest.get('test') or '-')}</td>"
                f"<td class=n>{feature.drifted:,} / {feature.tested:,}</td>"
                f"<td class=n>{_pct(latest.get('reference_missing'))} → "
                f"{_pct(latest.get('current_missing'))}</td></tr>"
            )
        more = (
            f"<p class=muted>{len(self.features) - len(charted):,} feature(s) beyond the first "
            f"{MAX_CHARTED} are listed here but not charted.</p>"
            if len(self.features) > len(charted)
            else ""
        )
        return (
            "<h2>Features</h2><table><tr><th>feature</th><th>kind</th><th>newest verdict</th>"
            "<th>effect</th><th>p-value</th><th>test</th><th>drifted windows</th>"
            "<th>missing (ref → current)</th></tr>" + "".join(rows) + "</table>" + more
        )

    def _details(self, charted: list[_Feature], current: dict[str, ColumnSketch]) -> str:
        if not charted:
            return ""
        reference = self.reference.columns if self.reference is not None else {}
        sections = []
        times = [w.start_ms for w in self.sampled]
        for index, feature in enumerate(charted):
            ref, cur = reference.get(feature.name), current.get(feature.name)
            drawn = distribution(feature.kind, ref, cur)
            threshold = MIN_NUMERIC_EFFECT if feature.kind == "numeric" else MIN_CATEGORICAL_EFFECT
            trend = _charts.series(
                times,
                [_float(c.get("effect")) if c else None for c in feature.per_window],
                [bool(c and c.get("verdict") == "drift") for c in feature.per_window],
                threshold,
                label="effect",
                baseline_label="drift at",
            )
            latest = feature.latest or {}
            note = latest.get("note") or ""
            unseen = _float(latest.get("unseen_share"))
            extra = f"; unseen levels {unseen:.1%} of current rows" if unseen else ""
            sections.append(
                f"<section id=f{index}><h3><code>{text(feature.name, 200)}</code> "
                f"<span class=muted>({text(feature.kind)})</span></h3>"
                f"<p>Newest: <b>{text(latest.get('verdict', '-'))}</b>, effect "
                f"{number(_float(latest.get('effect')))}{extra}"
                + (f" — {text(note, 300)}" if note else "")
                + f"</p><div class=charts><div>{drawn}</div><div>{trend}"
                "<p class=muted>Effect per window (numeric: Wasserstein distance in reference "
                "standard deviations; categorical: bias-corrected Cramér's V); red: drifted."
                "</p></div></div></section>"
            )
        legend = (
            "<p><span class='key ref'></span>reference (training data)"
            "<span class='key cur'></span>current</p>"
        )
        return "<h2>Feature details</h2>" + legend + "".join(sections)

    def _quality(self) -> str:
        """The main metric per window beside the training run's value (``quality.py``'s
        results: ``{"main": name, "metrics": {name: {"value", "training", "change"}}}``)."""
        if not self.quality:
            return ""
        sampled = _evenly(self.quality, MAX_POINTS)
        newest = self.quality[-1]
        metrics = _metrics(newest.result)
        metric = str(newest.result.get("main") or next(iter(metrics), "score"))
        training = _float(metrics.get(metric, {}).get("training"))
        chart = _charts.series(
            [w.start_ms for w in sampled],
            [_float(_metrics(w.result).get(metric, {}).get("value")) for w in sampled],
            [w.verdict == "worse" for w in sampled],
            training,
            label=metric,
            baseline_label="training",
        )
        cells = "".join(
            f"<tr><td>{text(k, 80)}</td><td class=n>{number(_float(v.get('value')), 4)}</td>"
            f"<td class=n>{number(_float(v.get('training')), 4)}</td>"
            f"<td class=n>{number(_float(v.get('change')), 3)}</td></tr>"
            for k, v in list(metrics.items())[:30]
        )
        table = (
            "<table><tr><th>metric (newest window)</th><th>value</th><th>training</th>"
            f"<th>change</th></tr>{cells}</table>"
            if cells
            else ""
        )
        notes = newest.result.get("notes")
        shown = (
            "".join(f"<li>{text(n, 300)}</li>" for n in notes[:10])
            if isinstance(notes, list)
            else ""
        )
        css = "bad" if newest.verdict == "worse" else ("ok" if newest.verdict == "ok" else "muted")
        return (
            f"<h2>Quality</h2><p>Newest window ({_span(newest)}): "
            f"<b class={css}>{text(newest.verdict)}</b>. {text(metric)} per window"
            f"{_sampled_note(len(self.quality), len(sampled))}; the dashed line is the training "
            f"run's value{'' if training is not None else ' (not known)'}; red: worse than "
            f"training.</p>{chart}{table}" + (f"<ul class=muted>{shown}</ul>" if shown else "")
        )

    def _alerts(self) -> str:
        if not self.alerts:
            return "<h2>Alerts</h2><p class=ok>No alerts fired in this range.</p>"
        rows = []
        for alert in self.alerts[:MAX_ALERTS]:
            css = "bad" if alert.delivery == "failed" else ""
            error = f"<br><span class=muted>{text(alert.last_error, 300)}</span>"
            rows.append(
                f"<tr><td>{text(alert.rule, 120)}</td>"
                f"<td>{when(alert.window_start_ms)} &ndash; {when(alert.window_end_ms)}</td>"
                f"<td>{text(alert.message, 1000)}</td>"
                f"<td class='{css}'>{text(alert.delivery)} ({alert.attempts} attempt(s))"
                f"{error if alert.last_error else ''}</td>"
                f"<td>{when(alert.fired_ms)}</td></tr>"
            )
        more = (
            f"<p class=muted>{len(self.alerts) - MAX_ALERTS:,} older alert(s) not shown; "
            "`cairn monitor alerts` lists them all.</p>"
            if len(self.alerts) > MAX_ALERTS
            else ""
        )
        return (
            f"<h2>Alerts</h2><p>{len(self.alerts):,} alert(s), newest first.</p>"
            "<table><tr><th>rule</th><th>window (UTC)</th><th>message</th><th>delivery</th>"
            "<th>fired</th></tr>" + "".join(rows) + "</table>" + more
        )


def _evenly(items: Sequence[Any], most: int) -> list[Any]:
    """At most ``most`` of ``items`` at evenly spaced positions (first and last kept)."""
    n = len(items)
    if n <= most:
        return list(items)
    picks = sorted({round(i * (n - 1) / (most - 1)) for i in range(most)})
    return [items[i] for i in picks]


def _sampled_note(total: int, shown: int) -> str:
    return f" ({shown} of {total:,} windows, evenly spaced)" if shown < total else ""


def _span(window: _queries.WindowRow) -> str:
    return f"{when(window.start_ms)} &ndash; {when(window.end_ms)} UTC, {window.rows:,} rows"


def _range(windows: Sequence[_queries.WindowRow]) -> str:
    rows = sum(w.rows for w in windows)
    return f"{when(windows[0].start_ms)} &ndash; {when(windows[-1].end_ms)} UTC, {rows:,} rows"


def _float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _pct(value: Any) -> str:
    share = _float(value)
    return "-" if share is None else f"{share:.1%}"


def _metrics(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A quality window's metrics (name -> value, training, change), malformed ones left out."""
    found = result.get("metrics")
    if not isinstance(found, dict):
        return {}
    return {str(k): v for k, v in found.items() if isinstance(v, dict)}
