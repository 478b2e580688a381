"""Time limits: ``yanex run --timeout``, ``ExperimentSpec(timeout=...)``, ``run_multiple(timeout=...)``
and ``yanex rerun --timeout``, each through real processes. Past its limit a script gets SIGTERM,
then SIGKILL after ``YANEX_KILL_GRACE``, and is recorded failed with ``timed out after <limit>``."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pydantic
import pytest

import yanex
from tests.conftest import yanex_cli
from tests.test_batch_faults import finish, rows, script, start
from tests.test_escapes import only_experiment
from yanex import config
from yanex.db.engine import Database
from yanex.specs import Status

# Exits 0 on SIGTERM: a time limit still records it failed.
POLITE = """
import signal, sys, time
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
print("started", flush=True)
time.sleep(120)
"""

# Ignores SIGTERM: only the SIGKILL after the grace stops it.
STUBBORN = """
import signal, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
time.sleep(120)
"""

# Sleeps while a file named by the `slow` parameter exists, else completes at once.
MAYBE_SLOW = """
import pathlib, time, yanex
if pathlib.Path(yanex.get_param("slow")).exists():
    time.sleep(120)
"""


def test_yanex_run_timeout_records_failed_and_exits_124(db: Database, write_script) -> None:
    started = time.monotonic()
    result = yanex_cli("run", str(write_script("polite.py", POLITE)), "--timeout", "2s")
    elapsed = time.monotonic() - started
    assert result.returncode == 124, result.stderr
    assert "started" in result.stdout
    view = only_experiment(db)
    assert (view.status, view.exit_code, view.error_message) == (Status.FAILED, 0, "timed out after 2s")
    assert f"yanex: experiment {view.id[:8]} failed: timed out after 2s" in result.stderr
    assert view.duration is not None and 1.8 <= view.duration < 30  # the limit counts from just before start
    assert elapsed < 60


def test_a_script_ignoring_sigterm_is_killed_after_the_grace(
    db: Database, write_script, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("YANEX_KILL_GRACE", "1")
    result = yanex_cli("run", str(write_script("stubborn.py", STUBBORN)), "--timeout", "1")
    assert result.returncode == 124, result.stderr
    view = only_experiment(db)
    assert (view.status, view.exit_code, view.error_message) == (Status.FAILED, 137, "timed out after 1s")
    assert view.duration is not None and 1.8 <= view.duration < 30  # the limit counts from just before start


@pytest.mark.parametrize("value", ["2x", "0", "-1", "1h30", "soon"])
def test_a_bad_timeout_is_one_clear_error(write_script, value: str) -> None:
    result = yanex_cli("run", str(write_script("polite.py", POLITE)), f"--timeout={value}")
    assert result.returncode != 0
    lines = result.stderr.splitlines()
    assert lines[0].startswith("Error: timeout must be"), result.stderr
    assert lines[1] == "Hint: write --timeout as seconds or a duration, e.g. --timeout 90, 5m, 2h or 1h30m"
    assert "Traceback" not in result.stderr
    root = config.experiments_root()  # refused before any experiment was created
    assert not root.exists() or not any(root.iterdir())


def test_a_bad_kill_grace_is_one_clear_error(write_script, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YANEX_KILL_GRACE", "forever")
    result = yanex_cli("run", str(write_script("polite.py", POLITE)))
    assert result.returncode != 0
    expected = "Error: YANEX_KILL_GRACE must be a number of seconds up to 86400, got 'forever'\nHint: "
    assert result.stderr.startswith(expected)


def test_spec_timeout_is_validated() -> None:
    assert yanex.ExperimentSpec("a.py", timeout="1h30m").timeout == "1h30m"
    assert yanex.ExperimentSpec("a.py", timeout=90).timeout == 90
    for bad in ("2x", 0, -5, True, float("inf"), "1h30"):
        with pytest.raises(pydantic.ValidationError, match="timeout must be"):
            yanex.ExperimentSpec("a.py", timeout=bad)


@pytest.mark.parametrize("parallel", [None, 2])
def test_run_multiple_applies_spec_timeouts_and_its_default(
    tmp_path: Path, yanex_home: Path, parallel
) -> None:
    polite = script(tmp_path, "polite.py", POLITE)
    fast = script(tmp_path, "fast.py", "print('done')\n")
    specs = [
        {"script_path": polite, "name": "own", "timeout": "1s"},
        {"script_path": polite, "name": "default"},
        {"script_path": fast, "name": "fast"},
    ]
    process = start(tmp_path, specs, {"parallel": parallel, "timeout": 2})
    returncode, out, err = finish(process, tmp_path)
    assert returncode == 0, err
    results = {r["name"]: r for r in json.loads(out)}
    assert (results["own"]["status"], results["own"]["error_message"]) == ("failed", "timed out after 1s")
    assert (results["default"]["status"], results["default"]["error_message"]) == (
        "failed",
        "timed out after 2s",
    )
    assert results["fast"]["status"] == "completed"
    assert {r["name"]: r["status"] for r in rows(yanex_home)} == {
        "own": "failed",
        "default": "failed",
        "fast": "completed",
    }


def test_run_multiple_refuses_a_bad_timeout_before_anything_runs(tmp_path: Path, yanex_home: Path) -> None:
    fast = script(tmp_path, "fast.py", "print('done')\n")
    with pytest.raises(ValueError, match="timeout must be"):
        yanex.run_multiple([yanex.ExperimentSpec(fast)], timeout="later")
    assert rows(yanex_home) == []


def test_rerun_timeout(write_script, tmp_path: Path, yanex_home: Path) -> None:
    slow = tmp_path / "slow"
    maybe_slow = write_script("maybe_slow.py", MAYBE_SLOW)
    [first] = yanex.run_multiple([yanex.ExperimentSpec(maybe_slow, config={"slow": str(slow)})])
    assert first.status == "completed"
    slow.touch()
    result = yanex_cli("rerun", first.experiment_id, "--timeout", "1s")
    assert result.returncode == 1, result.stderr
    assert f"failed     -  (re-run of {first.experiment_id}): timed out after 1s" in result.stdout
    with sqlite3.connect(yanex_home / "yanex.db") as conn:
        [(status, message)] = conn.execute(
            "SELECT status, error_message FROM experiments WHERE retry_of = ?", (first.experiment_id,)
        ).fetchall()
    assert (status, message) == ("failed", "timed out after 1s")
    bad = yanex_cli("rerun", first.experiment_id, "--timeout", "1h30")
    assert bad.returncode != 0 and bad.stderr.startswith("Error: timeout must be")


def test_run_multiple_refuses_a_bad_kill_grace_before_anything_runs(
    tmp_path: Path, yanex_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("YANEX_KILL_GRACE", "-3")
    fast = script(tmp_path, "fast.py", "print('done')\n")
    with pytest.raises(
        yanex.YanexError,
        match="YANEX_KILL_GRACE must be a number of seconds up to 86400, got '-3'",
    ):
        yanex.run_multiple([yanex.ExperimentSpec(fast)], parallel=1)
    assert rows(yanex_home) == []
