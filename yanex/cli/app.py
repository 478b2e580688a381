"""Assembles the ``yanex`` command from one module per command, and runs it.

Every command module declares its parameters once (``COMMAND``, ``yanex.cli.spec``); a group of
subcommands is a package declaring ``GROUP``. Start-up is a budget: ``main`` runs the query
commands (``FAST``) without Typer when their command line parses plainly; everything else, and
any command line the fast path is unsure of, goes through the Typer app built here from the
same declarations (``app`` is built on first access). Command modules load the store, pydantic
and rich inside the command that needs them. Errors and notes are shown by ``yanex.cli.edge`` on
both paths.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import TYPE_CHECKING, Any

from yanex.cli.edge import notes_as_lines, report, user_error

if TYPE_CHECKING:
    import typer

    from yanex.cli.spec import Command, Group


# Every command: the module declaring it (``COMMAND``, or ``GROUP`` for subcommands) and its line
# in ``yanex --help``, in the order ``yanex --help`` lists them. Typer lists plain commands before
# groups (db, sweep, artifacts), so they come last. ``yanex --help`` is printed from here without
# building the app (Typer's import alone costs several times a bare interpreter's start).
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("yanex.cli.run", "Run a script as a tracked experiment."),
    "list": ("yanex.cli.listing", "List experiments, newest first."),
    "show": ("yanex.cli.show", "Show everything recorded about one experiment."),
    "compare": ("yanex.cli.compare", "Compare experiments: differing params and metrics."),
    "get": ("yanex.cli.get", "Print one field of experiments, for shell scripts."),
    "sql": ("yanex.cli.sql", "Run one read-only SQL statement on the database."),
    "update": ("yanex.cli.update", "Change the name, description or tags of experiments."),
    "archive": ("yanex.cli.archive", "Hide experiments from list, compare and get."),
    "unarchive": ("yanex.cli.unarchive", "Bring archived experiments back."),
    "delete": ("yanex.cli.delete", "Delete experiments with their metrics and folders."),
    "rerun": ("yanex.cli.rerun", "Re-run finished experiments with their recorded config."),
    "metrics": ("yanex.cli.metrics", "Export every logged metric point, long form."),
    "plot": ("yanex.cli.plot", "Plot metric curves of experiments."),
    "watch": ("yanex.cli.watch", "Live table of running experiments."),
    "ui": ("yanex.cli.ui", "Open a read-only web view of the experiments."),
    "gc": ("yanex.cli.gc", "Free artifact storage no experiment refers to."),
    "ingest": ("yanex.cli.ingest", "Recover experiments from a cluster worker's spool."),
    "export": ("yanex.cli.export", "Write experiments to one file, for another store."),
    "import": ("yanex.cli.import_", "Add what an export file or another store has and this lacks."),
    "db": ("yanex.cli.db", "The database: location, upgrades, checks, repair, vacuum."),
    "sweep": ("yanex.cli.sweep", "Resume a sweep: run the points not completed yet."),
    "artifacts": ("yanex.cli.artifacts", "List an experiment's artifacts, or copy one out."),
}
# The commands the fast path runs: their modules import neither Typer nor, until they run, the store.
FAST = ("list", "show", "compare", "get", "metrics", "plot", "watch")
HELP = "Track experiments in SQLite: run scripts and sweeps, then query them."
ROOT_OPTIONS = {"--version": "Print the version and exit.", "-h, --help": "Show this message and exit."}


def declared(module: str) -> Command:
    """The command ``module`` declares."""
    command: Command = importlib.import_module(module).COMMAND
    return command


def _build() -> typer.Typer:
    import typer
    from typer.core import TyperGroup

    from yanex import __version__
    from yanex.cli.typer_commands import add_command, group_app

    class YanexGroup(TyperGroup):
        """Translates the error tree once, at the edge, for the real CLI and the test runner alike."""

        def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]
            try:
                with notes_as_lines():
                    done = super().invoke(ctx)
                sys.stdout.flush()  # output that cannot be written is an error of the command's
                return done
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
            False, "--version", callback=_version, is_eager=True, help=ROOT_OPTIONS["--version"]
        ),
    ) -> None:
        pass

    for name, (module, summary) in COMMANDS.items():
        declaration = importlib.import_module(module)
        if hasattr(declaration, "GROUP"):
            group: Group = declaration.GROUP
            built.add_typer(group_app(name, group, declared), short_help=summary)
        else:
            add_command(built, name, declared(module), short_help=summary)
    return built


def root_help() -> str:
    """`yanex --help` as Typer prints it, from COMMANDS (a test holds the two equal)."""

    def rows(items: dict[str, str]) -> list[str]:
        width = max(map(len, items))
        return [f"  {name.ljust(width)}  {text}" for name, text in items.items()]

    head = ["Usage: yanex [OPTIONS] COMMAND [ARGS]...", "", f"  {HELP}", "", "Options:"]
    summaries = {name: summary for name, (_, summary) in COMMANDS.items()}
    return "\n".join([*head, *rows(ROOT_OPTIONS), "", "Commands:", *rows(summaries)])


_APP: list[typer.Typer] = []


def __getattr__(name: str) -> Any:
    if name == "app":
        if not _APP:
            _APP.append(_build())
        return _APP[0]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _fast(argv: list[str]) -> None:
    """Run a query command without Typer when its command line parses plainly (``yanex.cli.spec``);
    print the root help and the version without it too."""
    if argv in (["--help"], ["-h"]):
        print(root_help())
        sys.exit(0)
    if argv == ["--version"]:
        from yanex import __version__

        print(f"yanex {__version__}")
        sys.exit(0)
    if not argv or argv[0] not in FAST:
        return None
    from yanex.cli.spec import parse

    command = declared(COMMANDS[argv[0]][0])
    values = parse(command, argv[1:])
    if values is None:
        return None
    try:
        with notes_as_lines():
            command.invoke(values)
        sys.stdout.flush()
    except BrokenPipeError:  # `yanex list | head`: the reader has all it wants
        _drop_output()
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
    from yanex import interrupts

    interrupts.install()
    # Started with stdout or stderr closed (`yanex run train.py >&-`), Python has None there: the
    # user wants no output, not a crash halfway through a run.
    _keep_standard_descriptors_open()
    for name in ("stdout", "stderr"):
        if getattr(sys, name) is None:
            setattr(sys, name, open(os.devnull, "w"))  # noqa: SIM115 (lives as long as the process)
    try:
        _fast(sys.argv[1:])
        __getattr__("app")()
    except Exception as error:
        # A failure on the way out of a Ctrl-C (a library's clean-up), or after one Python dropped
        # (the batch's worker processes, in the same process group, died of it while starting).
        if not (interrupts.caused(error) or interrupts.take()):
            raise
        print("\nAborted!", file=sys.stderr)
        sys.exit(130)
    except KeyboardInterrupt:  # Ctrl-C before a command took it (while yanex starts): no traceback
        print("\nAborted!", file=sys.stderr)
        sys.exit(130)
    finally:
        try:
            sys.stdout.flush()
        except (OSError, ValueError):
            # It could not be written (a full disk, a closed pipe), which the command has said, or
            # which does not matter (`yanex run` keeps the script's output in its folder): drop it
            # rather than end on Python's own failed flush at exit (code 120, "Exception ignored").
            _drop_output()


def _drop_output() -> None:
    """Point descriptor 1 at /dev/null: what is still buffered for stdout goes nowhere, quietly."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
