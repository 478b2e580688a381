"""``yanex import``: add what another store or an export file has and this store lacks
(docs/moving.md)."""

from __future__ import annotations

from pathlib import Path

from yanex.cli.spec import REQUIRED, Command, Param


def import_command(path: Path, kind: str | None) -> None:
    """Add the experiments of an export file or of another store that this store lacks.

    PATH is a file `yanex export` wrote, another store's folder (its YANEX_HOME) or database
    file; read only, never changed. An experiment already here is never overwritten: an
    identical one is skipped, one that differs is reported as a conflict and kept as this store
    has it. Only a copy imported while it ran takes the later state it has since reached. So
    importing the same file twice adds nothing.

    Examples:

      yanex import results.tar

      yanex import /mnt/cluster/home/me/.yanex

      yanex import old-laptop/yanex.db --from yanex

      yanex import mlruns --from mlflow
      yanex import --from tensorboard runs/
    """
    from yanex.cli.render import echo
    from yanex.cli.store import store
    from yanex.display import format_size
    from yanex.errors import UsageError
    from yanex.importers import opened
    from yanex.store.differences import Verdict
    from yanex.store.ids import short_ids
    from yanex.store.importing import import_source
    from yanex.store.reading import reading
    from yanex.terminal import printable

    db = store()
    if path.exists() and db.exists() and _same_file(path, db.path):
        raise UsageError(f"{path} is this store", hint="import another store's folder or an export file")
    with opened(path, kind) as source:
        done = import_source(db, source)
    with reading(db, settle=False) as conn:
        shown = short_ids(conn, [d.id for d in done.decisions if d.verdict is not Verdict.NEW])

    def count(number: int, what: str) -> str:
        return f"{number:,} {what}{'s' if number != 1 else ''}"

    files = done.files
    new, updated = done.of(Verdict.NEW), done.of(Verdict.UPDATE)
    echo(printable(f"Imported from {source.what} {path}:"))
    echo(
        f"  added {count(len(new), 'experiment')}, {count(done.points, 'point')}, "
        f"{count(done.artifacts, 'artifact')}, {count(files.blobs, 'blob')} ({format_size(files.blob_bytes)})"
    )
    for decision in updated:
        echo(
            printable(
                f"  updated {shown[decision.id]}  {decision.name or '-'}: imported while open, now as "
                "the source has it"
            )
        )
    for verdict, why in (
        (Verdict.SAME, "already here, identical"),
        (Verdict.OLDER, "this store has a later state of them"),
        (Verdict.OPEN_HERE, "still open in this store, which runs them"),
    ):
        if skipped := done.of(verdict):
            echo(f"  skipped {count(len(skipped), 'experiment')}: {why}")
    for decision in done.of(Verdict.CONFLICT):
        echo(
            printable(
                f"  conflict {shown[decision.id]}  {decision.name or '-'}: {', '.join(decision.differs)} "
                "differ; kept this store's"
            )
        )
    not_copied = [
        *([f"{files.missing_blobs} missing from the source"] if files.missing_blobs else []),
        *([f"{files.damaged_blobs} damaged there (not the hash recorded)"] if files.damaged_blobs else []),
    ]
    if not_copied:
        echo(
            f"Note: artifact contents not copied: {', '.join(not_copied)}; `yanex db check` lists the "
            "artifacts without content",
            err=True,
        )


def _same_file(path: Path, database: Path) -> bool:
    """Whether ``path`` is this store's database or the folder holding it."""
    candidate = path / "yanex.db" if path.is_dir() else path
    try:
        return candidate.samefile(database)
    except OSError:
        return False


COMMAND = Command(
    import_command,
    (
        Param(
            "path",
            (),
            Path,
            REQUIRED,
            "An export file, another store's folder (its YANEX_HOME) or its database file, or another "
            "tracker's store or logs: the file-based yanex 0.x, MLflow, TensorBoard (--from).",
            metavar="PATH",
            show_default=False,
        ),
        Param(
            "kind",
            ("--from",),
            str,
            None,
            "What PATH is, when it cannot be told: yanex, yanex-files, mlflow or tensorboard.",
            metavar="KIND",
            show_default=False,
        ),
    ),
)
