"""The monitoring pages: every monitored model with its newest drift verdict and alerts, and
one model's drift per feature over time, its newest per-feature results, quality over time,
its alerts and the monitoring report (``/monitoring/<model>/report``, the offline HTML page
``cairn monitor report`` writes)."""

from __future__ import annotations

import math
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from cairn import monitoring
from cairn.core.errors import InvalidInputError, NotFoundError
from cairn.ui.page import Viewer, quote, render
from cairn.ui.views.pipelines import name_problem

router = APIRouter(include_in_schema=False)

WINDOWS_CHARTED = 500  # newest windows drawn per chart
ALERTS_LISTED = 100
MAX_SURPRISE = 30.0  # -log10(p) drawn at most (p-values of drifted features reach 1e-300)
MAX_NAME = 255
#: The report is inline CSS and SVG, no script and nothing fetched: its page may run nothing.
REPORT_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'self'"
)


def _checked(model: str) -> str:
    """``model`` if it can name one, else a clear 400."""
    problem = name_problem(model, MAX_NAME)
    if problem:
        raise InvalidInputError(
            f"model name {model[:40]!r}{'...' if len(model) > 40 else ''} {problem}; pick one "
            "from the list at /monitoring"
        )
    return model


def _alert_row(alert: Any) -> dict[str, Any]:
    return {
        "id": alert.id,
        "rule": alert.rule,
        "condition": alert.condition,
        "subject": alert.subject,
        "model": alert.model,
        "message": alert.message,
        "window_start_ms": alert.window_start_ms,
        "window_end_ms": alert.window_end_ms,
        "fired_ms": alert.fired_ms,
        "delivery": alert.delivery,
        "value": alert.evidence,
    }


@router.get("/monitoring")
@router.get("/monitoring.json")
def monitoring_page(request: Request, caller: Viewer) -> Response:
    """The monitored models (newest drift verdict, alerts) and the recent alerts."""
    rows = []
    for found in monitoring.monitored_models():
        latest = found.latest
        rows.append(
            {
                "model": found.model,
                "versions": found.versions,
                "drift_windows": found.drift_windows,
                "quality_windows": found.quality_windows,
                "verdict": None if latest is None else latest.verdict,
                "share": None if latest is None else latest.score,
                "drifted": [] if latest is None else list(latest.result.get("drifted_columns", [])),
                "window_start_ms": None if latest is None else latest.start_ms,
                "window_end_ms": None if latest is None else latest.end_ms,
                "version": None if latest is None else latest.version,
                "last_ms": found.last_ms,
                "alerts": found.alerts,
                "firing": found.firing,
            }
        )
    alerts = [_alert_row(a) for a in monitoring.list_alerts(limit=ALERTS_LISTED)]
    return render(request, "monitoring.html", {"models": rows, "alerts": alerts})


def _surprise(p_value: Any) -> float | None:
    """-log10 of a p-value, capped at ``MAX_SURPRISE`` (a p-value of 1e-300 charts as 30,
    not as a scale of 300 decades); None when the test gave none."""
    if not isinstance(p_value, (int, float)) or isinstance(p_value, bool) or p_value < 0:
        return None
    return MAX_SURPRISE if p_value <= 10**-MAX_SURPRISE else min(MAX_SURPRISE, -math.log10(p_value))


def _features(history: list[Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The newest window's per-feature results, and each feature's series over the windows
    (x: window start in seconds; effect size and p-value)."""
    series: dict[str, dict[str, Any]] = {}
    several = len({w.version for w in history}) > 1  # a line per feature and version then
    for i, window in enumerate(history):
        for column in window.result.get("columns", []):
            name = str(column.get("column"))
            name = f"{name} v{window.version}" if several else name
            each = series.setdefault(
                name,
                {
                    "feature": name,
                    "x": [],
                    "effect": [],
                    "p_value": [],
                    "surprise": [],
                    "drifted": [],
                },
            )
            each["x"].append(window.start_ms / 1000)
            each["effect"].append(column.get("effect"))
            each["p_value"].append(column.get("p_value"))
            each["surprise"].append(_surprise(column.get("p_value")))
            if column.get("verdict") == "drift":
                each["drifted"].append(i)
    newest = history[-1].result.get("columns", []) if history else []
    latest = [
        {
            "feature": str(c.get("column")),
            "kind": c.get("kind"),
            "test": c.get("test") or "",
            "statistic": c.get("statistic"),
            "p_value": c.get("p_value"),
            "effect": c.get("effect"),
            "verdict": c.get("verdict"),
            "drift": c.get("verdict") == "drift",
            "note": c.get("note") or "",
        }
        for c in newest
    ]
    return latest, list(series.values())


def _quality(windows: list[Any]) -> list[dict[str, Any]]:
    """Each quality metric's values over the windows."""
    series: dict[str, dict[str, Any]] = {}
    for window in windows:
        for metric, values in (window.result.get("metrics") or {}).items():
            value = values.get("value") if isinstance(values, dict) else values
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                each = series.setdefault(metric, {"metric": metric, "x": [], "y": []})
                each["x"].append(window.start_ms / 1000)
                each["y"].append(value)
    return list(series.values())


@router.get("/monitoring/{model}/report")
def report_page(request: Request, caller: Viewer, model: str) -> Response:
    """The model's monitoring report (offline HTML: drift, distributions, quality, alerts),
    served with a policy that lets it run no script and fetch nothing."""
    from cairn.monitoring.report import build_report

    report = build_report(_checked(model))
    return HTMLResponse(
        report.html,
        headers={
            "Content-Security-Policy": REPORT_POLICY,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        },
    )


@router.get("/monitoring/{model}")
@router.get("/monitoring/{model}.json")
def model_page(request: Request, caller: Viewer, model: str) -> Response:
    """One model's drift per feature over time, newest per-feature results, quality over
    time, alerts, and a link to its report."""
    model = _checked(model)
    history = monitoring.monitor_history(model, limit=WINDOWS_CHARTED)
    quality = monitoring.quality_history(model, limit=WINDOWS_CHARTED)
    name = history[-1].model if history else (quality[-1].model if quality else model)
    alerts = [_alert_row(a) for a in monitoring.list_alerts(name, limit=ALERTS_LISTED)]
    if not history and not quality and not alerts:
        raise NotFoundError(
            f"model {model[:80]!r} has no monitoring history yet; run cairn monitor run "
            f"{model[:80]} (see /monitoring for the monitored models)"
        )
    latest, series = _features(history)
    newest = history[-1] if history else None
    windows = [
        {
            "version": w.version,
            "start_ms": w.start_ms,
            "end_ms": w.end_ms,
            "rows": w.rows,
            "verdict": w.verdict,
            "share": w.score,
            "drifted": list(w.result.get("drifted_columns", [])),
        }
        for w in reversed(history[-20:])
    ]
    context = {
        "model": name,
        "asked": model,
        "latest_window": None if newest is None else windows[0],
        "features": latest,
        "series": series,
        "windows": windows,
        "quality": _quality(quality),
        "quality_windows": [
            {
                "version": w.version,
                "start_ms": w.start_ms,
                "rows": w.rows,
                "main": w.result.get("main"),
                "score": w.score,
                "verdict": w.verdict,
            }
            for w in reversed(quality[-20:])
        ],
        "charted": len(history),
        "alerts": alerts,
        "report": f"/monitoring/{quote(model)}/report",
    }
    return render(request, "monitoring_model.html", context)
