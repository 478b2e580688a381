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
_AGO = re.compile(r"^(?P<count>\d+|an?)\s*(?P<unit>[a-z]+?)s?\s+ago$")

TIME_HELP = (
    "an ISO date or datetime (2024-05-01, 2024-05-01T14:30, local time unless it has an offset) "
    "or a phrase: 'now', 'today', 'yesterday', '2 hours ago', '3 days ago', '1 week ago'"
)


def _local_midnight(days_back: int, now: datetime) -> datetime:
    local_today = now.astimezone().date() - timedelta(days=days_back)
    return datetime.combine(local_today, time()).astimezone()


def parse_time(text: str, *, now: datetime | None = None) -> datetime:
    """The moment ``text`` names, as naive UTC; raises ``UsageError`` for anything else."""
    now = now or datetime.now(UTC)
    phrase = " ".join(text.strip().lower().split())
    moment: datetime | None = None
    if phrase == "now":
        moment = now
    elif phrase == "today":
        moment = _local_midnight(0, now)
    elif phrase == "yesterday":
        moment = _local_midnight(1, now)
    elif match := _AGO.match(phrase):
        unit = _UNITS.get(match["unit"])
        if unit is not None:
            count = 1 if match["count"] in ("a", "an") else int(match["count"])
            moment = now - count * unit
    else:
        try:
            parsed = datetime.fromisoformat(text.strip())
        except ValueError:
            pass
        else:
            moment = parsed if parsed.tzinfo else parsed.astimezone()
    if moment is None:
        raise UsageError(f"cannot read {text!r} as a time", hint=f"use {TIME_HELP}")
    return moment.astimezone(UTC).replace(tzinfo=None)
