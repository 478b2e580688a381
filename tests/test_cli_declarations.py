"""Every command declares its options one way (``yanex.cli.spec``), through Typer's public API only."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import REPO_ROOT, cli_commands
from tests.test_layers import GRAPH
from yanex.cli.app import COMMANDS, app
from yanex.cli.spec import Command, Group

PACKAGE = REPO_ROOT / "yanex"


def test_sweep_resume_and_run_share_the_sweep_runner_instead_of_importing_each_other() -> None:
    """(``tests/test_layers.py`` holds that no module imports itself back, the CLI's included.)"""
    assert "yanex.cli.run" not in GRAPH["yanex.cli.sweep.resume"]
    assert {"yanex.cli.run_sweep"} <= GRAPH["yanex.cli.run"] & GRAPH["yanex.cli.sweep.resume"]


def test_no_module_imports_typer_privately() -> None:
    """Typer vendors its click as ``typer._click``, private and free to change in any release; the
    click package is another copy, whose classes Typer does not use."""
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            private = [name for name in names if name.startswith(("typer._", "click"))]
            assert not private, f"{path}: {private}"


def _declaration(module: str) -> object:
    loaded = importlib.import_module(module)
    return getattr(loaded, "COMMAND", None) or getattr(loaded, "GROUP", None)


def test_every_command_is_declared_in_one_module() -> None:
    assert set(COMMANDS) == set(cli_commands())
    for name, subcommands in cli_commands().items():
        declaration = _declaration(COMMANDS[name][0])
        if subcommands:
            assert isinstance(declaration, Group), name
            assert sorted(declaration.commands) == subcommands, name
            for module in declaration.commands.values():
                assert isinstance(_declaration(module), Command), module
        else:
            assert isinstance(declaration, Command), name


S = "train.py"  # parsing fails before yanex looks for it


@pytest.mark.parametrize(
    ("args", "refused", "split"),
    [
        (["-p", "epochs=1", "--verbose"], "--verbose", 2),
        (["-pepochs=1", "--verbose"], "--verbose", 1),  # -p takes the rest of its word
        (["-j2", "-q"], "-q", 1),
        (["--tag=a", "--verbose=3"], "--verbose", 1),
        (["--nam", "x"], "--nam (Possible options: --name, --param, --tag)", 0),
        (["a", "-q", "b"], "-q", 1),
        (["-vx"], "-v", None),  # a cluster: no argument to split at
        (["--bogus", "--", "x"], "--bogus", None),  # already separated: meant for yanex
        (["--name", "--verbose", "--bogus"], "--bogus", 2),  # --verbose is the name
    ],
)
def test_yanex_run_says_where_the_script_options_go(
    args: list[str], refused: str, split: int | None, yanex_home: Path
) -> None:
    result = CliRunner().invoke(app, ["run", S, *args])
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert f"Error: No such option: {refused}" in lines
    hints = [line for line in lines if line.startswith("Hint:")]
    if split is None:
        assert hints == []
    else:
        moved = " ".join(["yanex run", S, *args[:split], "--", *args[split:]])
        assert hints == [f"Hint: options for the script go after --: {moved}"]


@pytest.mark.parametrize("args", [["--name"], ["--dry-run=1", "--bogus"]])
def test_yanex_run_gives_no_hint_where_another_usage_error_comes_first(
    args: list[str], yanex_home: Path
) -> None:
    result = CliRunner().invoke(app, ["run", S, *args])
    assert result.exit_code == 2
    assert "Hint:" not in result.stderr


# A Python type or Typer's spelling of one where --help should say what to type: <str>, <list[str]>,
# <int range>, <table|json>, and {FIELD} for a required argument in the usage line.
TYPE_REPR = re.compile(r"<[a-z][a-z0-9_ |\[\]]*>|list\[|str\]|int\]|\{[A-Z_]+\}")


@pytest.mark.parametrize(
    "argv",
    [[name, *([sub] if sub else [])] for name, subs in cli_commands().items() for sub in subs or [""]],
    ids=lambda argv: " ".join(argv),
)
def test_every_help_shows_types_as_a_user_reads_them(argv: list[str]) -> None:
    """TEXT, INTEGER, PATH, the choices, FIELD and [ID]; repeatable options say so (TEXT...)."""
    result = CliRunner().invoke(app, [*argv, "--help"], env={"COLUMNS": "100"})
    assert result.exit_code == 0, result.output
    assert [line for line in result.output.splitlines() if TYPE_REPR.search(line)] == []
    for line in result.output.splitlines():
        if line.lstrip().startswith(("-t, --tag ", "-s, --status ")):
            assert "TEXT..." in line or "repeatable" in line.lower(), line
