"""Start-up is a budget: what a fresh interpreter loads for an experiment script and for the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from yanex import config

HEAVY = ("sqlalchemy", "pydantic", "typer", "rich", "git", "alembic", "yaml")
CLI_HEAVY = ("sqlalchemy", "alembic", "git")


def imported_modules(*args: str, env: dict[str, str] | None = None) -> set[str]:
    """Top-level names of every module a fresh ``python -X importtime ARGS`` imported."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )
    assert result.returncode == 0, result.stderr
    names = set()
    for line in result.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    assert "yanex" in names
    return names


SCRIPT = "import yanex; yanex.get_param('x', 1); yanex.get_params(); yanex.log_metrics({'a': 1.0, 'b': 2})"


def test_import_yanex_standalone_loads_nothing_heavy() -> None:
    loaded = imported_modules("-c", SCRIPT)
    assert loaded.isdisjoint(HEAVY), sorted(loaded & set(HEAVY))


def test_import_yanex_in_a_tracked_script_loads_nothing_heavy(tmp_path: Path) -> None:
    (tmp_path / config.CONFIG_FILE).write_text('{"x": 2}')
    env = {config.EXPERIMENT_ID_ENV: "0123abcd", config.EXPERIMENT_DIR_ENV: str(tmp_path)}
    loaded = imported_modules("-c", SCRIPT, env=env)
    assert loaded.isdisjoint(HEAVY), sorted(loaded & set(HEAVY))
    assert (tmp_path / config.METRICS_FILE).read_text().count("\n") == 1


@pytest.mark.parametrize("argv", [["--help"], ["run", "--help"]], ids=" ".join)
def test_cli_help_loads_no_store_and_no_git(argv: list[str]) -> None:
    loaded = imported_modules("-m", "yanex", *argv)
    assert loaded.isdisjoint(CLI_HEAVY), sorted(loaded & set(CLI_HEAVY))
