"""``yanex archive`` and ``yanex unarchive``: hide experiments from queries without deleting them.

The two commands are one pair of mirror images, so they share this module.
"""

from __future__ import annotations

from typing import Annotated

import typer

from yanex.cli.filters import (
    BatchOpt,
    EndedAfterOpt,
    EndedBeforeOpt,
    NameOpt,
    ScriptOpt,
    StartedAfterOpt,
    StartedBeforeOpt,
    StatusOpt,
    TagOpt,
    WhereOpt,
)

RefsArg = Annotated[list[str] | None, typer.Argument(metavar="[IDS]...", help="Ids, id prefixes or names.")]


def _set_archived(
    archived: bool,
    references: list[str] | None,
    status: list[str] | None,
    tag: list[str] | None,
    name: str | None,
    script: str | None,
    batch: str | None,
    started_after: str | None,
    started_before: str | None,
    ended_after: str | None,
    ended_before: str | None,
    where: str | None,
) -> None:
    from yanex.cli.filters import build_filter, has_conditions
    from yanex.db.engine import Database
    from yanex.errors import NotFoundError, UsageError
    from yanex.store.manage import set_archived
    from yanex.store.query import find_ids, resolve_references

    verb = "archive" if archived else "unarchive"
    db = Database()
    flt = build_filter(
        ids=resolve_references(db, references) if references else None,
        status=status,
        tag=tag,
        name=name,
        script=script,
        batch=batch,
        started_after=started_after,
        started_before=started_before,
        ended_after=ended_after,
        ended_before=ended_before,
        where=where,
    )
    if not has_conditions(flt):
        raise UsageError(f"say which experiments to {verb}", hint="pass ids or filters such as --tag")
    # Only the rows that would change: unarchived ones to archive, archived ones to unarchive.
    ids = find_ids(db, flt.model_copy(update={"archived": "hide" if archived else "only"}))
    if not ids:
        raise NotFoundError(f"no {'un' if archived else ''}archived experiments match, nothing to {verb}")
    changed = set_archived(db, ids, archived)
    typer.echo(f"{verb.capitalize()}d {changed} experiment{'s' if changed != 1 else ''}.", err=True)


def archive_command(
    references: RefsArg = None,
    status: StatusOpt = None,
    tag: TagOpt = None,
    name: NameOpt = None,
    script: ScriptOpt = None,
    batch: BatchOpt = None,
    started_after: StartedAfterOpt = None,
    started_before: StartedBeforeOpt = None,
    ended_after: EndedAfterOpt = None,
    ended_before: EndedBeforeOpt = None,
    where: WhereOpt = None,
) -> None:
    """Archive experiments: list, compare and get skip them unless --archived or --all.

    Examples:

      yanex archive abc12345 def67890

      yanex archive --tag debug --ended-before "1 week ago"
    """
    _set_archived(
        True,
        references,
        status,
        tag,
        name,
        script,
        batch,
        started_after,
        started_before,
        ended_after,
        ended_before,
        where,
    )


def unarchive_command(
    references: RefsArg = None,
    status: StatusOpt = None,
    tag: TagOpt = None,
    name: NameOpt = None,
    script: ScriptOpt = None,
    batch: BatchOpt = None,
    started_after: StartedAfterOpt = None,
    started_before: StartedBeforeOpt = None,
    ended_after: EndedAfterOpt = None,
    ended_before: EndedBeforeOpt = None,
    where: WhereOpt = None,
) -> None:
    """Bring archived experiments back into list, compare and get.

    Examples:

      yanex unarchive abc12345

      yanex unarchive --tag grid-search
    """
    _set_archived(
        False,
        references,
        status,
        tag,
        name,
        script,
        batch,
        started_after,
        started_before,
        ended_after,
        ended_before,
        where,
    )
