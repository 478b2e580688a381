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


READ_HEAVY = ("sqlalchemy", "pydantic", "rich", "alembic", "git", "yaml")


@pytest.fixture
def one_experiment(yanex_home: Path) -> str:
    """A database with one finished experiment (no active row, so readers have nothing to reconcile)."""
    from datetime import UTC, datetime

    from yanex.db.engine import Database
    from yanex.specs import EnvironmentInfo, ExperimentSpec, GitInfo, Status
    from yanex.store.experiments import MetricRecord, Owner, create_experiments, ingest_metrics

    db = Database()
    spec = ExperimentSpec(script_path=Path("train.py"), name="one", tags=["t"], config={"lr": 0.1})
    (experiment_id,) = create_experiments(
        db,
        [spec],
        status=Status.CREATED,
        owner=Owner("host", 1),
        git=GitInfo(),
        environment=EnvironmentInfo(),
    )
    ingest_metrics(db, experiment_id, [MetricRecord(0, datetime.now(UTC), {"accuracy": 0.5})])
    db.dispose()
    return experiment_id


@pytest.mark.parametrize(
    "argv",
    [
        ["list", "--status", "created", "--limit", "50"],
        ["list", "--where", "lr > 0.01", "--sort", "metrics.accuracy"],
        ["get", "metrics.accuracy", "ID"],
        ["show", "ID"],
        ["show", "ID", "--format", "json"],
        ["compare", "--tag", "t"],
        ["list", "--format", "csv"],
    ],
    ids=" ".join,
)
def test_piped_read_commands_load_no_sqlalchemy_pydantic_or_rich(
    argv: list[str], one_experiment: str
) -> None:
    loaded = imported_modules("-m", "yanex", *[one_experiment if a == "ID" else a for a in argv])
    assert loaded.isdisjoint(READ_HEAVY), sorted(loaded & set(READ_HEAVY))


@pytest.mark.parametrize("argv", [["--help"], ["-h"], ["--version"]], ids=" ".join)
def test_root_help_and_version_load_no_typer(argv: list[str]) -> None:
    loaded = imported_modules("-m", "yanex", *argv)
    assert loaded.isdisjoint(HEAVY), sorted(loaded & set(HEAVY))


def test_root_help_is_what_typer_prints_for_every_command() -> None:
    from typer.testing import CliRunner

    from tests.conftest import cli_commands
    from yanex import __version__
    from yanex.cli.app import COMMANDS, app

    def real(*argv: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "yanex", *argv], capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert set(COMMANDS) == set(cli_commands())  # a command added later gets a line too
    assert real("--help") == real("-h") == CliRunner().invoke(app, ["--help"]).stdout
    assert real("--version") == f"yanex {__version__}\n"


WRITE_HEAVY = ("sqlalchemy", "alembic")
GRID = """
from pathlib import Path
import yanex

if __name__ == "__main__":
    script = Path(__file__).with_name("train.py")
    specs = [yanex.ExperimentSpec(script_path=script, config={"lr": lr}) for lr in range(3)]
    results = yanex.run_multiple(specs, parallel=PARALLEL)
    assert [r.status for r in results] == ["completed"] * 3, results
"""


@pytest.mark.parametrize("parallel", ["None", "2"])
def test_a_batch_on_a_current_database_loads_no_sqlalchemy(
    parallel: str, one_experiment: str, tmp_path: Path
) -> None:
    """The batch's orchestrator (and its forked workers) write with the sqlite3 driver alone:
    SQLAlchemy and alembic load only to create or upgrade a database."""
    (tmp_path / "train.py").write_text("import yanex\nyanex.log_metrics({'loss': 1.0})\n")
    (tmp_path / "grid.py").write_text(GRID.replace("PARALLEL", parallel))
    loaded = imported_modules(str(tmp_path / "grid.py"))
    assert loaded.isdisjoint(WRITE_HEAVY), sorted(loaded & set(WRITE_HEAVY))


def test_yanex_run_on_a_current_database_loads_no_sqlalchemy(one_experiment: str, tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text("import yanex\nyanex.log_metrics({'loss': 1.0})\n")
    loaded = imported_modules("-m", "yanex", "run", str(tmp_path / "train.py"))
    assert loaded.isdisjoint(WRITE_HEAVY), sorted(loaded & set(WRITE_HEAVY))
