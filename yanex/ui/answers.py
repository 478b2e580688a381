"""What the web view's routes take and give: a request's parts and query, and answers (JSON,
text, a file streamed from disk), user errors said as the CLI says them."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from yanex.errors import DatabaseError, NotFoundError, UsageError, YanexError

if TYPE_CHECKING:
    from yanex.db.engine import Database
    from yanex.store.counts import SelectionCounts
    from yanex.ui.kept import Kept
    from yanex.ui.readers import Readers


@dataclass(frozen=True)
class Request:
    """What a route reads: the path's captured parts, the query, the store, the counts of
    selections the server keeps while the store does not change, the curves it keeps, and the
    processes that read curves."""

    parts: tuple[str, ...]
    query: dict[str, list[str]]
    db: Database
    counts: SelectionCounts | None = None
    kept: Kept | None = None
    readers: Readers | None = None

    def one(self, name: str, default: str | None = None) -> str | None:
        """The last value of query parameter ``name``."""
        values = self.query.get(name)
        return values[-1] if values else default

    def number(self, name: str, default: int | None = None) -> int | None:
        """Query parameter ``name`` as an integer; ``UsageError`` when it is not one."""
        text = self.one(name)
        if text is None or text == "":
            return default
        try:
            return int(text)
        except ValueError:
            raise UsageError(f"?{name} must be an integer, got {text!r}") from None


@dataclass(frozen=True)
class Response:
    """An answer: a body, or a file streamed from disk."""

    status: int
    content_type: str
    body: bytes = b""
    file: Path | None = None
    headers: tuple[tuple[str, str], ...] = field(default=())


def _finite(data: Any) -> Any:
    """JSON has no NaN or infinity: they are sent as the strings yanex stores them as."""
    if isinstance(data, float) and not math.isfinite(data):
        return "NaN" if math.isnan(data) else "Infinity" if data > 0 else "-Infinity"
    if isinstance(data, dict):
        return {key: _finite(value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [_finite(value) for value in data]
    return data


def json_response(data: Any, status: int = 200) -> Response:
    """``data`` (JSON-able, times as ISO text) as a JSON answer."""
    try:
        body = json.dumps(data, allow_nan=False, default=str, separators=(",", ":"))
    except ValueError:
        body = json.dumps(_finite(data), allow_nan=False, default=str, separators=(",", ":"))
    return Response(status, "application/json", body.encode())


def text_response(text: str, status: int = 200) -> Response:
    return Response(status, "text/plain; charset=utf-8", text.encode())


def error_response(error: YanexError) -> Response:
    """A user error as the CLI says it: ``error`` the message, ``hint`` the fix, and ``line`` the
    one line ``Error: ...`` the CLI would print (with its hint)."""
    status = (
        404
        if isinstance(error, NotFoundError)
        else 400
        if isinstance(error, UsageError)
        else 503
        if isinstance(error, DatabaseError)
        else 500
    )
    line = f"Error: {error.message}" + (f"\nHint: {error.hint}" if error.hint else "")
    return json_response({"error": error.message, "hint": error.hint, "line": line}, status)
