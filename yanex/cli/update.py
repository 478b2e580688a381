"""``yanex update``: rename, describe and re-tag experiments."""

from __future__ import annotations

import dataclasses

import typer

from yanex.cli.spec import REFERENCES, REQUIRED, Command, Param


def update_command(
    references: list[str],
    name: str | None,
    description: str | None,
    add_tag: list[str] | None,
    remove_tag: list[str] | None,
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


COMMAND = Command(
    update_command,
    (
        dataclasses.replace(REFERENCES, default=REQUIRED, metavar="IDS..."),
        Param("name", ("--name",), str, None, "New name."),
        Param("description", ("--description", "-d"), str, None, "New description."),
        Param("add_tag", ("--add-tag",), str, None, "Add this tag (repeatable).", multiple=True),
        Param("remove_tag", ("--remove-tag",), str, None, "Remove this tag (repeatable).", multiple=True),
    ),
)
