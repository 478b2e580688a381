"""``yanex db``: where the database lives, upgrading it, and checking it."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="db",
    help="The database: its location, schema upgrades and integrity checks.",
    no_args_is_help=True,
)


@app.command("path")
def path_command() -> None:
    """Print the SQLite file (or database URL) yanex uses: $YANEX_DATABASE_URL or $YANEX_HOME/yanex.db.

    Example:

      sqlite3 "$(yanex db path)" "SELECT count(*) FROM experiments"
    """
    from yanex.cli.store import store

    typer.echo(store().path)


@app.command("upgrade")
def upgrade_command() -> None:
    """Create the database or upgrade its schema to the newest revision (yanex also does this on use).

    Example:

      yanex db upgrade
    """
    from yanex.cli.store import store
    from yanex.store.admin import database_status, upgrade_database

    db = store()
    before = database_status(db).revision
    status = upgrade_database(db)
    if before == status.revision:
        typer.echo(f"Schema revision {status.revision} is current.")
    else:
        typer.echo(f"Upgraded schema from {before or 'nothing'} to revision {status.revision}.")


@app.command("check")
def check_command() -> None:
    """Check the database: SQLite integrity (a damaged file is reported, not an error), dangling
    references and schema revision (exit 1 on problems).

    Example:

      yanex db check
    """
    from yanex.cli.store import store
    from yanex.store.admin import check_database

    status = check_database(store())
    typer.echo(f"database: {status.path}")
    typer.echo(f"schema revision: {status.revision or 'none'} (newest: {status.head})")
    for problem in status.problems:
        typer.echo(f"problem: {problem}")
    if status.problems:
        raise typer.Exit(1)
    typer.echo("ok")


@app.command("vacuum")
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


@app.command("repair")
def repair_command() -> None:
    """Store what a crash left behind: settle experiments whose process died, and ingest every
    metrics journal that is ahead of the database (final experiments included).

    Safe at any time, also while experiments run: every point is stored exactly once. Readers and
    batches already settle dead experiments on their own; this catches the rest, such as metrics
    a supervisor logged after it recorded its outcome and before it died.

    Example:

      yanex db repair
    """
    from yanex.db.engine import Database
    from yanex.store.reconcile import repair

    report = repair(Database())
    typer.echo(f"settled {report.settled} experiment(s) whose process had died")
    typer.echo(f"ingested {report.points} point(s) into {report.experiments} experiment(s)")
    if report.skipped:
        typer.echo(f"skipped {report.skipped} journal line(s) that cannot be stored")
