"""``yanex db check``: SQLite integrity, dangling references and the schema revision."""

from __future__ import annotations

import typer

from yanex.cli.spec import Command


def check_command() -> None:
    """Check the database: SQLite integrity (a damaged file is reported, not an error), dangling
    references, schema revision, and that every artifact's stored content is there and still
    hashes to what was saved (this reads all of it) (exit 1 on problems).

    Example:

      yanex db check
    """
    from yanex.artifacts.check import content_problems
    from yanex.cli.store import store
    from yanex.store.admin import check_database

    status = check_database(store())
    typer.echo(f"database: {status.path}")
    typer.echo(f"schema revision: {status.revision or 'none'} (newest: {status.head})")
    problems = list(status.problems)
    if not problems:  # a database fit to read
        problems += content_problems(store())
    for problem in problems:
        typer.echo(f"problem: {problem}")
    if problems:
        raise typer.Exit(1)
    typer.echo("ok")


COMMAND = Command(check_command, ())
