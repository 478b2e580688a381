"""Ad-hoc SQL for ``yanex sql``: a read-only connection that refuses anything that writes.

Three locks, any one of which suffices: the file is opened ``mode=ro``, ``PRAGMA query_only`` is on,
and an authorizer allows only reads (no ATTACH, no pragma that sets a value).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple, TypeVar

from pydantic import JsonValue

from yanex.db.connections import open_read_only, sqlite_file
from yanex.db.schema import require_current
from yanex.errors import UsageError

# Pragmas that only report; those taking an argument read about the object it names.
_READ_PRAGMAS = frozenset(
    {
        "table_info",
        "table_xinfo",
        "table_list",
        "index_list",
        "index_info",
        "index_xinfo",
        "foreign_key_list",
        "database_list",
        "collation_list",
        "function_list",
        "pragma_list",
        "compile_options",
        "user_version",
        "schema_version",
        "page_count",
        "page_size",
        "journal_mode",
        "integrity_check",
        "quick_check",
        "foreign_key_check",
    }
)
_WITH_ARGUMENT = frozenset(
    {
        "table_info",
        "table_xinfo",
        "index_list",
        "index_info",
        "index_xinfo",
        "foreign_key_list",
        "integrity_check",
        "quick_check",
        "foreign_key_check",
    }
)
_T = TypeVar("_T")
_READ_ACTIONS = frozenset(
    {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION, sqlite3.SQLITE_RECURSIVE}
)


# The error codes of a statement the authorizer denied or the read-only connection refused.
_REFUSALS = frozenset({"SQLITE_AUTH", "SQLITE_READONLY"})
# A table-valued pragma (``SELECT * FROM pragma_table_info('experiments')``) reads the schema through
# a request to update these; the connection is read-only, so granting it writes nothing.
_SCHEMA_TABLES = frozenset({"sqlite_master", "sqlite_temp_master"})


def _authorize(action: int, arg1: str | None, arg2: str | None, _db: str | None, _source: str | None) -> int:
    if action in _READ_ACTIONS:
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_UPDATE and arg1 in _SCHEMA_TABLES:
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_PRAGMA and arg1 is not None:
        name = arg1.lower()
        if name in _READ_PRAGMAS and (arg2 is None or name in _WITH_ARGUMENT):
            return sqlite3.SQLITE_OK
    return sqlite3.SQLITE_DENY


def _cell(value: Any) -> JsonValue:
    return value.hex() if isinstance(value, bytes) else value


def distinct_names(names: list[str]) -> list[str]:
    """``names`` with repeats suffixed (``a, a`` -> ``a, a_2``), so each can key a JSON object."""
    given = set(names)
    out: list[str] = []
    for name in names:
        candidate, n = name, 1
        while candidate in out or (candidate != name and candidate in given):
            n += 1
            candidate = f"{name}_{n}"
        out.append(candidate)
    return out


_CHECK_EVERY = 10_000  # SQLite VM steps between two looks at the time limit and Ctrl-C
CHUNK_ROWS = 1000


DEFAULT_TIMEOUT = "60s"  # ``yanex sql --timeout`` and the web view's SQL console


def query_limit(text: str) -> QueryLimit:
    """The limit a ``--timeout`` DURATION (90, 90s, 5m, 2h, 1h30m) sets; ``UsageError`` if bad."""
    from yanex.specs import parse_time_limit

    try:
        seconds, shown = parse_time_limit(text)
    except ValueError as error:
        raise UsageError(str(error), hint="write it like --timeout 90, 5m or 1h30m") from None
    return QueryLimit(seconds, shown)


class QueryLimit:
    """How long SQLite may work on a query, and whether the user interrupted it.

    Only time inside SQLite counts, not time spent writing rows out (``| less`` may wait for a
    reader). ``interrupt`` is safe from a signal handler: it only sets a flag, which SQLite's
    progress handler reads within a few thousand steps.
    """

    def __init__(self, seconds: float, text: str) -> None:
        self.seconds, self.text = seconds, text
        self.interrupted = self.expired = False
        self._spent = 0.0
        self._since: float | None = None

    def interrupt(self) -> None:
        self.interrupted = True

    def check(self) -> int:
        """SQLite's progress handler: non-zero stops the statement."""
        if self.interrupted:
            return 1
        if self._since is not None and self._spent + time.monotonic() - self._since > self.seconds:
            self.expired = True
            return 1
        return 0

    def start(self) -> None:
        if self.interrupted:
            raise KeyboardInterrupt
        self._since = time.monotonic()

    def stop(self) -> None:
        if self._since is not None:
            self._spent += time.monotonic() - self._since
            self._since = None


class SqlQuery:
    """One read-only statement whose rows are fetched ``CHUNK_ROWS`` at a time, never all at once.

    Use as a context manager; ``columns`` are distinct (see ``distinct_names``). Raises
    ``UsageError`` for a refused or invalid statement or one past its time limit, and
    ``KeyboardInterrupt`` once the limit's ``interrupt`` was called.
    """

    def __init__(self, url: str, statement: str, limit: QueryLimit) -> None:
        if not statement.strip():
            raise UsageError(
                "no SQL statement given", hint='pass one, e.g. yanex sql "SELECT count(*) FROM experiments"'
            )
        path = sqlite_file(url)
        require_current(path)  # never created or upgraded here: the file stays as it is
        self.limit = limit
        self._denied: list[int] = []  # SQLite reports some denials as SQLITE_SCHEMA (CREATE TABLE)
        self._conn = open_read_only(path)
        try:
            self._conn.execute("PRAGMA query_only = ON")
            self._conn.set_authorizer(self._authorize)
            self._conn.set_progress_handler(limit.check, _CHECK_EVERY)
            self._cursor = self._run(lambda: self._conn.execute(statement))
        except BaseException:
            self._conn.close()
            raise
        self.columns = distinct_names([d[0] for d in self._cursor.description or ()])

    def __enter__(self) -> SqlQuery:
        return self

    def __exit__(self, *_exc: object) -> None:
        self._conn.close()

    def chunks(self) -> Iterator[list[list[JsonValue]]]:
        while rows := self._run(lambda: self._cursor.fetchmany(CHUNK_ROWS)):
            yield [[_cell(v) for v in row] for row in rows]

    def _authorize(self, action: int, *args: str | None) -> int:
        verdict = _authorize(action, *args)
        if verdict == sqlite3.SQLITE_DENY:
            self._denied.append(action)
        return verdict

    def _run(self, step: Callable[[], _T]) -> _T:
        """One call into SQLite, timed against the limit, its errors made one clear error."""
        self.limit.start()
        try:
            return step()
        except sqlite3.ProgrammingError as error:  # a DatabaseError too: caught first
            raise UsageError(f"SQL error: {error}", hint="pass one statement") from None
        except sqlite3.DatabaseError as error:
            if self.limit.interrupted:
                raise KeyboardInterrupt from None
            if self.limit.expired:
                raise UsageError(
                    f"the query ran past its time limit of {self.limit.text} and was stopped",
                    hint="narrow it (WHERE, LIMIT) or allow more time, e.g. --timeout 10m",
                ) from None
            if self._denied or error.sqlite_errorname in _REFUSALS:
                raise UsageError(
                    "yanex sql is read-only: this statement would change the database, so it was refused "
                    "and nothing changed",
                    hint="use yanex update/archive/delete to change experiments",
                ) from None
            raise UsageError(
                f"SQL error: {error}", hint="see docs/schema.md for tables and the experiment_summary view"
            ) from None
        finally:
            self.limit.stop()


class SchemaObject(NamedTuple):
    """A table or view users may query, and its columns in order."""

    name: str
    kind: str  # "table" or "view"
    columns: list[str]


def schema_objects(conn: sqlite3.Connection) -> list[SchemaObject]:
    """The database's tables and views (SQLite's own and alembic's left out), for a console to
    list beside its results."""
    found = conn.execute(
        "SELECT name, type FROM sqlite_master WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite_%' "
        "AND name != 'alembic_version' ORDER BY type, name"
    ).fetchall()
    return [
        SchemaObject(
            name, kind, [row[1] for row in conn.execute("SELECT * FROM pragma_table_info(?)", (name,))]
        )
        for name, kind in found
    ]
