"""SQL text with bound parameters, as every statement of the store is written.

yanex stores experiments in SQLite files only (docs/design.md says why), so statements are SQLite's:
values never reach the text (named ``:pN`` placeholders from a ``Binder``, or ``?`` lists from
``marks``), and times are bound as the columns store them (``sqlite_value``).
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

Param = str | float | int | bool | datetime | None
T = TypeVar("T")
CHUNK = 5_000  # ids per IN (...) list at most: past that, longer lists save no time
# An IN list longer than this is bound as one JSON array (``Binder.bind_all``): a filter is one
# statement, so its lists cannot be chunked, and SQLite builds before 3.32 bind at most 999 values.
LONG_LIST = 100
# Insertion order, the tie-break after created_at (experiments of one batch share it).
INSERTION_ORDER = "experiments.rowid"


@dataclass
class Binder:
    """Hands out placeholders: every value of one statement gets its own name."""

    params: dict[str, Param] = field(default_factory=dict)

    def bind(self, value: Param) -> str:
        name = f"p{len(self.params)}"
        self.params[name] = value
        return f":{name}"

    def bind_all(self, values: Any) -> str:
        """The inside of an ``IN (...)`` list: ``:p1, :p2, ...``, or for a long one (``LONG_LIST``)
        ``SELECT value FROM json_each(:p1)``, one parameter however many values it holds."""
        values = [sqlite_value(value) for value in values]
        if len(values) <= LONG_LIST or any(isinstance(v, float) and not math.isfinite(v) for v in values):
            return ", ".join(self.bind(value) for value in values)  # JSON has no NaN or infinity
        return f"SELECT value FROM json_each({self.bind(json.dumps(values))})"


def marks(count: int) -> str:
    """``?, ?, ...`` for an ``IN (...)`` list of ``count`` positional parameters. Long lists are
    bound by position: SQLite finds each *named* parameter by a linear search, so 10,000 named
    ones cost 0.3 s to bind where positional ones cost 10 ms."""
    return ", ".join("?" * count)


def variable_limit(conn: sqlite3.Connection) -> int:
    """How many parameters one statement may bind on ``conn``: SQLite's build decides (999 before
    3.32, 32,766 after, 250,000 in Debian's), and ``setlimit`` may lower it."""
    return conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)


def chunks(conn: sqlite3.Connection, items: Sequence[T], bound: int = 0) -> Iterator[Sequence[T]]:
    """``items`` in slices, one per ``IN (...)`` list of a statement on ``conn`` that binds
    ``bound`` other parameters: at most ``CHUNK``, and never past the connection's limit."""
    size = max(1, min(CHUNK, variable_limit(conn) - bound))
    for start in range(0, len(items), size):
        yield items[start : start + size]


@dataclass(frozen=True)
class Sql:
    """A statement or condition: text with ``:pN`` placeholders and their values."""

    text: str
    params: dict[str, Param]

    def sqlite_params(self) -> dict[str, Any]:
        """The parameters as the sqlite3 driver binds them (see ``sqlite_value``)."""
        return {name: sqlite_value(value) for name, value in self.params.items()}


def sqlite_value(value: Param) -> Any:
    """Datetimes as every time column holds them (naive UTC, microseconds always written, as
    SQLAlchemy's SQLite DateTime writes them too), so that comparing them is comparing that text;
    a naive one is UTC already."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        # (isoformat, not strftime: four-digit years always, so text order is time order.)
        return value.isoformat(" ", "microseconds")
    return value


def stored_time(text: str | None) -> datetime | None:
    """A stored time column read back (naive UTC)."""
    return None if text is None else datetime.fromisoformat(text)


def aware_time(text: str | None) -> datetime | None:
    """A stored time column read back as aware UTC, as records carry times."""
    return None if text is None else datetime.fromisoformat(text).replace(tzinfo=UTC)
