"""The CLI edge, shared by Typer's path and the fast path: user errors (``YanexError``) become one
``Error:`` line and a ``Hint:`` line on stderr with the error's exit code, never a traceback; so
do storage faults raised outside a transaction (``yanex.db.faults``); ``YanexWarning``s become
``Note:`` lines. Standard library only."""

from __future__ import annotations

import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from yanex.errors import YanexError, YanexWarning
from yanex.terminal import printable


@contextmanager
def notes_as_lines() -> Iterator[None]:
    """Show ``YanexWarning``s as ``Note:`` lines; other warnings as Python shows them."""
    with warnings.catch_warnings():
        show = warnings.showwarning

        def note(
            message: Warning | str,
            category: type[Warning],
            filename: str,
            lineno: int,
            file: TextIO | None = None,
            line: str | None = None,
        ) -> None:
            if issubclass(category, YanexWarning):
                print(f"Note: {message}", file=sys.stderr, flush=True)
            else:
                show(message, category, filename, lineno, file, line)

        warnings.simplefilter("always", YanexWarning)
        warnings.showwarning = note
        yield


def user_error(error: BaseException) -> YanexError | None:
    """``error`` as the error a user can act on, or None for a bug (which keeps its traceback)."""
    if isinstance(error, YanexError):
        return error
    if not isinstance(error, Exception):
        return None
    from yanex.db.faults import default_database, storage_error

    return storage_error(error, default_database())


def report(error: YanexError) -> int:
    """Print the ``Error:``/``Hint:`` lines; the exit code to end with."""
    print(f"Error: {printable(error.message, keep=chr(10))}", file=sys.stderr)  # may quote user text
    if error.hint:
        print(f"Hint: {printable(error.hint, keep=chr(10))}", file=sys.stderr)
    return error.exit_code
