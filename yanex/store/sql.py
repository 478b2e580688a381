"""Ad-hoc SQL for ``yanex sql``: a read-only connection that refuses anything that writes.

Three locks, any one of which suffices: the file is opened ``mode=ro``, ``PRAGMA query_only`` is on,
and an authorizer allows only reads (no ATTACH, no pragma that sets a value).
"""

from __future__ import annotations

import sqlite3
from typing import Any

from pydantic import BaseModel, ConfigDict, JsonValue

from yanex.db.engine import open_read_only, sqlite_file
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
_READ_ACTIONS = frozenset(
    {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION, sqlite3.SQLITE_RECURSIVE}
)


class SqlResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    columns: list[str]
    rows: list[list[JsonValue]]


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


def run_sql(url: str, statement: str) -> SqlResult:
    """Run one statement on a read-only connection; a statement that would write is refused.

    Column names are made distinct (see ``distinct_names``).
    """
    if not statement.strip():
        raise UsageError(
            "no SQL statement given", hint='pass one, e.g. yanex sql "SELECT count(*) FROM experiments"'
        )
    path = sqlite_file(url)
    require_current(path)  # never created or upgraded here: the file stays as it is
    conn = open_read_only(path)
    try:
        conn.execute("PRAGMA query_only = ON")
        denied: list[int] = []  # SQLite reports some denials as SQLITE_SCHEMA (CREATE TABLE)

        def authorize(action: int, *args: str | None) -> int:
            verdict = _authorize(action, *args)
            if verdict == sqlite3.SQLITE_DENY:
                denied.append(action)
            return verdict

        conn.set_authorizer(authorize)
        try:
            cursor = conn.execute(statement)
            rows = [[_cell(v) for v in row] for row in cursor.fetchall()]
        except sqlite3.ProgrammingError as error:  # a DatabaseError too: caught first
            raise UsageError(f"SQL error: {error}", hint="pass one statement") from None
        except sqlite3.DatabaseError as error:
            if denied or error.sqlite_errorname in _REFUSALS:
                raise UsageError(
                    "yanex sql is read-only: this statement would change the database, so it was refused "
                    "and nothing changed",
                    hint="use yanex update/archive/delete to change experiments",
                ) from None
            raise UsageError(
                f"SQL error: {error}", hint="see docs/schema.md for tables and the experiment_summary view"
            ) from None
        columns = distinct_names([d[0] for d in cursor.description or ()])
        return SqlResult(columns=columns, rows=rows)
    finally:
        conn.close()
