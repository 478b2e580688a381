"""``yanex db vacuum``: give back the space deleted experiments left in the SQLite file."""

from __future__ import annotations

import typer

from yanex.cli.spec import Command


def vacuum_command() -> None:
    """Give back the space deleted experiments left: rewrite the SQLite file, print its size before and after.

    Databases yanex creates give space back on every `yanex delete`; an older database does so
    after its first vacuum. Refused while experiments are queued or running.

    Example:

      yanex db vacuum
    """
    from yanex.cli.store import store
    from yanex.store.admin import vacuum_database

    result = vacuum_database(store())
    freed = result.bytes_before - result.bytes_after
    typer.echo(
        f"Vacuumed {result.path}: {result.bytes_before:,} -> {result.bytes_after:,} bytes "
        f"({max(freed, 0):,} bytes freed)."
    )


COMMAND = Command(vacuum_command, ())
