"""``yanex db path``: the database yanex uses."""

from __future__ import annotations

import typer

from yanex.cli.spec import Command


def path_command() -> None:
    """Print the SQLite file (or database URL) yanex uses: $YANEX_DATABASE_URL or $YANEX_HOME/yanex.db.

    Example:

      sqlite3 "$(yanex db path)" "SELECT count(*) FROM experiments"
    """
    from yanex.cli.store import store

    typer.echo(store().path)


COMMAND = Command(path_command, ())
