"""SQL text with bound parameters, and the only SQLite-specific pieces of the read path.

The filter layer writes portable SQL (``EXISTS``, ``IN``, ``NULLS LAST``, ``COALESCE``) with named
placeholders and keeps every value out of the text; ``Sql.compile`` renders the placeholders in a
driver's style. What has no portable form is here, each with its PostgreSQL equivalent noted:
``GLOB`` (PostgreSQL: ``LIKE`` after translating the pattern), ``rowid`` as insertion order
(PostgreSQL: a serial column) and how values are bound (datetimes as SQLite's stored text).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

Param = str | float | int | bool | datetime | None
_PLACEHOLDER = re.compile(r":(p\d+)\b")


@dataclass
class Binder:
    """Hands out placeholders: every value of one statement gets its own name."""

    params: dict[str, Param] = field(default_factory=dict)

    def bind(self, value: Param) -> str:
        name = f"p{len(self.params)}"
        self.params[name] = value
        return f":{name}"

    def bind_all(self, values: Any) -> str:
        """``:p1, :p2, ...`` for an ``IN (...)`` list."""
        return ", ".join(self.bind(value) for value in values)


def marks(count: int) -> str:
    """``?, ?, ...`` for an ``IN (...)`` list of ``count`` positional parameters. Long lists are
    bound by position: SQLite finds each *named* parameter by a linear search, so 10,000 named
    ones cost 0.3 s to bind where positional ones cost 10 ms."""
    return ", ".join("?" * count)


@dataclass(frozen=True)
class Compiled:
    """SQL text in one driver's placeholder style, with its parameters by name."""

    text: str
    params: dict[str, Param]

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class Sql:
    """A statement or condition: text with ``:pN`` placeholders and their values."""

    text: str
    params: dict[str, Param]

    def compile(self, dialect: Any = None) -> Compiled:
        """The text for ``dialect`` (a name or an object with ``.name``; SQLite by default)."""
        name = dialect if isinstance(dialect, str) else getattr(dialect, "name", "sqlite")
        if name == "postgresql":
            return Compiled(_PLACEHOLDER.sub(r"%(\1)s", self.text.replace("%", "%%")), self.params)
        return Compiled(self.text, self.params)

    def sqlite_params(self) -> dict[str, Any]:
        """The parameters as the sqlite3 driver binds them (see ``sqlite_value``)."""
        return {name: sqlite_value(value) for name, value in self.params.items()}


# --- SQLite only -------------------------------------------------------------------------------

# Insertion order, the tie-break after created_at (experiments of one batch share it).
INSERTION_ORDER = "experiments.rowid"


def glob(column: str, placeholder: str) -> str:
    """Case-sensitive shell-style match (``*``, ``?``, ``[...]``)."""
    return f"{column} GLOB {placeholder}"


def sqlite_value(value: Param) -> Any:
    """Datetimes as every time column holds them (naive UTC, microseconds always written, as
    SQLAlchemy's SQLite DateTime writes them too), so that comparing them is comparing that text;
    a naive one is UTC already."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    return value


def stored_time(text: str | None) -> datetime | None:
    """A stored time column read back (naive UTC)."""
    return None if text is None else datetime.fromisoformat(text)
