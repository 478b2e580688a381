"""``yanex delete``: remove experiments, their rows and their folders, after confirmation."""

from __future__ import annotations

import typer

from yanex.cli.spec import REFERENCES, Command, FilterOptions, Param

SHOWN = 10


def delete_command(references: list[str] | None, yes: bool, *, filters: FilterOptions) -> None:
    """Delete experiments for good: their rows, metrics and folder (asks first unless --yes).

    Refuses, deleting nothing, if any selected experiment is still created, queued or running:
    its process may be alive (also when stopped, as by Ctrl-Z); an experiment whose process died
    is first recorded as what it was. Needs ids or at least one filter; without --archived/--all,
    archived experiments are left alone.

    Examples:

      yanex delete abc12345

      yanex delete --status failed --tag debug --yes

      yanex delete --archived --ended-before "1 week ago"
    """
    from yanex.cli.store import store
    from yanex.errors import NotFoundError, UsageError
    from yanex.store.dependencies import dependents_outside
    from yanex.store.ids import short_ids
    from yanex.store.manage import delete_with_files
    from yanex.store.reading import reading
    from yanex.store.records import find_records
    from yanex.store.references import resolve_references
    from yanex.terminal import printable

    db = store()
    flt = filters.build()
    with reading(db) as conn:
        if references:
            flt = flt.naming(resolve_references(conn, references))
        if not flt.narrows():
            raise UsageError("say which experiments to delete", hint="pass ids or filters such as --tag")
        doomed = find_records(conn, flt)
        dependents = dependents_outside(conn, [e.id for e in doomed])
        shown = short_ids(conn, [e.id for e in doomed[:SHOWN]] + dependents[:SHOWN])
    if not doomed:
        raise NotFoundError("no experiments match, nothing deleted")
    typer.echo(f"About to delete {len(doomed)} experiment{'s' if len(doomed) != 1 else ''}:", err=True)
    for e in doomed[:SHOWN]:
        typer.echo(f"  {shown[e.id]}  {printable(e.name or '-')}  {e.status.value}", err=True)
    if len(doomed) > SHOWN:
        typer.echo(f"  ... and {len(doomed) - SHOWN} more", err=True)
    if dependents:
        listed = ", ".join(shown[d] for d in dependents[:SHOWN]) + (
            ", ..." if len(dependents) > SHOWN else ""
        )
        typer.echo(
            f"Note: {len(dependents)} experiment(s) not deleted depend on these ({listed}): they keep "
            "their results but lose the record of what they ran on (a re-run of them gets no dependency)",
            err=True,
        )
    if not yes and not typer.confirm("Delete them?", default=False, err=True):
        typer.echo("Nothing deleted.", err=True)
        raise typer.Exit(1)
    freed = delete_with_files(db, [e.id for e in doomed])
    typer.echo(f"Deleted {len(doomed)} experiment{'s' if len(doomed) != 1 else ''}.", err=True)
    if freed:
        from yanex.display import format_size

        typer.echo(f"Freed {format_size(freed)} of artifact storage.", err=True)


COMMAND = Command(
    delete_command,
    (REFERENCES, Param("yes", ("--yes", "-y"), bool, False, "Do not ask for confirmation.")),
    filters=("select", "archive"),
)
