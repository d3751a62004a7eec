"""The monitoring report: one self-contained HTML file (inline CSS and SVG, no script, nothing
fetched from the network) with a model's drift per feature over time, reference vs current
distributions, quality over time and the alerts that fired.

The "current" distributions are the merged summaries of the windows in the chosen range (the
newest ``MAX_MERGED`` of them when there are more); the page says which. Sizes are bounded
whatever the history: at most ``MAX_CHARTED`` features charted in full (all of them in the
summary table), ``MAX_POINTS`` windows per time series (evenly spaced), ``MAX_ALERTS`` alerts
(the limits are in ``_report_page``; the charts, drawn in Python, in ``_charts`` and
``_report_distributions``).
"""

from __future__ import annotations

import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cairn.core.checks import check_name, check_optional_int, check_path, show
from cairn.core.errors import CairnError, InvalidInputError, NotFoundError
from cairn.core.ids import now_ms
from cairn.monitoring import _queries
from cairn.monitoring._charts import text, when
from cairn.monitoring._report_page import ReportPage
from cairn.monitoring.sketch import TableSketch
from cairn.monitoring.windows import parse_time
from cairn.store import get_store

__all__ = ["MonitoringReport", "build_report", "check_destination", "write_report"]

MAX_LIMIT = 1_000_000  # windows a report may ask for (the series show MAX_POINTS of them)


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
    page = ReportPage(name, version, drift, quality, alerts, reference, reference_note, store)
    html, features, charted, drifted = page.render()
    return MonitoringReport(
        model=name,
        html=html,
        windows=len(drift) + len(quality),
        features=features,
        charted=charted,
        alerts=len(alerts),
        drifted=drifted,
    )


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
