"""``yanex artifacts get ID NAME``: a copy of an artifact (or a folder of them) out of the store."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from yanex.cli.spec import REFERENCE, REQUIRED, Command, Param

if TYPE_CHECKING:
    from yanex.store.tables import ArtifactRecord


def _no_link(path: Path) -> None:
    """``UsageError`` if ``path`` is a symbolic link: never written through (it could point
    anywhere, the store included)."""
    from yanex.errors import UsageError

    if path.is_symlink():
        raise UsageError(
            f"{path} is a symbolic link; yanex does not write through one",
            hint="remove the link, or pass -o another path",
        )


def _refuse(path: Path, force: bool) -> None:
    """``UsageError`` if the file ``path`` may not be written: a link, a folder, or there already
    and ``force`` not given."""
    from yanex.errors import UsageError

    _no_link(path)
    if path.is_dir():
        raise UsageError(f"{path} is a folder", hint="pass -o another path")
    if path.exists() and not force:
        raise UsageError(f"{path} exists", hint="pass --force to replace it, or -o another path")


def _write(blob: Path, destination: Path, force: bool) -> None:
    """Copy ``blob`` to ``destination``. Without ``force`` the file is created exclusively (so a
    file or link that appeared since ``_refuse`` looked is not written over or through); with
    it, a temp copy is renamed over the file (which replaces a link rather than following it)."""
    import os
    import shutil

    from yanex.errors import UsageError

    if not force:
        try:
            fd = os.open(destination, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        except FileExistsError:
            raise UsageError(f"{destination} exists", hint="pass --force to replace it") from None
        try:
            with blob.open("rb") as source, open(fd, "wb") as target:
                shutil.copyfileobj(source, target, 8 * 1024 * 1024)
        except BaseException:
            destination.unlink(missing_ok=True)
            raise
        return
    temp = destination.parent / f".yanex-get-{os.getpid()}-{os.urandom(4).hex()}"
    try:
        shutil.copyfile(blob, temp)
        os.replace(temp, destination)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def get_command(reference: str, name: str, output: Path | None, force: bool) -> None:
    """Copy an artifact (or a folder of them) out of the store, as a file you may change.

    An existing file is replaced only with --force; a symbolic link is never written through.

    Examples:

      yanex artifacts get abc12345 model.pt

      yanex artifacts get abc12345 model.pt --force

      yanex artifacts get abc12345 plots -o ./abc-plots

      yanex artifacts get abc12345 metrics.json -o - | jq .
    """
    import shutil

    from yanex.artifacts.names import check_name
    from yanex.artifacts.reading import artifacts_of
    from yanex.artifacts.views import selected
    from yanex.cli.render import echo
    from yanex.cli.store import store
    from yanex.display import format_size
    from yanex.errors import UsageError

    name = check_name(name)
    found = artifacts_of(reference, store())
    experiment_id = found.experiment_id
    chosen = selected(name, found)
    folder = chosen[0].name != name

    def content(record: ArtifactRecord) -> Path:
        from yanex.artifacts.views import content

        return content(record, experiment_id, found.why_missing(record))

    target = output if output is not None else Path(Path(name).name)
    if str(target) == "-":
        if folder:
            raise UsageError(f"{name!r} is a folder of artifacts", hint="write it to a folder with -o PATH")
        blob = content(chosen[0])
        sys.stdout.flush()
        with blob.open("rb") as handle:
            shutil.copyfileobj(handle, sys.stdout.buffer)
        return
    _no_link(target)
    if not folder and target.is_dir():  # like cp: a file copied to a folder goes inside it
        target = target / Path(name).name
    # Every file is looked at, and every content checked, before any is written.
    planned = [
        (content(record), target / record.name[len(name) + 1 :] if folder else target) for record in chosen
    ]
    for _, destination in planned:
        for folder_in in destination.relative_to(target).parents if folder else ():
            _no_link(target / folder_in)
        _refuse(destination, force)
    for blob, destination in planned:
        try:
            destination.parent.mkdir(parents=True, exist_ok=True)
            _write(blob, destination, force)
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
        Param("force", ("--force",), bool, False, "Replace files there already (never through a link)."),
    ),
)
