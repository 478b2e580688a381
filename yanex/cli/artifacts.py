"""``yanex artifacts``: an experiment's artifacts, and a copy of one of them.

``yanex artifacts ID`` is short for ``yanex artifacts list ID``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer._click.core import Context
from typer.core import TyperGroup

from yanex.cli.render import FormatOpt, OutputFormat

if TYPE_CHECKING:
    from yanex.store.tables import ArtifactRecord

HASH_SHOWN = 12  # hex digits of the SHA-256 in a table


class _ListByDefault(TyperGroup):
    """Takes ``yanex artifacts ID`` as ``yanex artifacts list ID``."""

    def parse_args(self, ctx: Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = ["list", *args]
        return super().parse_args(ctx, args)


app = typer.Typer(
    name="artifacts",
    cls=_ListByDefault,
    help="An experiment's artifacts: `yanex artifacts ID` lists them, `yanex artifacts get ID NAME` "
    "copies one out.",
    no_args_is_help=True,
)
Reference = Annotated[str, typer.Argument(metavar="ID", help="Full id, unique id prefix, or exact name.")]


def _json(record: ArtifactRecord) -> dict[str, Any]:
    return {
        "name": record.name,
        "size": record.size,
        "sha256": record.sha256,
        "media_type": record.media_type,
        "created_at": record.created_at,
    }


@app.command("list")
def list_command(reference: Reference, fmt: FormatOpt = OutputFormat.TABLE) -> None:
    """List the artifacts of one experiment: name, size, hash prefix and when it was saved.

    Examples:

      yanex artifacts abc12345

      yanex artifacts grid-lr0_01-bs16 --format json
    """
    from yanex.artifacts.reading import artifacts_of
    from yanex.cli.render import format_size, format_time, print_rows
    from yanex.cli.store import store

    _, found = artifacts_of(reference, store())
    rows = [[r.name, format_size(r.size), r.sha256[:HASH_SHOWN], format_time(r.created_at)] for r in found]
    print_rows(fmt, ["name", "size", "sha256", "created"], rows, [_json(r) for r in found])


@app.command("get")
def get_command(
    reference: Reference,
    name: Annotated[str, typer.Argument(metavar="NAME", help="The artifact, or a folder of artifacts.")],
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            metavar="PATH",
            help="Where to write it (default: its file name here; - for stdout).",
        ),
    ] = None,
) -> None:
    """Copy an artifact (or a folder of them) out of the store, as a file you may change.

    Examples:

      yanex artifacts get abc12345 model.pt

      yanex artifacts get abc12345 plots -o ./abc-plots

      yanex artifacts get abc12345 metrics.json -o - | jq .
    """
    import shutil

    from yanex import config
    from yanex.artifacts import blobs
    from yanex.artifacts.names import check_name
    from yanex.artifacts.reading import artifacts_of, selected
    from yanex.cli.render import echo, format_size
    from yanex.cli.store import store
    from yanex.errors import NotFoundError, UsageError

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
        sys.stdout.flush()
        with blobs.blob_path(config.blobs_root(), chosen[0].sha256).open("rb") as handle:
            shutil.copyfileobj(handle, sys.stdout.buffer)
        return
    for record in chosen:
        blob = blobs.blob_path(config.blobs_root(), record.sha256)
        if not blob.is_file():
            raise NotFoundError(
                f"the content of artifact {record.name!r} is missing from {config.blobs_root()}",
                hint="it was deleted outside yanex",
            )
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
