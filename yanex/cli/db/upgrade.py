"""``yanex db upgrade``: create the database or bring its schema to the newest revision."""

from __future__ import annotations

import typer

from yanex.cli.spec import Command


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


COMMAND = Command(upgrade_command, ())
