"""``yanex artifacts get ID NAME``: a copy of an artifact (or a folder of them) out of the store."""

from __future__ import annotations

import sys
from pathlib import Path

from yanex.cli.spec import REFERENCE, REQUIRED, Command, Param


def get_command(reference: str, name: str, output: Path | None) -> None:
    """Copy an artifact (or a folder of them) out of the store, as a file you may change.

    Examples:

      yanex artifacts get abc12345 model.pt

      yanex artifacts get abc12345 plots -o ./abc-plots

      yanex artifacts get abc12345 metrics.json -o - | jq .
    """
    import shutil

    from yanex.artifacts.names import check_name
    from yanex.artifacts.reading import artifacts_of, selected
    from yanex.artifacts.views import content
    from yanex.cli.render import echo, format_size
    from yanex.cli.store import store
    from yanex.errors import UsageError

    name = check_name(name)
    experiment_id, found = artifacts_of(reference, store())
    chosen = selected(name, experiment_id, found)
    folder = chosen[0].name != name
    target = output if output is not None else Path(Path(name).name)
    if not folder and target.is_dir():  # like cp: a file copied to a folder goes inside it
        target = target / Path(name).name
    if str(target) == "-":
        if folder:
            raise UsageError(f"{name!r} is a folder of artifacts", hint="write it to a folder with -o PATH")
        blob = content(chosen[0], experiment_id)
        sys.stdout.flush()
        with blob.open("rb") as handle:
            shutil.copyfileobj(handle, sys.stdout.buffer)
        return
    blobs = [content(record, experiment_id) for record in chosen]  # all checked before any is written
    for record, blob in zip(chosen, blobs, strict=True):
        destination = target / record.name[len(name) + 1 :] if folder else target
        try:
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(blob, destination)  # a copy: the blob is shared and stays read-only
        except OSError as error:
            raise UsageError(
                f"cannot write {destination}: {error.strerror or error}",
                hint="pass -o a path in a folder you may write, or - for standard output",
            ) from None
    total = sum(record.size for record in chosen)
    what = f"{len(chosen)} file{'s' if len(chosen) != 1 else ''}" if folder else name
    echo(f"Wrote {what} ({format_size(total)}) to {target}", err=True)


COMMAND = Command(
    get_command,
    (
        REFERENCE,
        Param("name", (), str, REQUIRED, "The artifact, or a folder of artifacts.", metavar="NAME"),
        Param(
            "output",
            ("--output", "-o"),
            Path,
            None,
            "Where to write it (default: its file name here; - for stdout).",
            metavar="PATH",
        ),
    ),
)
