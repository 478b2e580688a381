"""``yanex db repair``: store what a crash left behind."""

from __future__ import annotations

import typer

from yanex.cli.spec import Command


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


COMMAND = Command(repair_command, ())
