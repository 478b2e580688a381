"""``yanex update``: rename, describe and re-tag experiments."""

from __future__ import annotations

from typing import Annotated

import typer


def update_command(
    references: Annotated[list[str], typer.Argument(metavar="IDS...", help="Ids, id prefixes or names.")],
    name: Annotated[str | None, typer.Option("--name", help="New name.")] = None,
    description: Annotated[str | None, typer.Option("--description", "-d", help="New description.")] = None,
    add_tag: Annotated[list[str] | None, typer.Option("--add-tag", help="Add this tag (repeatable).")] = None,
    remove_tag: Annotated[
        list[str] | None, typer.Option("--remove-tag", help="Remove this tag (repeatable).")
    ] = None,
) -> None:
    """Change the name, description or tags of experiments.

    Examples:

      yanex update abc12345 --name baseline --description "first full run"

      yanex update abc12345 def67890 --add-tag best --remove-tag draft
    """
    from yanex.cli.store import store
    from yanex.errors import UsageError
    from yanex.store.manage import update_experiments
    from yanex.store.reading import reading
    from yanex.store.references import resolve_references

    if name is None and description is None and not add_tag and not remove_tag:
        raise UsageError("nothing to update", hint="pass --name, --description, --add-tag or --remove-tag")
    db = store()
    with reading(db) as conn:
        ids = list(dict.fromkeys(resolve_references(conn, references)))
    update_experiments(
        db, ids, name=name, description=description, add_tags=add_tag or (), remove_tags=remove_tag or ()
    )
    typer.echo(f"Updated {len(ids)} experiment{'s' if len(ids) != 1 else ''}: {' '.join(ids)}", err=True)
