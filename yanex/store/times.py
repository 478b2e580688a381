"""Times users type: ISO dates and datetimes, or phrases like "2 hours ago" and "yesterday".

Times without an offset are local time, as a user reads a clock; the result is naive UTC, the form
the columns store.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta

from yanex.errors import UsageError

_UNITS = {
    "second": timedelta(seconds=1),
    "sec": timedelta(seconds=1),
    "s": timedelta(seconds=1),
    "minute": timedelta(minutes=1),
    "min": timedelta(minutes=1),
    "m": timedelta(minutes=1),
    "hour": timedelta(hours=1),
    "hr": timedelta(hours=1),
    "h": timedelta(hours=1),
    "day": timedelta(days=1),
    "d": timedelta(days=1),
    "week": timedelta(weeks=1),
    "w": timedelta(weeks=1),
    "month": timedelta(days=30),
    "year": timedelta(days=365),
}
# Words take a plural ("3 hrs"); one-letter units do not, so "3 ms ago" is no unit, not 3 minutes.
_UNITS.update({f"{name}s": step for name, step in list(_UNITS.items()) if len(name) > 1})
_AGO = re.compile(r"^(?P<count>\d+|an?)\s*(?P<unit>[a-z]+)\s+ago$")

TIME_HELP = (
    "an ISO date or datetime (2024-05-01, 2024-05-01T14:30, local time unless it has an offset) "
    "or a phrase: 'now', 'today', 'yesterday', '2 hours ago', '3 days ago', '1 week ago'"
)
_UNIT_HELP = "use seconds, minutes, hours, days, weeks, months or years (or s, m, h, d, w): '2 hours ago'"


def _local_midnight(days_back: int, now: datetime) -> datetime:
    local_today = now.astimezone().date() - timedelta(days=days_back)
    return datetime.combine(local_today, time()).astimezone()


def to_naive_utc(moment: datetime) -> datetime:
    """``moment`` as naive UTC, the form the columns store; a naive ``moment`` is local time."""
    try:
        return moment.astimezone(UTC).replace(tzinfo=None)
    except (OverflowError, ValueError):  # a year before 1 or after 9999 once in UTC
        raise UsageError(f"{moment} is outside the times yanex can store", hint=f"use {TIME_HELP}") from None


def _ago(text: str, count: str, unit: str, now: datetime) -> datetime:
    step = _UNITS.get(unit)
    if step is None:
        raise UsageError(f"unknown time unit {unit!r} in {text!r}", hint=_UNIT_HELP)
    try:
        return now - (1 if count in ("a", "an") else int(count)) * step
    except OverflowError:
        raise UsageError(
            f"{text!r} is further back than any time yanex can store", hint=f"use {TIME_HELP}"
        ) from None


def parse_time(text: str, *, now: datetime | None = None) -> datetime:
    """The moment ``text`` names, as naive UTC; raises ``UsageError`` for anything else."""
    now = now or datetime.now(UTC)
    phrase = " ".join(text.strip().lower().split())
    if phrase == "now":
        moment = now
    elif phrase == "today":
        moment = _local_midnight(0, now)
    elif phrase == "yesterday":
        moment = _local_midnight(1, now)
    elif match := _AGO.match(phrase):
        moment = _ago(text, match["count"], match["unit"], now)
    else:
        try:
            moment = datetime.fromisoformat(text.strip())
        except ValueError:
            raise UsageError(f"cannot read {text!r} as a time", hint=f"use {TIME_HELP}") from None
    return to_naive_utc(moment)
