"""``yanex export``: experiments, with everything they need, into one file (docs/moving.md)."""

from __future__ import annotations

from pathlib import Path

from yanex.cli.spec import REFERENCES, REQUIRED, Command, FilterOptions, Param


def export_command(
    references: list[str] | None, output: Path, force: bool, *, filters: FilterOptions
) -> None:
    """Write experiments to one file that `yanex import` reads on another machine or store.

    Takes ids and the filters `yanex list` takes; with neither, every experiment not archived
    (--all for those too). The experiments they depend on are exported too, so that lineage
    survives. The file holds their rows, tags, params, every metric point, batches and sweeps,
    git patches, captured output and the artifact contents they use. It is written under a
    temp name and renamed when complete; a running experiment is exported as it is now.

    Examples:

      yanex export --all -o everything.tar

      yanex export --tag grid-search --status completed -o grid.tar

      yanex export abc12345 -o one.tar --force
    """
    from yanex.cli.render import echo
    from yanex.cli.store import store
    from yanex.display import format_size
    from yanex.errors import NotFoundError
    from yanex.store.exporting import check_target, export_experiments
    from yanex.store.reading import reading
    from yanex.store.references import resolve_references
    from yanex.store.selection import select_ids
    from yanex.terminal import printable

    db = store()
    flt = filters.build()
    check_target(output, force=force)
    with reading(db) as conn:
        if references:
            flt = flt.naming(resolve_references(conn, references))
        ids = select_ids(conn, flt)
    if not ids:
        raise NotFoundError("no experiments match, nothing was exported")
    done = export_experiments(db.path, ids, output, force=force)
    plural = "s" if done.experiments != 1 else ""
    echo(
        printable(
            f"Exported {done.experiments} experiment{plural} to {done.path} ({format_size(done.bytes)})."
        )
    )
    if done.ancestors:
        echo(
            f"  {done.ancestors} of them because the others depend on them (or re-run them): "
            "lineage comes along"
        )
    echo(
        f"  {done.points:,} metric point{'s' if done.points != 1 else ''}, {done.artifacts} "
        f"artifact{'s' if done.artifacts != 1 else ''} ({done.blobs} "
        f"content{'s' if done.blobs != 1 else ''}, {format_size(done.blob_bytes)})"
    )
    if done.missing_blobs:
        echo(
            f"Note: {done.missing_blobs} artifact content{'s are' if done.missing_blobs != 1 else ' is'} "
            "missing from this store (or damaged) and went without: `yanex db check` says which",
            err=True,
        )


COMMAND = Command(
    export_command,
    (
        REFERENCES,
        Param(
            "output",
            ("--output", "-o"),
            Path,
            REQUIRED,
            "The file to write (a tar; refused if it exists, unless --force).",
            metavar="FILE",
            show_default=False,
        ),
        Param("force", ("--force",), bool, False, "Replace FILE if it exists."),
    ),
    filters=("select", "archive", "order"),
)
