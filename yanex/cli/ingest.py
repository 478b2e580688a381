"""``yanex ingest``: recover experiments from a cluster's spool (see docs/cluster.md)."""

from __future__ import annotations

from pathlib import Path

import typer

from yanex.cli.spec import REQUIRED, Command, Param


def ingest_command(path: Path) -> None:
    """Store what cluster workers logged when the orchestrator died before receiving it.

    Appends the metrics each worker's journal holds beyond what the database has (every point
    exactly once, however often it runs), brings home the content of the artifacts the scripts
    saved (from the spool's blobs/ folder), copies the output, and records the outcome the worker
    saw over a row still open or recorded lost. Prints one line per experiment.

    Examples:

      yanex ingest /shared/yanex-spool

      yanex ingest /shared/yanex-spool/1a2b3c4d

      yanex ingest /shared/yanex-slurm
    """
    from yanex.cli.store import store
    from yanex.errors import UsageError
    from yanex.executors.spool import ingest_spool
    from yanex.store.ids import shown
    from yanex.terminal import printable

    if not path.is_dir():
        raise UsageError(f"no such folder: {path}", hint="pass the workers' spool folder")
    recovered = ingest_spool(path, store())
    if not recovered:
        raise UsageError(
            f"no experiment folders in {path}",
            hint="pass the folder that holds the <id>/task.json folders of the spool",
        )
    for item in recovered:
        if not item.known:
            line = f"{shown(item.experiment_id)}  skipped: not in this database"
        else:
            line = f"{shown(item.experiment_id)}  {item.points} new point(s)"
            line += f", {item.contents} artifact content(s) brought home" if item.contents else ""
            line += f", recorded {item.outcome}" if item.outcome else ""
            line += f" ({item.note})" if item.note else ""
        typer.echo(printable(line))


COMMAND = Command(
    ingest_command,
    (
        Param(
            "path",
            (),
            Path,
            REQUIRED,
            "A spool folder (YANEX_SPOOL of Dask workers, else their ~/.yanex-spool), a Slurm "
            "batch's folder ($YANEX_SLURM_FOLDER/BATCH_ID) or the Slurm folder itself, or one experiment's "
            "folder in any of them.",
            show_default=False,
        ),
    ),
)
