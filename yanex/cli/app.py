"""Assembles the ``yanex`` command from one module per command.

Start-up is a budget: command modules import only Typer at module level and load the store, SQLAlchemy
and rich inside the command that needs them. User errors (``YanexError``) become one ``Error:`` line
and a ``Hint:`` line on stderr with the error's exit code, never a traceback; so do storage faults
raised outside a transaction (``yanex.db.faults``), and ``YanexWarning``s become ``Note:`` lines.
"""

from __future__ import annotations

import os
import sys
import warnings
from typing import Any, NoReturn, TextIO

import typer
from typer.core import TyperGroup

from yanex import __version__
from yanex.cli import archive, compare, db, delete, get, listing, rerun, run, show, sql, update
from yanex.errors import YanexError, YanexWarning
from yanex.terminal import printable


def _notes_as_lines() -> None:
    """Show ``YanexWarning``s as ``Note:`` lines; other warnings as Python shows them."""
    show = warnings.showwarning

    def note(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:
        if issubclass(category, YanexWarning):
            typer.echo(f"Note: {message}", err=True)
        else:
            show(message, category, filename, lineno, file, line)

    warnings.simplefilter("always", YanexWarning)
    warnings.showwarning = note


class YanexGroup(TyperGroup):
    """Translates the error tree once, at the edge, for the real CLI and the test runner alike."""

    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]
        try:
            with warnings.catch_warnings():
                _notes_as_lines()
                return super().invoke(ctx)
        except YanexError as error:
            self._fail(error)
        except Exception as error:
            from yanex.db.faults import default_database, storage_error

            translated = storage_error(error, default_database())
            if translated is None:
                raise
            self._fail(translated)

    @staticmethod
    def _fail(error: YanexError) -> NoReturn:
        typer.echo(f"Error: {printable(error.message, keep=chr(10))}", err=True)  # may quote user text
        if error.hint:
            typer.echo(f"Hint: {printable(error.hint, keep=chr(10))}", err=True)
        raise typer.Exit(error.exit_code) from None


app = typer.Typer(
    cls=YanexGroup,
    name="yanex",
    help="Track experiments in SQLite: run scripts and sweeps, then query them.",
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


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Track experiments in SQLite: run scripts and sweeps, then query them."""


# Command registrations: one line per command module.
app.command("run", cls=run.RunCommand)(run.run)
app.command("list")(listing.list_command)
app.command("show")(show.show_command)
app.command("compare")(compare.compare_command)
app.command("get")(get.get_command)
app.command("sql")(sql.sql_command)
app.command("update")(update.update_command)
app.command("archive")(archive.archive_command)
app.command("unarchive")(archive.unarchive_command)
app.command("delete")(delete.delete_command)
app.command("rerun")(rerun.rerun_command)
app.add_typer(db.app)


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
    app()
