"""Assembles the ``yanex`` command from one module per command, and runs it.

Start-up is a budget. The query commands (list, get, show, compare) declare their parameters in
the standard library (``yanex.cli.spec``) and ``main`` runs them without Typer when their command
line parses plainly; everything else, and any command line the fast path is unsure of, goes
through the Typer app built here (``app`` is built on first access). Command modules load the
store, SQLAlchemy and rich inside the command that needs them. Errors and notes are shown by
``yanex.cli.edge`` on both paths.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import TYPE_CHECKING, Any

from yanex.cli.edge import notes_as_lines, report, user_error

if TYPE_CHECKING:
    import typer

    from yanex.cli.spec import Command

# Commands declared with ``yanex.cli.spec.Command`` (module attribute COMMAND): the fast path's.
DECLARED = {
    "list": "yanex.cli.listing",
    "show": "yanex.cli.show",
    "compare": "yanex.cli.compare",
    "get": "yanex.cli.get",
}
HELP = "Track experiments in SQLite: run scripts and sweeps, then query them."


def _declared(name: str) -> Command:
    command: Command = importlib.import_module(DECLARED[name]).COMMAND
    return command


def _build() -> typer.Typer:
    import typer
    from typer.core import TyperGroup

    from yanex import __version__
    from yanex.cli import archive, db, delete, rerun, run, sql, update
    from yanex.cli.spec import typer_signature

    class YanexGroup(TyperGroup):
        """Translates the error tree once, at the edge, for the real CLI and the test runner alike."""

        def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]
            try:
                with notes_as_lines():
                    return super().invoke(ctx)
            except Exception as error:
                translated = user_error(error)
                if translated is None:
                    raise
                raise typer.Exit(report(translated)) from None

    built = typer.Typer(
        cls=YanexGroup,
        name="yanex",
        help=HELP,
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
        add_completion=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )

    def _version(value: bool) -> None:
        if value:
            typer.echo(f"yanex {__version__}")
            raise typer.Exit()

    @built.callback(help=HELP)
    def _root(
        version: bool = typer.Option(
            False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ) -> None:
        pass

    # Command registrations: one line per command module, in the order `yanex --help` lists them.
    built.command("run", cls=run.RunCommand)(run.run)
    for name in ("list", "show", "compare", "get"):
        built.command(name)(typer_signature(_declared(name)))
    built.command("sql")(sql.sql_command)
    built.command("update")(update.update_command)
    built.command("archive")(archive.archive_command)
    built.command("unarchive")(archive.unarchive_command)
    built.command("delete")(delete.delete_command)
    built.command("rerun")(rerun.rerun_command)
    built.add_typer(db.app)
    return built


_APP: list[typer.Typer] = []


def __getattr__(name: str) -> Any:
    if name == "app":
        if not _APP:
            _APP.append(_build())
        return _APP[0]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _fast(argv: list[str]) -> None:
    """Run a query command without Typer when its command line parses plainly (``yanex.cli.spec``)."""
    if not argv or argv[0] not in DECLARED:
        return None
    from yanex.cli.spec import parse

    command = _declared(argv[0])
    values = parse(command, argv[1:])
    if values is None:
        return None
    try:
        with notes_as_lines():
            command.invoke(values)
        sys.stdout.flush()
    except BrokenPipeError:  # `yanex list | head`: the reader has all it wants
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
    except (KeyboardInterrupt, EOFError):  # as Typer (click) ends on Ctrl-C
        print("\nAborted!", file=sys.stderr)
        sys.exit(1)
    except Exception as error:
        translated = user_error(error)
        if translated is None:
            raise
        sys.exit(report(translated))
    sys.exit(0)


def _keep_standard_descriptors_open() -> None:
    """Put /dev/null on a closed stdin, stdout or stderr (``yanex run x >&-``): a pipe or file yanex
    opens next would otherwise take that number, and anything written there would land in it."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)


def main() -> None:
    # Started with stdout or stderr closed (`yanex run train.py >&-`), Python has None there: the
    # user wants no output, not a crash halfway through a run.
    _keep_standard_descriptors_open()
    for name in ("stdout", "stderr"):
        if getattr(sys, name) is None:
            setattr(sys, name, open(os.devnull, "w"))  # noqa: SIM115 (lives as long as the process)
    _fast(sys.argv[1:])
    __getattr__("app")()
