"""Declared update frequencies (daily, weekly, monthly, hourly or cron) and staleness."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from cairn.core.errors import InvalidInputError

NAMED = {
    "hourly": timedelta(hours=1),
    "daily": timedelta(days=1),
    "weekly": timedelta(days=7),
    "monthly": timedelta(days=31),
}
GRACE = 0.1  # of the period: a daily job that ran at 6:05 yesterday is not late at 6:04


def check_frequency(text: str) -> str:
    """Return the frequency normalised, or raise a clear error if it does not parse."""
    value = text.strip()
    if value.lower() in NAMED:
        return value.lower()
    from croniter import croniter

    if not croniter.is_valid(value):
        raise InvalidInputError(
            f"frequency {text!r} does not parse: use hourly, daily, weekly, monthly or a cron "
            "expression such as '0 6 * * 1' (Mondays at 6:00 UTC)"
        )
    return value


def is_stale(frequency: str | None, latest_ms: int | None, now_ms: int) -> bool:
    """Whether the latest version (at ``latest_ms``) is older than ``frequency`` allows."""
    if not frequency or latest_ms is None:
        return False
    latest = datetime.fromtimestamp(latest_ms / 1000, tz=timezone.utc)
    now = datetime.fromtimestamp(now_ms / 1000, tz=timezone.utc)
    period = NAMED.get(frequency)
    if period is not None:
        return now - latest > period * (1 + GRACE)
    from croniter import croniter

    schedule = croniter(frequency, latest)
    due: datetime = schedule.get_next(datetime)  # the first update expected after the latest
    after: datetime = schedule.get_next(datetime)
    return now > due + (after - due) * GRACE
