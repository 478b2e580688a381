"""``yanex archive``: hide experiments from queries without deleting them."""

from __future__ import annotations

import dataclasses

import typer

from yanex.cli.spec import REFERENCES, Command, FilterOptions


def archive_selected(archived: bool, references: list[str] | None, filters: FilterOptions) -> None:
    """Archive (or, ``archived`` false, unarchive) the experiments named or filtered; ``yanex
    unarchive`` is this command's mirror image."""
    from yanex.cli.store import store
    from yanex.errors import NotFoundError, UsageError
    from yanex.store.manage import set_archived
    from yanex.store.reading import reading
    from yanex.store.references import resolve_references
    from yanex.store.selection import select_ids

    verb = "archive" if archived else "unarchive"
    db = store()
    flt = filters.build()
    with reading(db) as conn:
        if references:
            flt = flt.naming(resolve_references(conn, references))
        if not flt.narrows():
            raise UsageError(f"say which experiments to {verb}", hint="pass ids or filters such as --tag")
        # Only the rows that would change: unarchived ones to archive, archived ones to unarchive.
        ids = select_ids(conn, dataclasses.replace(flt, archived="hide" if archived else "only"))
    if not ids:
        raise NotFoundError(f"no {'un' if archived else ''}archived experiments match, nothing to {verb}")
    changed = set_archived(db, ids, archived)
    typer.echo(f"{verb.capitalize()}d {changed} experiment{'s' if changed != 1 else ''}.", err=True)


def archive_command(references: list[str] | None, *, filters: FilterOptions) -> None:
    """Archive experiments: list, compare and get skip them unless --archived or --all.

    Examples:

      yanex archive abc12345 def67890

      yanex archive --tag debug --ended-before "1 week ago"
    """
    archive_selected(True, references, filters)


COMMAND = Command(archive_command, (REFERENCES,), filters=("select",))
