"""``yanex sql`` limits, as the real command: a time limit, Ctrl-C that stops a query at once, and
rows streamed rather than buffered (a million rows in bounded memory)."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import cpu_seconds, has_open, wait_until, yanex_cli
from yanex.db.engine import Database

ENDLESS = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n"


@pytest.fixture
def db(db: Database) -> Database:
    """`yanex sql` reads an existing database and never creates one: make it first."""
    with db.write():
        pass
    return db


def numbers(count: int) -> str:
    return (
        f"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {count}) "
        "SELECT i, 'row number ' || i AS label, i * 0.5 AS half FROM n"
    )


def test_a_query_past_its_time_limit_is_stopped_with_one_clear_error(db: Database) -> None:
    started = time.monotonic()
    result = yanex_cli("sql", ENDLESS, "--timeout", "1s")
    assert time.monotonic() - started < 60
    assert result.returncode != 0
    assert result.stderr.splitlines() == [
        "Error: the query ran past its time limit of 1s and was stopped",
        "Hint: narrow it (WHERE, LIMIT) or allow more time, e.g. --timeout 10m",
    ]


def test_a_bad_time_limit_is_one_clear_error(db: Database) -> None:
    result = yanex_cli("sql", "SELECT 1", "--timeout", "soon")
    assert result.returncode != 0
    assert result.stderr.startswith("Error: timeout must be") and "Traceback" not in result.stderr


def test_ctrl_c_stops_a_running_query_at_once(db: Database) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "yanex", "sql", ENDLESS],
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # no terminal: SIGINT reaches only the command
    )
    try:
        # Ready once the query runs: the command holds the database open and has spent CPU time
        # since it opened it, which only the endless query spends (start-up, however slow, is over).
        wait_until(lambda: proc.poll() is not None or has_open(proc.pid, db.path), "the database to be open")
        opened = cpu_seconds(proc.pid)
        wait_until(
            lambda: proc.poll() is not None or cpu_seconds(proc.pid) >= opened + 0.3, "the query to run"
        )
        assert proc.poll() is None
        interrupted = time.monotonic()
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
        stopped_in = time.monotonic() - interrupted
    finally:
        proc.kill()
    assert proc.returncode == 130
    assert stdout == ""
    assert stderr == "Interrupted: the query was stopped.\n"
    # At once, not at the query's time limit (60 s by default): it stops within a few thousand
    # SQLite steps; half the limit leaves a loaded machine all the room it needs to exit.
    assert stopped_in < 30


@pytest.mark.parametrize("fmt", ["table", "csv", "json", "markdown"])
def test_rows_beyond_one_chunk_are_all_written(db: Database, fmt: str) -> None:
    result = yanex_cli("sql", numbers(2500), "-f", fmt)
    assert result.returncode == 0, result.stderr
    if fmt == "json":
        records = json.loads(result.stdout)
        assert records[0] == {"i": 1, "label": "row number 1", "half": 0.5}
        assert len(records) == 2500 and records[-1]["i"] == 2500
    elif fmt == "csv":
        rows = list(csv.reader(io.StringIO(result.stdout)))
        assert rows[0] == ["i", "label", "half"] and rows[1] == ["1", "row number 1", "0.5"]
        assert len(rows) == 2501 and rows[-1] == ["2500", "row number 2500", "1250.0"]
    elif fmt == "markdown":
        lines = result.stdout.splitlines()
        assert lines[:3] == ["| i | label | half |", "|---|---|---|", "| 1 | row number 1 | 0.5 |"]
        assert len(lines) == 2502
    else:
        lines = result.stdout.splitlines()
        assert result.stderr.splitlines() == ["i     label            half"]  # widths of the first 1000 rows
        assert lines[0] == "1     row number 1     0.5"
        assert lines[-1] == "2500  row number 2500  1250.0"  # a float reads as one, as in CSV
        assert len(lines) == 2500


PEAK = """
import resource, subprocess, sys
with open(sys.argv[1], "w") as out:
    code = subprocess.run([sys.executable, "-m", "yanex", "sql", *sys.argv[2:]], stdout=out).returncode
print(code, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024)
"""


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["table", "csv", "json"])
def test_a_million_rows_stream_in_bounded_memory(db: Database, tmp_path: Path, fmt: str) -> None:
    output = tmp_path / "rows.out"
    measured = subprocess.run(
        [sys.executable, "-c", PEAK, str(output), numbers(1_000_000), "-f", fmt],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=300,
    )
    code, peak_mb = map(int, measured.stdout.split())
    assert code == 0, measured.stderr
    assert peak_mb < 200, f"yanex sql peaked at {peak_mb} MB"
    with output.open() as handle:
        lines = sum(1 for _ in handle)
    assert lines == {"table": 1_000_000, "csv": 1_000_001, "json": 5 * 1_000_000 + 2}[fmt]
