"""The SQL console's API: one read-only statement through ``yanex.store.sql.SqlQuery``, the very
guard and time limit ``yanex sql`` runs under (a read-only file, ``query_only``, an authorizer
allowing only reads, the same default ``--timeout``), its first rows as a table.
"""

from __future__ import annotations

import re
import shlex
from typing import TYPE_CHECKING

from yanex.ui.answers import Request, Response, json_response

if TYPE_CHECKING:
    from pydantic import JsonValue

MAX_ROWS = 1000  # rows a page shows; the answer says when there were more


def sql(request: Request) -> Response:
    """``GET /api/sql?q=STATEMENT[&timeout=DURATION]``: the columns and the first ``MAX_ROWS`` rows."""
    from yanex.store.sql import DEFAULT_TIMEOUT, SqlQuery, query_limit

    statement = request.one("q") or ""
    timeout = request.one("timeout") or DEFAULT_TIMEOUT
    limit = query_limit(timeout)
    rows: list[list[JsonValue]] = []
    with SqlQuery(request.db.url, statement, limit) as query:
        for chunk in query.chunks():
            rows += chunk
            if len(rows) > MAX_ROWS:  # one row past the cap says there are more
                break
        columns = query.columns
    command = ["yanex", "sql", _quoted(statement)] + (
        [] if timeout == DEFAULT_TIMEOUT else ["--timeout", timeout]
    )
    return json_response(
        {
            "columns": columns,
            "rows": rows[:MAX_ROWS],
            "more": len(rows) > MAX_ROWS,
            "max_rows": MAX_ROWS,
            "command": " ".join(command),
        }
    )


def _quoted(statement: str) -> str:
    """The statement as a shell word: in double quotes when the shell keeps it as it is there (SQL
    quotes its strings with ``'``, so ``'$.lr'`` reads better than shlex's ``'"'"'``)."""
    if re.search(r'["\\`!]|\$(?![.\[])', statement):
        return shlex.quote(statement)
    return f'"{statement}"'


def schema(request: Request) -> Response:
    """``GET /api/schema``: the tables and views a statement may read, with their columns."""
    from yanex.store.reading import reading
    from yanex.store.sql import schema_objects

    with reading(request.db, settle=False) as conn:
        found = schema_objects(conn)
    return json_response({"objects": [item._asdict() for item in found], "docs": "docs/schema.md"})
