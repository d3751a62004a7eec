"""Monitoring windows over the prediction log: how a window is named and where one begins,
and ``monitor_model``, which reads a served model's log window by window and stores each
window's drift against the version's training reference.

A window is a span of time (``30m``, ``1h``, ``1d``, ``7d``; aligned to the UTC epoch, so the
same rows always fall in the same window whoever computes it) or a number of rows (``10000``:
consecutive rows in the log's order).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

from cairn.core.errors import InvalidInputError, NotFoundError

__all__ = [
    "MonitorRun",
    "WindowResult",
    "WindowSpec",
    "monitor_history",
    "monitor_model",
    "parse_window",
]

_UNITS_MS = {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_TIME = re.compile(r"(\d{1,9})([smhdw])")
_ROWS = re.compile(r"\d{1,12}")
MIN_WINDOW_MS = 60_000  # shorter windows hold too few rows to say anything
MAX_WINDOW_MS = 366 * 86_400_000


@dataclass(frozen=True)
class WindowSpec:
    """A window of ``size`` milliseconds (``kind="time"``) or ``size`` rows."""

    kind: Literal["time", "rows"]
    size: int
    text: str

    def start_of(self, ts_ms: int) -> int:
        """The start of the time window holding ``ts_ms`` (epoch-aligned)."""
        if self.kind != "time":
            raise ValueError("row windows start where the previous one ended")
        return ts_ms - ts_ms % self.size


def parse_window(text: str | int) -> WindowSpec:
    """``"1h"``, ``"1d"``, ``"30m"``, ``"7d"`` or a row count (``"10000"`` or ``10000``)."""
    if isinstance(text, bool) or not isinstance(text, (str, int)):
        raise InvalidInputError(
            f"a window is a duration like '1h' or '1d', or a row count like 10000; not {text!r}"
        )
    shown = str(text).strip().lower()
    if _ROWS.fullmatch(shown):
        rows = int(shown)
        if rows < 1:
            raise InvalidInputError("a window of rows holds at least 1 row; give e.g. 10000")
        return WindowSpec("rows", rows, shown)
    match = _TIME.fullmatch(shown)
    if match is None:
        raise InvalidInputError(
            f"cannot read the window {str(text)[:40]!r}: give a duration (30m, 1h, 1d, 7d) or a "
            "row count (10000)"
        )
    size = int(match.group(1)) * _UNITS_MS[match.group(2)]
    if not MIN_WINDOW_MS <= size <= MAX_WINDOW_MS:
        raise InvalidInputError(
            f"a time window lasts from 1 minute to 366 days; {shown!r} does not"
        )
    return WindowSpec("time", size, shown)


# -- monitoring a served model ----------------------------------------------------------

KIND = "drift"  # the kind of window results this module stores
#: Rows of the last minutes may still sit in a running server's spool (sealed every
#: ``seal_after_s``, 5 minutes by default): a window ending this recently is partial.
SEAL_GRACE_MS = 15 * 60_000
MAX_EPOCH_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z
MAX_HISTORY = 100_000  # windows ``monitor_history`` returns at most


@dataclass(frozen=True)
class WindowResult:
    """One monitored window of one version: its span, rows and drift verdict."""

    version: int
    start_ms: int
    end_ms: int  # exclusive
    rows: int
    verdict: str  # drift | no drift | not enough data
    share: float | None  # share of tested columns that drifted
    drifted: list[str]  # the columns that drifted
    partial: bool  # still open (or cut by ``until``): computed again by the next run


@dataclass(frozen=True)
class MonitorRun:
    """What one monitoring run computed and stored."""

    model: str
    versions: list[int]
    window: str  # the window spec's text (``1d``, ``10000``)
    windows: list[WindowResult] = field(default_factory=list)
    alerts: list[Any] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def monitor_model(
    model: Any,
    *,
    window: str | int = "1d",
    since: Any = None,
    until: Any = None,
    executor: Any = None,
) -> MonitorRun:
    """Compute the drift of a served model's logged inputs and predictions, window by
    window, against each version's training reference, and store every window's result.

    ``model``: ``"name"`` (every version in its prediction log, each against its own
    reference), ``"name@alias"`` or ``"name/3"`` (that version), or the same as
    ``models:/...``. ``window``: ``"1h"``, ``"1d"`` (epoch-aligned) or a row count.
    ``since``/``until``: aware datetimes, epoch milliseconds, ISO text (``"2026-12-01"``,
    taken as UTC) or a duration back from now (``"24h"``). Without ``since``, time windows
    already stored complete are not computed again. ``executor``: ``"dask"`` (a local
    cluster for this run) or a Dask scheduler's address: each log file is summarized there.
    """
    from cairn.core.ids import now_ms
    from cairn.core.progress import track
    from cairn.monitoring._log_scan import log_files
    from cairn.monitoring._window_scan import scan_on_dask
    from cairn.store import get_store

    name, versions = _resolve(model)
    spec = parse_window(window)
    now = now_ms()
    since_ms = parse_time(since, "since", now)
    until_ms = parse_time(until, "until", now)
    if since_ms is not None and until_ms is not None and since_ms >= until_ms:
        raise InvalidInputError("since must be before until; swap them or widen the span")
    address = _executor(executor)
    if address is not None and spec.kind != "time":
        raise InvalidInputError(
            "--executor dask computes time windows (1h, 1d); row windows follow the log's "
            "order and are computed here: drop --executor or give a duration"
        )
    store = get_store()
    notes: list[str] = []
    scans = _scans(store, name, versions, spec, (now, since_ms, until_ms), notes)
    versions = list(scans)
    if since_ms is None and spec.kind == "time":
        for scan in scans.values():
            scan.resume(store, notes)
    low = min((s.low for s in scans.values() if s.low is not None), default=None)
    if any(s.low is None for s in scans.values()):
        low = None
    files = [
        f for f in log_files(store, name, versions, since_ms=low, until_ms=until_ms)
        if scans[f.version].wants(f)
    ]  # fmt: skip
    if not files and not any(scan.resumed for scan in scans.values()):
        notes.append("no rows of the chosen versions in the chosen span of the log")
    total = sum(f.rows for f in files)
    progress = track(files, total, f"monitoring {name}", size=lambda f: f.rows, min_total=1)
    if address is None:
        for file in progress:
            scans[file.version].add_file(store, file)
    else:
        scan_on_dask(address, store, files, scans, progress)
    results: list[WindowResult] = []
    for scan in scans.values():
        results.extend(scan.finish(store))
    results.sort(key=lambda r: (r.start_ms, r.version))
    return MonitorRun(name, list(versions), spec.text, results, _check_alerts(name), notes)


def _scans(
    store: Any,
    name: str,
    versions: list[int] | None,
    spec: WindowSpec,
    times: tuple[int, int | None, int | None],
    notes: list[str],
) -> dict[int, Any]:
    """A scan per version to monitor (``versions``, or every one in the log)."""
    from cairn.monitoring._log_scan import has_log, logged_versions
    from cairn.monitoring._window_scan import VersionScan

    if not has_log(store, name):
        raise NotFoundError(
            f"model {name!r} has no prediction log yet: serve it (`cairn serve {name}`) and "
            "send it requests; a server seals the rows it answered into the log every few "
            "minutes and when it stops"
        )
    named = versions is not None
    if versions is None:
        versions = logged_versions(store, name)
        if not versions:
            raise NotFoundError(
                f"the prediction log of {name!r} holds no rows of a registered version: "
                "serve a registered version (`cairn serve NAME@ALIAS`) to monitor it"
            )
    scans: dict[int, Any] = {}
    problems: list[NotFoundError] = []
    for version in versions:
        try:
            scans[version] = VersionScan(name, version, spec, *times)
        except NotFoundError as exc:
            # A version named is monitored or refused; of all the logged versions, one
            # without a reference is left out (the notes say so) and the others monitored.
            if named:
                raise
            problems.append(exc)
            notes.append(f"version {version} left out: {exc}")
    if not scans:
        raise problems[0]
    return scans


def monitor_history(model: Any, *, limit: int | None = None, since: Any = None) -> list[Any]:
    """The stored drift windows of ``model`` (``"name"``: every version; ``"name/3"`` or
    ``"name@alias"``: that version), oldest first; the newest ``limit`` when given."""
    return stored_windows(model, KIND, limit=limit, since=since)


def stored_windows(
    model: Any, kind: str, *, limit: int | None = None, since: Any = None
) -> list[Any]:
    """The stored windows of ``kind`` (drift, quality) of ``model``, as ``monitor_history``
    reads them (this package's history readers share it)."""
    from cairn.core.ids import now_ms
    from cairn.monitoring import _queries
    from cairn.store import get_store

    name, versions = _resolve(model)
    if limit is not None and (
        isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_HISTORY
    ):
        raise InvalidInputError(
            f"limit is a number of windows from 1 to {MAX_HISTORY:,}, not {_shown(limit)}"
        )
    since_ms = parse_time(since, "since", now_ms())
    with get_store().db.read() as conn:
        return _queries.windows(
            conn,
            name,
            kind=kind,
            version=None if versions is None else versions[0],
            since_ms=since_ms,
            limit=limit,
        )


# -- times -------------------------------------------------------------------------------

_DURATION = re.compile(r"(\d{1,9})\s*([smhdw])")


def parse_time(value: Any, what: str, now: int) -> int | None:
    """Epoch milliseconds of ``value``: an aware datetime, epoch milliseconds, ISO text (a
    date or date-time; UTC when it names no zone), ``"now"``, or a duration back from now
    (``"24h"``, ``"7d"``, or a ``timedelta``)."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise InvalidInputError(f"{what} takes a time, not {value!r}")
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise InvalidInputError(
                f"{what}={value!r} has no time zone; pass an aware datetime "
                "(e.g. datetime(2026, 12, 1, tzinfo=timezone.utc))"
            )
        return _in_range(int(value.timestamp() * 1000), what, value)
    if isinstance(value, timedelta):
        return _in_range(now - int(value.total_seconds() * 1000), what, value)
    if isinstance(value, int):
        return _in_range(value, what, value)
    if not isinstance(value, str):
        raise InvalidInputError(
            f"{what} takes a datetime, epoch milliseconds, a date like '2026-12-01' or a "
            f"duration back from now like '24h'; not {type(value).__name__} {_shown(value)}"
        )
    text = value.strip()
    if not text or len(text) > 64 or "\x00" in text or not text.isprintable():
        raise InvalidInputError(
            f"{what} {_shown(value)} is not a time: give a date like '2026-12-01', a date-time "
            "like '2026-12-01T08:00Z', or a duration back from now like '24h' or '7d'"
        )
    if text.lower() == "now":
        return now
    match = _DURATION.fullmatch(text.lower())
    if match is not None:
        back = int(match.group(1)) * _UNITS_MS[match.group(2)]
        return _in_range(now - back, what, value)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInputError(
            f"cannot read {what} {_shown(value)}: give a date like '2026-12-01', a date-time "
            "like '2026-12-01T08:00Z', or a duration back from now like '24h' or '7d'"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return _in_range(int(parsed.timestamp() * 1000), what, value)


def _in_range(ms: int, what: str, given: Any) -> int:
    if not 0 <= ms <= MAX_EPOCH_MS:
        raise InvalidInputError(
            f"{what} {_shown(given)} is outside the times a log can hold (1970 to 9999)"
        )
    return ms


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 42 else text[:39] + "..."


def format_ms(ms: int) -> str:
    """``2026-12-01 08:00`` (UTC) for epoch milliseconds."""
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M")


# -- what to monitor ----------------------------------------------------------------------


def _resolve(model: Any) -> tuple[str, list[int] | None]:
    """The model's name, and the version it names (None: every version in the log)."""
    from cairn.core.uris import RunUri, parse_model_uri
    from cairn.registry import ModelVersion, get_model, get_model_version

    if isinstance(model, ModelVersion):
        return model.name, [model.version]
    if not isinstance(model, str) or not model.strip():
        raise InvalidInputError(
            f"name a model as 'name', 'name@alias', 'name/3' or 'models:/name/3', not "
            f"{_shown(model)}"
        )
    text = model.strip()
    uri = parse_model_uri(text)
    if isinstance(uri, RunUri):
        raise InvalidInputError(
            f"{_shown(model)} names a run's files; monitor a registered model: 'name', "
            "'name@alias' or 'name/3'"
        )
    if uri.alias is None and uri.version is None and not text.endswith("/latest"):
        get_model(uri.name)  # the clear "no model named ..." error
        return uri.name, None
    version = get_model_version(text)
    return version.name, [version.version]


def _executor(executor: Any) -> str | None:
    """None (here), or what to hand Dask: ``"dask"`` (a local cluster) or an address."""
    if executor is None:
        return None
    if not isinstance(executor, str) or not executor.strip() or "\x00" in executor:
        raise InvalidInputError(
            "executor is 'dask' (a local Dask cluster for this run) or a Dask scheduler's "
            f"address like 'tcp://10.0.0.5:8786'; not {_shown(executor)}"
        )
    text = executor.strip()
    if text in ("local", "inline"):
        return None
    if text != "dask" and not re.fullmatch(r"(tcp|tls|inproc|ucx)://[^\s]{1,200}", text):
        raise InvalidInputError(
            "executor is 'dask' (a local Dask cluster for this run) or a Dask scheduler's "
            f"address like 'tcp://10.0.0.5:8786'; not {_shown(executor)}"
        )
    return text


def _check_alerts(name: str) -> list[Any]:
    """The alerts the monitoring rules raise now (when the alerts part is installed)."""
    import importlib
    import importlib.util

    if importlib.util.find_spec("cairn.monitoring.alerts") is None:
        return []
    alerts = importlib.import_module("cairn.monitoring.alerts")
    return list(alerts.check_alerts(models=[name]) or [])
