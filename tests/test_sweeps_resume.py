"""Sweeps that outlive their orchestrator (``yanex sweep resume``), sweeps built in Python
(``yanex.grid``, ``yanex.sample``), the spec's grid example as one ``yanex run``, and revision 0006."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import yanex
from tests.conftest import REPO_ROOT, wait_until, yanex_cli
from yanex.errors import ConfigError

# Points with x < 2 finish at once; the others wait for a release file, so the orchestrator can be
# killed while they run.
WAITING = """
import sys, time, yanex
from pathlib import Path
x = yanex.get_param("x")
release = Path(yanex.get_param("release"))
while x >= 2 and not release.exists():
    time.sleep(0.05)
yanex.log_metrics({"x": x})
"""


def rows(home: Path, query: str, *params: object) -> list[tuple[Any, ...]]:
    # Read-write, though it only reads: read-only cannot open a WAL database whose -shm file is gone.
    with contextlib.closing(sqlite3.connect(home / "yanex.db", timeout=60)) as conn:
        return conn.execute(query, params).fetchall()


def readable(home: Path, query: str) -> list[tuple[Any, ...]]:
    """``rows``, or nothing while the database is still being created."""
    try:
        return rows(home, query)
    except sqlite3.OperationalError:
        return []


def completed_per_point(home: Path) -> dict[int, int]:
    found = rows(
        home,
        "SELECT json_extract(config, '$.x'), count(*) FROM experiments WHERE status = 'completed' GROUP BY 1",
    )
    return dict(found)


@pytest.mark.slow
def test_resume_after_sigkill_of_the_orchestrator_runs_only_the_missing_points(
    write_script, tmp_path: Path, yanex_home: Path
) -> None:
    script = write_script("wait.py", WAITING)
    release = tmp_path / "release"
    orchestrator = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "yanex",
            "run",
            str(script),
            "-p",
            "x=range(6)",
            "-p",
            f"release={release}",
            "-j",
            "2",
        ],
        env=dict(os.environ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_until(
            lambda: (
                (yanex_home / "yanex.db").exists()
                and readable(yanex_home, "SELECT count(*) FROM experiments WHERE status = 'running'")
                == [(2,)]
                and readable(yanex_home, "SELECT count(*) FROM experiments WHERE status = 'completed'")
                == [(2,)]
            ),
            "two points completed and two running",
        )
        os.kill(orchestrator.pid, signal.SIGKILL)  # the orchestrator only: its workers die with it
        orchestrator.wait(timeout=30)
        # The workers get SIGTERM when their parent dies; any reader settles what is left.
        wait_until(
            lambda: yanex_cli("list", "--status", "running", "--status", "queued").stdout == "",
            "no experiment left open",
        )
    finally:
        with contextlib.suppress(ProcessLookupError):  # whatever is left of its session
            os.killpg(orchestrator.pid, signal.SIGKILL)
    assert completed_per_point(yanex_home) == {0: 1, 1: 1}
    [(batch_id,)] = rows(yanex_home, "SELECT id FROM batches")
    release.touch()

    preview = yanex_cli("sweep", "resume", batch_id[:5], "--dry-run")
    assert preview.returncode == 0, preview.stderr
    assert [line.split()[0] for line in preview.stdout.splitlines()] == [f"wait-x{x}" for x in range(2, 6)]

    result = yanex_cli("sweep", "resume", batch_id)
    assert result.returncode == 0, result.stderr
    assert f"batch {batch_id[:8]}: 2 of 6 points completed; running the other 4" in result.stderr
    assert completed_per_point(yanex_home) == dict.fromkeys(range(6), 1)
    [(resumed, total, spec)] = rows(yanex_home, "SELECT id, total, spec FROM batches WHERE id != ?", batch_id)
    assert total == 4
    assert spec == rows(yanex_home, "SELECT spec FROM batches WHERE id = ?", batch_id)[0][0]
    names = rows(yanex_home, "SELECT name FROM experiments WHERE batch_id = ? ORDER BY name", resumed)
    assert [name for (name,) in names] == [f"wait-x{x}" for x in range(2, 6)]

    again = yanex_cli("sweep", "resume", resumed)  # the resumed batch knows the whole sweep
    assert again.returncode == 0
    assert "all 6 points of its sweep are completed; nothing to run" in again.stderr
    assert rows(yanex_home, "SELECT count(*) FROM batches") == [(2,)]


QUEUE_UNDER = """
import sys, yanex
from yanex.db.engine import Database
from yanex.specs import EnvironmentInfo, GitInfo, Status
from yanex.store.experiments import Owner, create_experiments
script, release, host, pid = sys.argv[1:]
[spec] = [s for s in yanex.grid(script, {"x": [0, 1]}, config={"release": release}) if s.config["x"] == 1]
create_experiments(Database(), [spec], status=Status.QUEUED, owner=Owner(host, int(pid)),
                   git=GitInfo(), environment=EnvironmentInfo())
"""
PLAIN_BATCH = (
    "import sys, yanex; yanex.run_multiple([yanex.ExperimentSpec(sys.argv[1], {'x': 0, 'release': 'r'})])"
)


def test_resume_refuses_points_that_still_run_and_batches_that_are_no_sweep(
    write_script, tmp_path: Path, yanex_home: Path
) -> None:
    script = write_script("wait.py", WAITING)
    release = tmp_path / "release"
    sweep = yanex_cli("run", str(script), "-p", "x=list(0, 1)", "-p", f"release={release}")
    assert sweep.returncode == 0, sweep.stderr
    [(sweep_batch,)] = rows(yanex_home, "SELECT id FROM batches")
    subprocess.run([sys.executable, "-c", PLAIN_BATCH, str(script)], check=True, capture_output=True)
    [(plain_batch,)] = rows(yanex_home, "SELECT id FROM batches WHERE spec IS NULL")
    refused = yanex_cli("sweep", "resume", plain_batch)
    assert refused.returncode == 2
    assert refused.stderr.startswith(f"Error: batch {plain_batch} was not started as a sweep")
    assert yanex_cli("sweep", "resume", "ffffffff").returncode == 1
    # A point queued under a live owner (this test's process) is not run a second time.
    [(done,)] = rows(yanex_home, "SELECT id FROM experiments WHERE json_extract(config, '$.x') = 1")
    assert yanex_cli("delete", done, "--yes").returncode == 0
    queue = [
        sys.executable,
        "-c",
        QUEUE_UNDER,
        str(script),
        str(release),
        os.uname().nodename,
        str(os.getpid()),
    ]
    subprocess.run(queue, check=True, capture_output=True)
    before = rows(yanex_home, "SELECT count(*) FROM experiments")
    busy = yanex_cli("sweep", "resume", sweep_batch)
    assert busy.returncode == 2
    assert "1 point(s) of batch" in busy.stderr and "are still queued or running" in busy.stderr
    assert rows(yanex_home, "SELECT count(*) FROM experiments") == before
    assert rows(yanex_home, "SELECT count(*) FROM batches") == [(2,)]


def test_grid_builds_the_cartesian_product_as_specs(tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    script.write_text("")
    specs = yanex.grid(
        script,
        {"lr": "logspace(-3, -1, 3)", "model.depth": [2, 4], "opt": ("adam",)},
        config={"epochs": 5, "model": {"width": 8}},
        tags=["g"],
        script_args=["--fast"],
        timeout="5m",
    )
    assert isinstance(specs, list) and len(specs) == 6
    assert all(isinstance(spec, yanex.ExperimentSpec) for spec in specs)
    assert [spec.name for spec in specs[:2]] == ["train-lr0.001-model.depth2", "train-lr0.001-model.depth4"]
    assert specs[1].config == {"epochs": 5, "model": {"width": 8, "depth": 4}, "lr": 0.001, "opt": "adam"}
    assert specs[0].tags == ["g"] and specs[0].script_args == ["--fast"] and specs[0].timeout == "5m"
    named = yanex.grid(script, {"lr": [0.1, 0.2]}, name="grid-lr{lr}")
    assert [spec.name for spec in named] == ["grid-lr0.1", "grid-lr0.2"]


def test_sample_draws_reproducibly_and_crosses_the_grid(tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    script.write_text("")
    axes = {"lr": yanex.loguniform(1e-4, 1e-1), "opt": yanex.choice("adam", "sgd"), "seed": range(2)}
    first = yanex.sample(
        script, {**axes, "units": yanex.randint(1, 4), "p": yanex.uniform(0, 1)}, n=10, seed=0
    )
    again = yanex.sample(
        script, {**axes, "units": yanex.randint(1, 4), "p": yanex.uniform(0, 1)}, n=10, seed=0
    )
    assert len(first) == 20 and [s.config for s in first] == [s.config for s in again]
    assert [s.config for s in yanex.sample(script, axes, n=10, seed=1)] != [s.config for s in first][:20]
    assert all(1e-4 <= s.config["lr"] <= 1e-1 and s.config["units"] in range(1, 5) for s in first)  # type: ignore[operator]
    assert [s.config["seed"] for s in first[:4]] == [0, 1, 0, 1]
    # The same grammar as the command line, in strings:
    text = yanex.sample(script, {"lr": "loguniform(1e-4, 1e-1)"}, n=3, seed=5)
    assert [s.config for s in text] == [
        s.config for s in yanex.sample(script, {"lr": yanex.loguniform(1e-4, 1e-1)}, n=3, seed=5)
    ]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s: yanex.grid(s, {"lr": yanex.uniform(0, 1)}), "yanex.grid: lr is drawn at random"),
        (lambda s: yanex.grid(s, {"lr": "adam"}), "axis 'lr' is the text 'adam', not a sweep expression"),
        (lambda s: yanex.grid(s, {"lr": []}), "axis 'lr' has no values"),
        (
            lambda s: yanex.grid(s, {"lr": "linspace(0, 1"}),
            "invalid sweep expression for 'lr' at position 14",
        ),
        (
            lambda s: yanex.sample(s, {"lr": [1, 2]}, n=3),
            "--samples is given but no parameter is a random axis",
        ),
        (
            lambda s: yanex.sample(s, {"lr": yanex.uniform(0, 1)}, n=0),
            "yanex.sample: n must be a whole number",
        ),
        (lambda s: yanex.uniform(1, 0), "invalid sweep expression for yanex.uniform at position 12"),
        (lambda s: yanex.loguniform(0, 1), "loguniform() needs low > 0"),
        (lambda s: yanex.choice(), "choice() needs at least one option"),
    ],
)
def test_python_sweeps_refuse_what_cannot_expand(tmp_path: Path, call: Any, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        call(tmp_path / "train.py")
    assert message in raised.value.message


def test_a_python_sweep_stores_its_plan_and_resumes(write_script, tmp_path: Path, yanex_home: Path) -> None:
    script = write_script("train.py", "import yanex\nyanex.log_metrics({'a': yanex.get_param('a')})\n")
    results = yanex.run_multiple(yanex.grid(script, {"a": "range(3)"}, tags=["py"]))
    assert [r.status for r in results] == ["completed"] * 3
    [(batch_id, spec)] = rows(yanex_home, "SELECT id, spec FROM batches")
    assert json.loads(spec)["axes"] == [
        {"key": ["a"], "expression": "range(3)", "kind": "grid", "values": [0, 1, 2]}
    ]
    assert yanex_cli("delete", results[1].experiment_id, "--yes").returncode == 0
    result = yanex_cli("sweep", "resume", batch_id, cwd=REPO_ROOT)
    assert result.returncode == 0, result.stderr
    [line] = result.stdout.splitlines()
    assert line.split()[1:] == ["completed", "train-a1"]
    assert rows(yanex_home, "SELECT count(*) FROM experiments WHERE status = 'completed'") == [(3,)]


def test_the_spec_grid_example_runs_as_one_yanex_run(yanex_home: Path) -> None:
    """docs/cli.md's command for the batch-execution spec's grid, run from the example's folder."""
    doc = (REPO_ROOT / "docs" / "cli.md").read_text()
    [block] = [
        b for b in re.findall(r"```bash\n(.*?)```", doc, flags=re.DOTALL) if "grid-lr{learning_rate}" in b
    ]
    argv = shlex.split(block.replace("\\\n", " "))
    assert argv[:2] == ["yanex", "run"]
    result = subprocess.run(
        [sys.executable, "-m", "yanex", *argv[1:]],
        cwd=REPO_ROOT / "examples" / "run-api" / "02_batch_execution",
        env={**os.environ, "EXAMPLE_EPOCH_SECONDS": "0.01"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    names = [f"grid-lr{lr}-bs{bs}" for lr in ("0.001", "0.01", "0.1") for bs in (16, 32)]
    assert [line.split()[2] for line in result.stdout.splitlines()] == names
    assert rows(yanex_home, "SELECT parallel, total FROM batches") == [(3, 6)]
    tagged = rows(
        yanex_home,
        "SELECT count(*) FROM experiments JOIN tags ON id = experiment_id "
        "WHERE tag = 'grid-search' AND status = 'completed'",
    )
    assert tagged == [(6,)]
    assert rows(yanex_home, "SELECT count(*) FROM metrics WHERE key = 'accuracy'") == [(60,)]


def test_a_revision_0005_database_upgrades_with_no_sweep_specs(yanex_home: Path) -> None:
    yanex_home.mkdir(parents=True)
    shutil.copy(REPO_ROOT / "tests" / "data" / "yanex-0005.db", yanex_home / "yanex.db")
    before = rows(yanex_home, "SELECT id FROM batches ORDER BY id")
    counts = rows(yanex_home, "SELECT count(*) FROM experiments")
    assert yanex_cli("db", "upgrade").returncode == 0
    assert rows(yanex_home, "SELECT substr(id, 1, 8) FROM batches ORDER BY id") == before  # extended
    assert rows(yanex_home, "SELECT count(*) FROM experiments") == counts
    assert rows(yanex_home, "SELECT count(*) FROM batches WHERE spec IS NOT NULL") == [(0,)]


@pytest.mark.slow
def test_ctrl_c_cancels_a_cli_sweep_like_a_batch_and_resume_finishes_it(
    write_script, tmp_path: Path, yanex_home: Path
) -> None:
    script = write_script("wait.py", WAITING)
    release = tmp_path / "release"
    sweep = ["run", str(script), "-p", "x=range(2, 6)", "-p", f"release={release}", "-j", "2"]
    orchestrator = subprocess.Popen(
        [sys.executable, "-m", "yanex", *sweep],
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        wait_until(
            lambda: (
                readable(yanex_home, "SELECT count(*) FROM experiments WHERE status = 'running'") == [(2,)]
            ),
            "two points running",
        )
        orchestrator.send_signal(signal.SIGINT)  # as Ctrl-C reaches the orchestrator
        _, err = orchestrator.communicate(timeout=60)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(orchestrator.pid, signal.SIGKILL)
    assert orchestrator.returncode == 130, err
    assert "interrupted: stopping the batch" in err
    [(batch_id,)] = rows(yanex_home, "SELECT id FROM batches")
    assert f"batch {batch_id[:8]}: 0 completed" in err
    statuses = rows(yanex_home, "SELECT status, error_message FROM experiments")
    assert statuses == [("cancelled", "interrupted by the user")] * 4
    release.touch()
    result = yanex_cli("sweep", "resume", batch_id, "-j", "0")
    assert result.returncode == 0, result.stderr
    assert completed_per_point(yanex_home) == dict.fromkeys(range(2, 6), 1)


# Fails until the file `ok` exists: a sweep whose every point then waits to be resumed.
UNTIL_OK = """
import yanex
from pathlib import Path
if not Path(yanex.get_param("ok")).exists():
    raise SystemExit(1)
"""
TRIALS = 20


@pytest.mark.slow
def test_two_resumes_started_at_once_run_each_point_once(
    write_script, tmp_path: Path, yanex_home: Path
) -> None:
    script = write_script("until_ok.py", UNTIL_OK)
    runs: list[dict[int, int]] = []  # per trial: completed experiments per point
    ends: list[list[tuple[int, str]]] = []  # per trial: each resume's exit code and stderr
    for trial in range(TRIALS):
        ok = tmp_path / f"ok-{trial}"
        sweep = yanex_cli(
            "run", str(script), "-p", "x=range(8)", "-p", f"ok={ok}", "-p", f"trial={trial}", "-j", "4"
        )
        assert sweep.returncode == 1, sweep.stderr
        [(batch_id,)] = rows(
            yanex_home, "SELECT id FROM batches WHERE json_extract(spec, '$.base.trial') = ?", trial
        )
        ok.touch()
        resumes = [
            subprocess.Popen(
                [sys.executable, "-m", "yanex", "sweep", "resume", batch_id, "-j", "4"],
                env=dict(os.environ),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        ends.append([(resume.wait(timeout=300), resume.communicate()[1]) for resume in resumes])
        completed = rows(
            yanex_home,
            "SELECT json_extract(config, '$.x'), count(*) FROM experiments "
            "WHERE status = 'completed' AND json_extract(config, '$.trial') = ? GROUP BY 1",
            trial,
        )
        runs.append(dict(completed))
    assert runs == [dict.fromkeys(range(8), 1)] * TRIALS
    for both in ends:
        assert 0 in [code for code, _ in both]
        for code, err in both:
            if code == 2:  # refused while the other ran: one line and its hint
                [error, hint] = err.splitlines()
                assert re.fullmatch(
                    r"Error: the sweep of batch \w{8} is being run by pid \d+ on .+ \(batch \w{8}\)", error
                )
                assert hint == "Hint: wait for it to end, or stop it, then resume again"
            else:  # it ran the points, or found them all completed by the other
                assert code == 0, err


def test_a_resume_notes_when_the_code_changed_since_its_points_ran(git_repo: Path, yanex_home: Path) -> None:
    script = git_repo / "train.py"
    script.write_text("import yanex\nif yanex.get_param('x') == 2:\n    raise SystemExit(1)\n")
    subprocess.run(["git", "add", "train.py"], cwd=git_repo, check=True)
    subprocess.run(["git", "commit", "-q", "-m", "v1"], cwd=git_repo, check=True)
    sweep = yanex_cli("run", str(script), "-p", "x=range(3)", cwd=git_repo)
    assert sweep.returncode == 1, sweep.stderr
    [(batch_id,)] = rows(yanex_home, "SELECT id FROM batches")
    same = yanex_cli("sweep", "resume", batch_id, cwd=git_repo)  # point 2 fails again: same code
    assert same.returncode == 1 and "Note:" not in same.stderr, same.stderr
    script.write_text("print('fixed')\n")  # an uncommitted change
    changed = yanex_cli("sweep", "resume", batch_id, cwd=git_repo)
    assert changed.returncode == 0, changed.stderr
    notes = [line for line in changed.stderr.splitlines() if line.startswith("Note:")]
    assert notes == [
        "Note: resuming with other code than 2 of 2 completed point(s) of the sweep ran (the uncommitted "
        "changes differ from theirs); the new points record the current code"
    ]
