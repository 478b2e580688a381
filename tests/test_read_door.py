"""Reads go through one door (``yanex.store.reading``): the query commands open one read
connection, plus the writer only when a dead owner's rows are settled, and nothing else writes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.query_fixtures import populate
from tests.stored import get_experiment
from yanex.db.engine import Database
from yanex.runner.environment import this_process
from yanex.specs import EnvironmentInfo, ExperimentSpec, GitInfo, Status
from yanex.store.experiments import Owner, create_experiments

# Runs the real CLI (its fast path, as a terminal user's plain command line does) and reports on
# stderr every sqlite3 connection the process opened, from Python's audit event.
COUNTED = """
import atexit, sys
opened = []
sys.addaudithook(lambda event, args: opened.append(args[0]) if event == "sqlite3.connect" else None)
atexit.register(lambda: sys.stderr.write(f"\\nconnections opened: {len(opened)}\\n"))
from yanex.cli.app import main
sys.argv = ["yanex", *sys.argv[1:]]
main()
"""


def connections(*args: str) -> tuple[int, subprocess.CompletedProcess[str]]:
    result = subprocess.run(
        [sys.executable, "-c", COUNTED, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ),
    )
    assert result.returncode == 0, result.stderr
    count = int(result.stderr.rsplit("connections opened: ", 1)[1])
    return count, result


@pytest.fixture
def ids(db: Database, tmp_path: Path) -> dict[str, str]:
    found = populate(db, tmp_path)
    db.dispose()
    return found


@pytest.mark.parametrize(
    "command",
    [
        ["list"],
        ["list", "--tag", "grid-search", "--sort", "metrics.accuracy"],
        ["show", "baseline"],
        ["compare", "--tag", "grid-search"],
    ],
    ids=" ".join,
)
def test_a_query_command_opens_one_connection(ids: dict[str, str], command: list[str]) -> None:
    count, result = connections(*command)
    assert result.stdout.strip()
    assert count == 1, result.stderr


def dead_owner() -> Owner:
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True)
    return Owner(this_process().host, int(finished.stdout))


@pytest.mark.parametrize("command", [["list"], ["show", "orphan"], ["compare"]], ids=" ".join)
def test_settling_a_dead_owners_row_adds_only_the_writer(db: Database, command: list[str]) -> None:
    [orphan] = create_experiments(
        db,
        [ExperimentSpec(script_path=Path("train.py"), name="orphan")],
        status=Status.QUEUED,
        owner=dead_owner(),
        git=GitInfo(),
        environment=EnvironmentInfo(),
    )
    count, result = connections(*command)
    assert count <= 2, result.stderr
    assert get_experiment(db, orphan).status is Status.CANCELLED  # it never ran
    assert "cancelled" in result.stdout
