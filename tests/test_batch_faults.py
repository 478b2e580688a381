"""Batches under faults, each orchestrator a real process: Ctrl-C, SIGKILL of the orchestrator, of a
pool worker and of a script, spawn with and without a ``__main__`` guard, and 16 writers at once."""

from __future__ import annotations

import json
import os
import pty
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pytest

from tests.conftest import wait_until
from tests.stored import script_lines
from yanex.db.engine import Database
from yanex.owners import process_alive
from yanex.store.ids import POINTS_OF
from yanex.store.reconcile import DIED, NEVER_STARTED, reconcile_orphans

from .conftest import yanex_cli

ORCHESTRATOR = """
import json, multiprocessing, sys
import yanex

def main():
    specs = [yanex.ExperimentSpec(**spec) for spec in json.loads(sys.argv[1])]
    results = yanex.run_multiple(specs, **json.loads(sys.argv[2]))
    print(json.dumps([result.model_dump() for result in results]), flush=True)
"""

GUARDED = (
    ORCHESTRATOR
    + """
if __name__ == "__main__":
    if len(sys.argv) > 3:
        multiprocessing.set_start_method(sys.argv[3], force=True)
    main()
"""
)

# Run a script that sleeps until a file appears: the test decides when it ends.
WAIT_FOR_GO = """
import pathlib, time
go = pathlib.Path({go!r})
while not go.exists():
    time.sleep(0.05)
"""

SLEEPER = "import time\ntime.sleep(120)\n"

# Ignores Ctrl-C and has a child of its own: both must die with the batch.
STUBBORN = """
import pathlib, signal, subprocess, time
signal.signal(signal.SIGINT, signal.SIG_IGN)
child = subprocess.Popen(["sleep", "120"])
pathlib.Path({pidfile!r}).write_text(str(child.pid))
time.sleep(120)
"""


def start(
    tmp_path: Path,
    specs: Sequence[Mapping[str, object]],
    options: Mapping[str, object],
    *extra: str,
    body: str = GUARDED,
) -> subprocess.Popen[bytes]:
    """Start an orchestrator in its own session, as a terminal would run it; output to files."""
    script = tmp_path / "orchestrate.py"
    script.write_text(body)
    out, err = (tmp_path / "orchestrator.out").open("w"), (tmp_path / "orchestrator.err").open("w")
    process = subprocess.Popen(
        [sys.executable, str(script), json.dumps(specs), json.dumps(options), *extra],
        cwd=tmp_path,
        stdout=out,
        stderr=err,
        start_new_session=True,
    )
    return process


def finish(process: subprocess.Popen[bytes], tmp_path: Path, timeout: float = 120) -> tuple[int, str, str]:
    returncode = process.wait(timeout)
    return (
        returncode,
        (tmp_path / "orchestrator.out").read_text(),
        (tmp_path / "orchestrator.err").read_text(),
    )


def rows(home: Path) -> list[sqlite3.Row]:
    if not (home / "yanex.db").exists():
        return []
    with sqlite3.connect(home / "yanex.db", timeout=60) as conn:
        conn.row_factory = sqlite3.Row
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'experiments'").fetchone():
            return []  # the schema is being created
        return conn.execute("SELECT * FROM experiments ORDER BY created_at").fetchall()


def running(home: Path, count: int) -> Callable[[], bool]:
    return lambda: sum(r["status"] == "running" and r["pid"] is not None for r in rows(home)) >= count


def script(tmp_path: Path, name: str, body: str) -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return str(path)


@pytest.mark.parametrize("parallel", [None, 2])
def test_ctrl_c_cancels_everything_and_leaves_no_process(tmp_path, yanex_home, parallel):
    pidfile = tmp_path / "grandchild.pid"
    stubborn = script(tmp_path, "stubborn.py", STUBBORN.format(pidfile=str(pidfile)))
    sleeper = script(tmp_path, "sleeper.py", SLEEPER)
    specs = [{"script_path": stubborn, "name": "stubborn"}] + [
        {"script_path": sleeper, "name": f"sleeper{i}"} for i in range(3)
    ]
    process = start(tmp_path, specs, {"parallel": parallel})
    wait_until(running(yanex_home, 1 if parallel is None else 2), what="experiments to run")
    wait_until(pidfile.exists, what="the stubborn script's child")
    workers = {r["owner_pid"] for r in rows(yanex_home) if r["status"] == "running"}
    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
    returncode, _, err = finish(process, tmp_path)
    assert returncode != 0 and "KeyboardInterrupt" in err.splitlines()[-1]
    recorded = rows(yanex_home)
    assert {r["status"] for r in recorded} == {"cancelled"}
    assert {r["error_message"] for r in recorded} == {"interrupted by the user"}
    assert "0 completed, 4 failed or cancelled" in err  # the summary counts what Ctrl-C ended
    started = [r for r in recorded if r["pid"] is not None]
    assert started and all(r["ended_at"] is not None for r in recorded)
    survivors = [
        pid for pid in [r["pid"] for r in started] + [int(pidfile.read_text())] if process_alive(pid)
    ]
    assert survivors == []
    if parallel is not None:
        wait_until(lambda: not any(process_alive(pid) for pid in workers), what="workers to exit")


def test_killed_orchestrator_is_reconciled_and_takes_its_processes_along(tmp_path, yanex_home):
    sleeper = script(tmp_path, "sleeper.py", SLEEPER)
    specs = [{"script_path": sleeper, "name": f"s{i}"} for i in range(4)]
    process = start(tmp_path, specs, {"parallel": 2})
    wait_until(running(yanex_home, 2), what="experiments to run")
    before = rows(yanex_home)
    scripts = [r["pid"] for r in before if r["pid"] is not None]
    workers = [r["owner_pid"] for r in before if r["status"] == "running"]
    process.kill()
    process.wait(60)
    wait_until(
        lambda: not any(process_alive(pid) for pid in scripts + workers),
        what="workers and scripts to die with the orchestrator",
    )
    assert {r["status"] for r in rows(yanex_home)} == {"queued", "running"}  # nobody recorded it yet
    reconciled = reconcile_orphans(Database())
    assert sorted(reconciled) == sorted(r["id"] for r in before)
    after = {r["id"]: r for r in rows(yanex_home)}
    for row in before:  # what ran failed with its orchestrator; what never ran was cancelled
        status, message = after[row["id"]]["status"], after[row["id"]]["error_message"]
        if row["status"] == "running":
            assert (status, message) == ("failed", DIED)
        else:
            assert (status, message) == ("cancelled", NEVER_STARTED)
    with sqlite3.connect(yanex_home / "yanex.db") as conn:  # the dead orchestrator's batch has ended
        assert conn.execute("SELECT count(*) FROM batches WHERE ended_at IS NULL").fetchone() == (0,)


def test_sigterm_to_the_orchestrator_cancels_the_batch_and_leaves_no_process(tmp_path, yanex_home):
    sleeper = script(tmp_path, "sleeper.py", SLEEPER)
    specs = [{"script_path": sleeper, "name": f"s{i}"} for i in range(3)]
    process = start(tmp_path, specs, {"parallel": 2})
    wait_until(running(yanex_home, 2), what="experiments to run")
    before = rows(yanex_home)
    scripts = [r["pid"] for r in before if r["pid"] is not None]
    workers = [r["owner_pid"] for r in before if r["status"] == "running"]
    process.terminate()  # the orchestrator alone, as a job scheduler or `kill` would
    returncode, _, err = finish(process, tmp_path)
    assert returncode != 0
    recorded = rows(yanex_home)
    assert {r["status"] for r in recorded} == {"cancelled"}, err
    assert all(r["ended_at"] is not None for r in recorded)
    wait_until(lambda: not any(process_alive(pid) for pid in scripts + workers), what="every process to end")
    with sqlite3.connect(yanex_home / "yanex.db") as conn:
        assert conn.execute("SELECT count(*) FROM batches WHERE ended_at IS NULL").fetchone() == (0,)


def test_killed_worker_fails_its_experiment_and_the_batch_carries_on(tmp_path, yanex_home):
    go = tmp_path / "go"
    waiter = script(tmp_path, "waiter.py", WAIT_FOR_GO.format(go=str(go)))
    specs = [{"script_path": waiter, "name": f"w{i}"} for i in range(4)]
    process = start(tmp_path, specs, {"parallel": 2})
    wait_until(running(yanex_home, 2), what="experiments to run")
    victim = next(r for r in rows(yanex_home) if r["status"] == "running")
    os.kill(victim["owner_pid"], signal.SIGKILL)
    wait_until(lambda: not process_alive(victim["pid"]), what="the lost script to be stopped")
    go.touch()
    returncode, out, err = finish(process, tmp_path)
    assert returncode == 0, err
    results = {r["experiment_id"]: r for r in json.loads(out)}
    assert len(results) == 4
    lost = results.pop(victim["id"])
    assert lost["status"] == "failed"
    assert lost["error_message"] == (
        "the yanex worker process running it died (killed by signal 9 (SIGKILL)); its script was stopped"
    )
    assert {r["status"] for r in results.values()} == {"completed"}
    assert {r["status"] for r in rows(yanex_home)} == {"completed", "failed"}


def test_retry_after_the_only_worker_died_runs_on_a_replacement(tmp_path, yanex_home):
    """The lost experiment's retry is submitted after its worker died: a new worker must take it."""
    go = tmp_path / "go"
    waiter = script(tmp_path, "waiter.py", WAIT_FOR_GO.format(go=str(go)))
    process = start(tmp_path, [{"script_path": waiter, "name": "w"}], {"parallel": 1, "retries": 1})
    wait_until(running(yanex_home, 1), what="the experiment to run")
    [victim] = rows(yanex_home)
    os.kill(victim["owner_pid"], signal.SIGKILL)
    wait_until(lambda: len(rows(yanex_home)) == 2, what="the retry to be queued")
    go.touch()
    returncode, out, err = finish(process, tmp_path)
    assert returncode == 0, err
    [result] = json.loads(out)
    assert result["status"] == "completed", (result, [dict(r) for r in rows(yanex_home)], err)
    first, retry = rows(yanex_home)
    assert (first["status"], retry["status"], retry["retry_of"]) == ("failed", "completed", first["id"])


def test_spawn_start_method_runs_a_guarded_script(tmp_path, yanex_home):
    ok = script(tmp_path, "ok.py", "import yanex\nprint(yanex.get_param('x'))\n")
    specs = [{"script_path": ok, "config": {"x": i}, "name": f"n{i}"} for i in range(3)]
    returncode, out, err = finish(start(tmp_path, specs, {"parallel": 2}, "spawn"), tmp_path)
    assert returncode == 0, err
    results = json.loads(out)
    assert [(r["name"], r["status"]) for r in results] == [(f"n{i}", "completed") for i in range(3)]


def test_forkserver_default_runs_the_batch_on_spawned_workers(tmp_path, yanex_home):
    """Python 3.14 makes forkserver the default on Linux; a batch must still run (and its workers
    must still be children of the orchestrator, so they die with it)."""
    ok = script(tmp_path, "ok.py", "import yanex\nprint(yanex.get_param('x'))\n")
    specs = [{"script_path": ok, "config": {"x": i}, "name": f"n{i}"} for i in range(2)]
    returncode, out, err = finish(start(tmp_path, specs, {"parallel": 2}, "forkserver"), tmp_path)
    assert returncode == 0, err
    assert [r["status"] for r in json.loads(out)] == ["completed", "completed"]


def test_spawn_without_main_guard_raises_the_bootstrap_error_without_hanging(tmp_path, yanex_home):
    ok = script(tmp_path, "ok.py", "pass\n")
    unguarded = ORCHESTRATOR + "\nmultiprocessing.set_start_method('spawn', force=True)\nmain()\n"
    process = start(tmp_path, [{"script_path": ok}] * 2, {"parallel": 2}, body=unguarded)
    returncode, out, err = finish(process, tmp_path, timeout=120)
    assert returncode == 1 and out == ""
    last = err.strip().splitlines()[-1]
    assert last.startswith(
        "RuntimeError: An attempt has been made to start a new process before the current process "
        "has finished its bootstrapping phase."
    )
    assert 'if __name__ == "__main__":' in last
    assert rows(yanex_home) == []


def test_sequential_batch_needs_no_main_guard_even_with_spawn(tmp_path, yanex_home):
    ok = script(tmp_path, "ok.py", "pass\n")
    unguarded = ORCHESTRATOR + "\nmultiprocessing.set_start_method('spawn', force=True)\nmain()\n"
    process = start(tmp_path, [{"script_path": ok}] * 2, {"parallel": None}, body=unguarded)
    returncode, out, err = finish(process, tmp_path)
    assert returncode == 0, err
    assert [r["status"] for r in json.loads(out)] == ["completed", "completed"]


def test_sixteen_workers_log_every_point_without_lock_errors(tmp_path, yanex_home):
    logger = script(
        tmp_path,
        "logger.py",
        """
        import yanex
        for step in range(1500):
            yanex.log_metrics({"loss": 1 / (step + 1), "step_twice": step * 2})
        """,
    )
    specs = [{"script_path": logger, "name": f"l{i}"} for i in range(16)]
    returncode, out, err = finish(start(tmp_path, specs, {"parallel": 16}), tmp_path, timeout=300)
    assert returncode == 0, err
    assert {r["status"] for r in json.loads(out)} == {"completed"}
    with sqlite3.connect(yanex_home / "yanex.db") as conn:
        per_experiment = conn.execute(
            "SELECT e.id, count(*), count(DISTINCT step) FROM metrics "
            "JOIN experiments AS e ON e.local_id = experiment_local_id GROUP BY e.id"
        ).fetchall()
    assert len(per_experiment) == 16
    assert {(count, steps) for _, count, steps in per_experiment} == {(3000, 1500)}
    logs = [err] + [p.read_text() for p in (yanex_home / "experiments").glob("*/stderr.log")]
    assert len(logs) == 17 and not any("locked" in log for log in logs)


def test_verbose_streams_child_output_prefixed_by_name(tmp_path, yanex_home):
    talk = script(tmp_path, "talk.py", "import sys\nprint('out line')\nprint('err line', file=sys.stderr)\n")
    specs = [{"script_path": talk, "name": "alpha"}, {"script_path": talk}]
    returncode, out, err = finish(start(tmp_path, specs, {"parallel": 2, "verbose": True}), tmp_path)
    assert returncode == 0, err
    results = json.loads(out.splitlines()[-1])
    assert "[alpha] out line" in out.splitlines()
    assert f"[{results[1]['experiment_id'][:8]}] out line" in out.splitlines()
    assert "[alpha] err line" in err.splitlines()
    for result in results:  # captured to the experiment's folder either way
        folder = yanex_home / "experiments" / result["experiment_id"]
        assert (folder / "stdout.log").read_text() == "out line\n"


def test_quiet_batch_reports_events_on_stderr_and_leaves_stdout_to_the_script(tmp_path, yanex_home):
    boom = script(tmp_path, "boom.py", "print('noise'); raise ValueError('bad input')\n")
    ok = script(tmp_path, "ok.py", "print('noise')\n")
    specs = [{"script_path": boom, "name": "boom"}, {"script_path": ok, "name": "ok"}]
    returncode, out, err = finish(start(tmp_path, specs, {"parallel": 2}), tmp_path)
    assert returncode == 0
    assert len(out.splitlines()) == 1  # only the orchestrator's own print
    lines = err.splitlines()
    assert lines[0].startswith("yanex: batch ") and lines[0].endswith(": 2 experiments on 2 workers")
    failed = next(line for line in lines if "boom" in line)
    assert " ✗ boom (" in failed and failed.endswith(": ValueError: bad input")
    assert any(" ✓ ok (" in line for line in lines)
    assert lines[-1].endswith("1 completed, 1 failed or cancelled, in " + lines[-1].rsplit(" ", 1)[1])


def test_live_display_on_a_terminal_and_errors_printed_as_they_happen(tmp_path, yanex_home):
    boom = script(tmp_path, "boom.py", "raise KeyError('missing')\n")
    slow = script(tmp_path, "slow.py", "import time; time.sleep(1.5)\n")
    specs = [{"script_path": boom, "name": "boom"}, {"script_path": slow, "name": "slow"}]
    (tmp_path / "orchestrate.py").write_text(GUARDED)
    primary, secondary = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "orchestrate.py", json.dumps(specs), json.dumps({"parallel": 2})],
        cwd=tmp_path,
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        env={**os.environ, "COLUMNS": "120", "TERM": "xterm"},
    )
    os.close(secondary)
    screen = b""
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # EIO: the terminal's other side is closed
            break
        if not chunk:
            break
        screen += chunk
    os.close(primary)
    assert process.wait(60) == 0
    text = screen.decode(errors="replace")
    assert "\x1b[" in text and "batch " in text and "ETA" in text  # the live bar was drawn
    assert "✗ boom (" in text and "KeyError: 'missing'" in text
    assert '"status": "completed"' in text
    assert "yanex: " not in text  # no plain event lines on a terminal


def test_yanex_run_refuses_a_script_that_starts_a_batch(tmp_path, yanex_home):
    inner = script(tmp_path, "inner.py", "pass\n")
    outer = script(
        tmp_path,
        "outer.py",
        f"""
        import yanex
        if __name__ == "__main__":
            yanex.run_multiple([yanex.ExperimentSpec(script_path={inner!r})], parallel=2)
        """,
    )
    result = yanex_cli("run", outer, cwd=tmp_path)
    assert result.returncode != 0
    assert "NestedRunError: a batch cannot start inside running experiment" in result.stderr
    statuses = [r["status"] for r in rows(yanex_home)]
    assert statuses == ["failed"]  # the outer experiment only: no batch rows were written


LOGS_ITS_POINT = "import yanex\nyanex.log_metrics({'a': yanex.get_param('a')})\n"
CTRL_C_TRIALS = 20
SWEEP_POINTS = 20_000


def where_it_hangs(pid: int) -> str:
    """The stacks of a process that did not stop, for the failure message (py-spy, when present)."""
    import shutil

    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    try:
        dump = subprocess.run(
            [spy, "dump", "--subprocesses", "--pid", str(pid)], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"(no stacks: {error})"
    return dump.stdout + dump.stderr


@pytest.mark.slow
def test_ctrl_c_at_random_moments_of_a_large_sweep_always_ends_it_promptly(tmp_path, monkeypatch):
    """Ctrl-C landing anywhere (rows being written, workers starting, experiments finishing by the
    hundred) ends `yanex run` within 5 s, with every row closed and the batch ended. A
    KeyboardInterrupt inside `concurrent.futures.wait` used to leave the pool's thread blocked
    forever holding the pool's lock."""
    train = script(tmp_path, "train.py", LOGS_ITS_POINT)
    command = [
        sys.executable,
        "-m",
        "yanex",
        "run",
        train,
        "-p",
        f"a=range({SWEEP_POINTS})",
        "--parallel",
        "2",
    ]
    rng = random.Random(19)
    for trial in range(CTRL_C_TRIALS):
        home = tmp_path / f"home{trial}"
        monkeypatch.setenv("YANEX_HOME", str(home))
        with (tmp_path / f"err{trial}").open("w") as err:
            process = subprocess.Popen(
                command,
                stdout=subprocess.DEVNULL,
                stderr=err,
                start_new_session=True,
            )
            time.sleep(rng.uniform(0.3, 4.0))
            os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
            try:
                returncode = process.wait(5)
            except subprocess.TimeoutExpired:
                stacks = where_it_hangs(process.pid)
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                said = (tmp_path / f"err{trial}").read_text()[-2000:]
                pytest.fail(f"trial {trial}: yanex run still running 5 s after Ctrl-C\n{said}\n{stacks}")
        said = (tmp_path / f"err{trial}").read_text()
        assert "Traceback" not in said and "Exception ignored" not in said, said[-3000:]
        if returncode == -signal.SIGINT:  # in Python's start-up, before it handles SIGINT
            assert not rows(home), said[-2000:]
            continue
        assert returncode == 130, said[-2000:]
        if not rows(home):
            continue  # stopped before anything was recorded
        with sqlite3.connect(home / "yanex.db") as conn:
            statuses = dict(
                conn.execute("SELECT status, count(*) FROM experiments GROUP BY status").fetchall()
            )
            unended = conn.execute("SELECT count(*) FROM batches WHERE ended_at IS NULL").fetchone()[0]
        assert set(statuses) <= {"completed", "cancelled"}, (trial, statuses)
        assert unended == 0


# Logs a point every millisecond until it is stopped, after starting a child of its own; writes
# both pids to the file named by argv[1].
LOGS_UNTIL_STOPPED = """
import os, pathlib, subprocess, sys, time
import yanex
child = subprocess.Popen(["sleep", "300"])
ready = pathlib.Path(sys.argv[1] + ".tmp")
ready.write_text(f"{os.getpid()} {child.pid}")
ready.rename(sys.argv[1])  # whole or not at all: the test reads it as soon as it exists
step = 0
while True:
    yanex.log_metrics({"x": step}, step=step)
    step += 1
    time.sleep(0.001)
"""


@pytest.mark.parametrize("how", ["yanex run", "sequential batch"])
def test_a_supervisor_killed_outright_takes_its_script_along(tmp_path, yanex_home, how):
    """SIGKILL of `yanex run` (or of a sequential batch's orchestrator, which supervises from a
    thread) stops the script at once through the kernel's parent-death signal; the next yanex
    command kills what the script started, records the row failed and ingests every point."""
    pids = tmp_path / "pids"
    logger = script(tmp_path, "logger.py", LOGS_UNTIL_STOPPED)
    if how == "yanex run":
        supervisor = subprocess.Popen(
            [sys.executable, "-m", "yanex", "run", logger, "--", str(pids)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    else:
        supervisor = start(
            tmp_path, [{"script_path": logger, "script_args": [str(pids)]}], {"parallel": None}
        )
    wait_until(pids.exists, what="the script to start")
    script_pid, child_pid = map(int, pids.read_text().split())
    time.sleep(0.3)  # some points logged
    supervisor.kill()
    supervisor.wait(60)
    wait_until(
        lambda: not process_alive(script_pid), what="the script to die with its supervisor", timeout=10
    )
    [row] = rows(yanex_home)
    assert row["status"] == "running"  # nobody recorded it yet
    assert process_alive(child_pid)  # orphaned, until the next yanex command
    listed = yanex_cli("list")
    assert listed.returncode == 0, listed.stderr
    assert not process_alive(child_pid)
    [row] = rows(yanex_home)
    assert (row["status"], row["error_message"]) == ("failed", DIED)
    journal = script_lines(yanex_home / "experiments" / row["id"] / "metrics.jsonl")
    with sqlite3.connect(yanex_home / "yanex.db") as conn:
        stored = conn.execute(
            f"SELECT count(*), max(step) FROM metrics WHERE {POINTS_OF}",
            [row["id"]],
        )
        count, last = stored.fetchone()
    assert count == len(journal) == last + 1 > 10
