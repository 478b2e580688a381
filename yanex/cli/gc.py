"""``yanex gc``: free the artifact blobs no experiment refers to."""

from __future__ import annotations

from yanex.cli.spec import Command, Param


def gc_command(dry_run: bool) -> None:
    """Delete artifact contents no experiment refers to, and files left by saves that were killed.

    `yanex delete` already frees what only the deleted experiments used; gc also finds what
    was left behind otherwise (a script killed between saving a file and recording it). A blob
    an experiment is saving right now is never removed: saves and gc take turns on a lock.
    gc also gives each content a file of its own where an older version of yanex hard-linked
    it into experiment folders (a write there would have changed every experiment sharing it).

    Examples:

      yanex gc --dry-run

      yanex gc
    """
    from yanex.artifacts.collect import collect
    from yanex.cli.render import echo
    from yanex.cli.store import store
    from yanex.display import format_size

    done = collect(store(), dry_run=dry_run)
    what = f"{done.blobs} unreferenced blob{'s' if done.blobs != 1 else ''}"
    if done.temp_files:
        what += f" and {done.temp_files} file{'s' if done.temp_files != 1 else ''} of interrupted saves"
    echo(f"{'Would free' if dry_run else 'Freed'} {format_size(done.bytes)}: {what}.")
    if done.separated:
        contents = f"{done.separated} artifact content{'s' if done.separated != 1 else ''}"
        verb = "Would separate" if dry_run else "Separated"
        echo(f"{verb} {contents} from the hard links older versions of yanex made.")


COMMAND = Command(
    gc_command, (Param("dry_run", ("--dry-run",), bool, False, "Say what would be freed; delete nothing."),)
)
