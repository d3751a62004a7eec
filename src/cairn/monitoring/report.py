"""The monitoring report: one self-contained HTML file (inline CSS and SVG, no script, nothing
fetched from the network) with a model's drift per feature over time, reference vs current
distributions, quality over time and the alerts that fired.

The "current" distributions are the merged summaries of the windows in the chosen range (the
newest ``MAX_MERGED`` of them when there are more); the page says which. Sizes are bounded
whatever the history: at most ``MAX_CHARTED`` features charted in full (all of them in the
summary table), ``MAX_POINTS`` windows per time series (evenly spaced), ``MAX_ALERTS`` alerts.
"""

from __future__ import annotations

import math
import os
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cairn.core.checks import check_name, check_optional_int, check_path, show
from cairn.core.errors import CairnError, InvalidInputError, NotFoundError
from cairn.core.ids import now_ms
from cairn.core.progress import track
from cairn.monitoring import _charts, _queries
from cairn.monitoring._charts import number, text, when
from cairn.monitoring.drift import MIN_CATEGORICAL_EFFECT, MIN_NUMERIC_EFFECT
from cairn.monitoring.reference import PREDICTION
from cairn.monitoring.sketch import (
    CategoricalSketch,
    ColumnSketch,
    NumericSketch,
    TableSketch,
    _categorical,
    _merge_numeric_parts,
)
from cairn.monitoring.windows import parse_time
from cairn.store import get_store

__all__ = ["MonitoringReport", "build_report", "check_destination", "write_report"]

MAX_CHARTED = 50  # features drawn in full; the rest are rows of the summary table
MAX_POINTS = 500  # windows per time series (evenly spaced when there are more)
MAX_MERGED = 200  # newest windows whose summaries make the "current" distributions
MAX_ALERTS = 500  # alerts listed (newest first)
MAX_LIMIT = 1_000_000  # windows a report may ask for (the series show MAX_POINTS of them)
LEVELS_SHOWN = 12  # categorical levels drawn by name (the rest as "other")
BINS = 30
POINTS = 20_000  # numeric points kept per merged column (plenty for 30 bins)

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


@dataclass(frozen=True)
class MonitoringReport:
    """A rendered report and what it holds."""

    model: str
    html: str
    windows: int  # drift and quality windows in the range
    features: int
    charted: int
    alerts: int
    drifted: list[str]  # features that drifted in the newest window

    @property
    def summary(self) -> str:
        """One line saying what the report holds."""
        drifted = (
            f"{len(self.drifted)} drifting in the newest window"
            if self.drifted
            else "none drifting in the newest window"
        )
        return (
            f"report of {self.model}: {self.windows} window(s), {self.features} feature(s) "
            f"({drifted}), {self.alerts} alert(s), {len(self.html.encode()) / 1024:,.0f} KiB"
        )

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the page to ``path`` atomically (a temporary file, then a rename)."""
        target = check_destination(path)
        data = self.html.encode("utf-8", errors="replace")
        temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(temporary, target)
        except OSError as exc:
            temporary.unlink(missing_ok=True)
            raise InvalidInputError(
                f"cannot write the report to {target}: {exc.strerror or exc}; "
                "choose a file in a folder you can write to"
            ) from None
        return target


def write_report(
    model: Any,
    path: str | os.PathLike[str],
    *,
    since: Any = None,
    until: Any = None,
    limit: int | None = None,
) -> Path:
    """Write the monitoring report of ``model`` (``name``, ``name/3``, ``name@alias``) to
    ``path`` as one self-contained HTML file, and return its path.

    ``since``/``until``: the windows starting in that range (an aware datetime, epoch
    milliseconds, an ISO date or time taken as UTC, or a duration back from now such as
    ``7d``); ``limit``: only the newest ``limit`` windows.
    """
    check_destination(path)  # a wrong destination fails before the work
    return build_report(model, since=since, until=until, limit=limit).save(path)


def build_report(
    model: Any, *, since: Any = None, until: Any = None, limit: int | None = None
) -> MonitoringReport:
    """The monitoring report of ``model`` as a page in memory (see ``write_report``)."""
    name, version = _model_of(model)
    limit = check_optional_int(limit, "limit", minimum=1, maximum=MAX_LIMIT)
    now = now_ms()
    since_ms, until_ms = parse_time(since, "since", now), parse_time(until, "until", now)
    if since_ms is not None and until_ms is not None and since_ms >= until_ms:
        raise InvalidInputError("since must be before until; swap them or widen the span")
    store = get_store()
    with store.db.read() as conn:

        def windows(kind: str) -> list[_queries.WindowRow]:
            return _queries.windows(
                conn, name, kind=kind, version=version, since_ms=since_ms, until_ms=until_ms,
                limit=limit,
            )  # fmt: skip

        drift, quality = windows("drift"), windows("quality")
        if not drift and not quality:
            anywhere = _queries.windows(conn, name, version=version, limit=1)
            if not anywhere:
                shown = model if len(str(model)) <= 200 else show(model)
                raise NotFoundError(
                    f"no monitoring results for {shown} yet; run `cairn monitor run {shown}` first"
                )
            raise NotFoundError(
                f"no monitoring results for {show(model)} in the range asked (since "
                f"{show(since)}, until {show(until)}); the newest window starts "
                f"{when(anywhere[-1].start_ms)} UTC"
            )
        newest = max(drift[-1:] + quality[-1:], key=lambda w: w.start_ms)
        stored = _queries.reference(conn, name, newest.version)
        alerts = _queries.alerts(conn, subject=name)
    first = min(w.start_ms for w in drift[:1] + quality[:1])
    lower = first if limit is not None else since_ms  # (limited windows all start after since)
    if lower is not None:
        alerts = [a for a in alerts if a.window_start_ms >= lower]
    if until_ms is not None:
        alerts = [a for a in alerts if a.window_start_ms < until_ms]
    compared = drift[-1].result if drift else {}
    reference, reference_note = _reference(store, stored, newest.version, compared)
    return _Page(name, version, drift, quality, alerts, reference, reference_note, store).render()


# -- the page ----------------------------------------------------------------------------


@dataclass
class _Feature:
    name: str
    kind: str
    latest: dict[str, Any] | None  # the newest window's result for it
    per_window: list[dict[str, Any] | None]  # aligned with the sampled windows
    drifted: int  # windows where it drifted
    tested: int  # windows where it got a verdict


class _Page:
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

    def render(self) -> MonitoringReport:
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
        return MonitoringReport(
            model=self.name,
            html=page,
            windows=len(self.drift) + len(self.quality),
            features=len(self.features),
            charted=len(charted),
            alerts=len(self.alerts),
            drifted=[str(c) for c in newest.get("drifted_columns", [])],
        )

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
        merged = {key: one for key, found in parts.items() if (one := _merge(found)) is not None}
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
            distribution = _distribution(feature.kind, ref, cur)
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
                + f"</p><div class=charts><div>{distribution}</div><div>{trend}"
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


# -- distributions -----------------------------------------------------------------------


def _distribution(kind: str, ref: ColumnSketch | None, cur: ColumnSketch | None) -> str:
    if kind == "numeric":
        sides = [s if isinstance(s, NumericSketch) and len(s.values) else None for s in (ref, cur)]
        if sides == [None, None]:
            return "<p class=muted>No values to draw.</p>"
        return _numeric(sides[0], sides[1]) + _missing_note(ref, cur)
    if kind == "categorical":
        shown = [s if isinstance(s, CategoricalSketch) and s.count else None for s in (ref, cur)]
        if shown == [None, None]:
            return "<p class=muted>No values to draw.</p>"
        return _levels(shown[0], shown[1]) + _missing_note(ref, cur)
    return "<p class=muted>Not drawn: drift is not computed for this type.</p>"


def _numeric(ref: NumericSketch | None, cur: NumericSketch | None) -> str:
    """Histograms of both sides on common bins (0.5th to 99.5th percentile of either side;
    values beyond are counted in the end bins)."""
    import numpy as np

    sides = [s for s in (ref, cur) if s is not None]
    with np.errstate(over="ignore", invalid="ignore"):  # values near ±1e308
        low = min(float(np.quantile(s.values, 0.005)) for s in sides)
        high = max(float(np.quantile(s.values, 0.995)) for s in sides)
    if not high > low:  # a constant column: one bin around it
        low, high = low - 0.5, high + 0.5
    if not math.isfinite(high - low):  # e.g. -1e308 to 1e308: no bins in float64
        return f"<p class=muted>Values from {number(low)} to {number(high)}: too wide to bin.</p>"
    edges = np.linspace(low, high, BINS + 1)

    def shares(side: NumericSketch | None) -> list[float] | None:
        if side is None:
            return None
        counts, _ = np.histogram(np.clip(side.values, low, high), edges)
        return [float(c) / len(side.values) for c in counts]

    return _charts.histogram([float(e) for e in edges], shares(ref), shares(cur)) + (
        "<p class=muted>Share of non-missing values per bin; values beyond the 0.5th to 99.5th "
        "percentiles fall in the end bins.</p>"
    )


def _levels(ref: CategoricalSketch | None, cur: CategoricalSketch | None) -> str:
    """Bars of the most frequent levels' shares on each side, the rest as "other"."""
    ref_shares = {k: n / ref.count for k, n in ref.counts.items()} if ref else {}
    cur_shares = {k: n / cur.count for k, n in cur.counts.items()} if cur else {}
    ranked = sorted(
        set(ref_shares) | set(cur_shares),
        key=lambda k: (-max(ref_shares.get(k, 0.0), cur_shares.get(k, 0.0)), k),
    )
    top = ranked[:LEVELS_SHOWN]
    levels = list(top)
    values = [
        [side.get(k, 0.0) for k in top] if sketch else None
        for side, sketch in ((ref_shares, ref), (cur_shares, cur))
    ]
    rest = [max(0.0, 1.0 - sum(v)) if v is not None else 0.0 for v in values]
    if max(rest) > 0.0005:
        levels.append(f"other ({len(ranked) - len(top):,} more levels)")
        values = [[*v, r] if v is not None else None for v, r in zip(values, rest, strict=True)]
    return _charts.bars(levels, values[0], values[1]) + (
        "<p class=muted>Share of non-missing values per level.</p>"
    )


def _missing_note(ref: ColumnSketch | None, cur: ColumnSketch | None) -> str:
    def share(side: ColumnSketch | None) -> str:
        if isinstance(side, (NumericSketch, CategoricalSketch)) and side.rows:
            return f"{side.missing / side.rows:.1%}"
        return "-"

    return f"<p class=muted>Missing: reference {share(ref)}, current {share(cur)}.</p>"


def _merge(parts: list[ColumnSketch]) -> ColumnSketch | None:
    """One summary of a column's window summaries (those of the newest window's kind)."""
    kind = parts[-1].kind
    same = [p for p in parts if p.kind == kind]
    if kind == "numeric":
        return _merge_numeric_parts([p for p in same if isinstance(p, NumericSketch)], POINTS)
    if kind == "categorical":
        levels: dict[str, int] = {}
        missing = other = 0
        for part in same:
            assert isinstance(part, CategoricalSketch)
            missing, other = missing + part.missing, other + part.other
            for level, n in part.counts.items():
                levels[level] = levels.get(level, 0) + n
        return _categorical(levels, missing, other)
    return None


# -- inputs ------------------------------------------------------------------------------


def _reference(
    store: Any, stored: Any, version: int, compared: dict[str, Any]
) -> tuple[TableSketch | None, str]:
    """The reference summary the newest drift window was compared with (the version's stored
    one when the window does not say), and where it came from (HTML)."""
    digest = compared.get("reference_digest") or (stored.digest if stored else None)
    if not isinstance(digest, str):
        return None, (
            f"<span class=muted>version {version} has no stored reference: distributions show "
            "the current data only</span>"
        )
    try:
        sketch = TableSketch.from_bytes(store.artifacts.read_bytes(digest))
    except CairnError as exc:
        return None, f"<span class=bad>the reference of version {version}: {text(exc, 300)}</span>"
    same = stored is not None and stored.digest == digest
    source: dict[str, Any] = (
        stored.source if same else {"datasets": compared.get("reference_datasets") or []}
    )
    datasets = [str(d) for d in source.get("datasets", [])]
    made = ", ".join(f"<code>{text(d, 120)}</code>" for d in datasets) or "data given by hand"
    predicted = source.get("predicted_rows")
    predicted = predicted if isinstance(predicted, int) else 0
    return sketch, (
        f"version {version}: {sketch.rows:,} training rows of {made}"
        + (f"; predictions on {predicted:,} of them" if predicted else "")
        + ("" if same else " (the reference the newest window was compared with)")
    )


def _model_of(model: Any) -> tuple[str, int | None]:
    """(name, version or None for all versions) of ``name``, ``name/3``, ``name@alias``
    (or the same as ``models:/...``) or a ``ModelVersion``."""
    from cairn.registry import ModelVersion

    if isinstance(model, ModelVersion):
        return model.name, model.version
    check_name(model, "model", max_length=None)
    # (Not the registry's URI parser: a model whose windows exist is reported whatever its name.)
    name = model.strip().removeprefix("models:/")
    numbered = re.fullmatch(r"(.+)/(\d{1,9})", name)
    if numbered:
        return numbered.group(1), int(numbered.group(2))
    if "@" in name:
        from cairn.registry import get_model_version

        found = get_model_version(name)
        return found.name, found.version
    return name, None


def check_destination(path: str | os.PathLike[str]) -> Path:
    """The file a report goes to; refused when its folder does not exist or it is a folder."""
    target = check_path(path, "the report's path")
    shown = str(target) if len(str(target)) <= 300 else show(str(target))
    try:
        is_folder, has_folder = target.is_dir(), target.parent.is_dir()
    except OSError as exc:  # a name too long for the file system, say
        raise InvalidInputError(
            f"cannot write the report to {shown}: {exc.strerror or exc}; choose another path"
        ) from None
    if is_folder:
        raise InvalidInputError(f"{shown} is a folder; give a file name like {shown}/report.html")
    if not has_folder:
        folder = str(target.parent) if len(str(target.parent)) <= 300 else show(str(target.parent))
        raise InvalidInputError(
            f"the folder {folder} does not exist; create it first or write elsewhere"
        )
    return target


# -- small helpers -----------------------------------------------------------------------


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
