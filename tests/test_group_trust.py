"""Group statistics that never mix: superseded attempts (``sweep resume`` links each point it runs
again to the attempt it replaces), completed experiments only by default, git commits to filter,
group and compare by, groups sorted by a metric's mean, and names resolved to the one experiment
that can qualify."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

import yanex
from tests.conftest import wait_until, yanex_cli
from yanex.cli.app import app

runner = CliRunner()


def cli(*args: str) -> Result:
    return runner.invoke(app, list(args))


def rows(home: Path, query: str, *params: object) -> list[tuple[Any, ...]]:
    with contextlib.closing(sqlite3.connect(home / "yanex.db", timeout=60)) as conn:
        return conn.execute(query, params).fetchall()


def groups(result: Result, key: str = "lr") -> dict[Any, Any]:
    """A grouped compare's JSON: by the group's value of ``key``, (n, mean of the first metric)."""
    assert result.exit_code == 0, result.output
    found = {}
    for row in json.loads(result.stdout):
        stat = next(iter(row["metrics"].values()))
        found[row["group"][key]] = (row["n"], stat["mean"])
    return found


# The point lr=0.3, seed=1 fails until the file `ok` exists; every point logs its loss first.
FLAKY = """
import yanex
from pathlib import Path
lr, seed = yanex.get_param("lr"), yanex.get_param("seed")
yanex.log_metrics({"loss": round(1 - lr + seed / 100, 6)})
if lr == 0.3 and seed == 1 and not Path(yanex.get_param("ok")).exists():
    raise SystemExit(1)
"""


@pytest.fixture
def flaky(write_script, tmp_path: Path, yanex_home: Path) -> tuple[Path, str]:
    """A sweep lr in (0.1, 0.2, 0.3) x seed in (0, 1) whose point lr=0.3, seed=1 failed: the file
    that lets it pass, and the sweep's batch id."""
    script = write_script("train.py", FLAKY)
    ok = tmp_path / "ok"
    sweep = yanex_cli(
        "run", str(script), "-p", "lr=list(0.1,0.2,0.3)", "-p", "seed=range(2)", "-p", f"ok={ok}", "-t", "T"
    )
    assert sweep.returncode == 1, sweep.stderr
    [(batch_id,)] = rows(yanex_home, "SELECT id FROM batches")
    return ok, batch_id


def failed_point(home: Path) -> list[tuple[str, str, str | None]]:
    """(id, status, retry_of) of every attempt of the point lr=0.3, seed=1, oldest first."""
    return rows(
        home,
        "SELECT id, status, retry_of FROM experiments WHERE name = 'train-lr0.3-seed1' "
        "ORDER BY created_at, rowid",
    )


def test_a_resume_links_each_point_to_the_attempt_it_replaces(
    flaky: tuple[Path, str], yanex_home: Path
) -> None:
    ok, batch_id = flaky
    again = yanex_cli("sweep", "resume", batch_id)
    assert again.returncode == 1, again.stderr  # the point fails again
    ok.touch()
    done = yanex_cli("sweep", "resume", batch_id)
    assert done.returncode == 0, done.stderr
    [(first, *one), (second, *two), (third, *three)] = failed_point(yanex_home)
    assert (one, two, three) == (["failed", None], ["failed", first], ["completed", second])
    latest = yanex.find(tags=["T"], latest_attempts=True)
    assert sorted((e.name, e.status.value) for e in latest) == sorted(
        (f"train-lr{lr}-seed{seed}", "completed") for lr in (0.1, 0.2, 0.3) for seed in (0, 1)
    )
    assert third in {e.id for e in latest}


def test_group_statistics_count_completed_latest_attempts_unless_asked(
    flaky: tuple[Path, str], yanex_home: Path
) -> None:
    ok, batch_id = flaky
    base = ("compare", "-t", "T", "--group-by", "lr", "-m", "loss", "--format", "json")
    first = cli(*base)
    assert groups(first)[0.3] == (1, 0.7)  # the failed attempt does not count
    assert "Note: completed, latest attempts only: 1 of 6 left out (--status/--all-attempts)" in first.stderr
    assert groups(cli(*base, "--status", "failed")) == {0.3: (1, 0.71)}  # --status overrides
    none = cli("compare", "-n", "train-lr0.3-seed1", "--group-by", "lr")
    assert none.exit_code == 1 and "none of the 1 selected experiments counts" in none.output
    assert "Hint: include them with --status or --all-attempts" in none.output
    alone = cli("compare", "-t", "T", "--all-attempts")
    assert alone.exit_code == 2 and "Hint: pass --group-by too" in alone.output
    assert yanex_cli("sweep", "resume", batch_id).returncode == 1  # fails again
    assert groups(cli(*base, "--status", "failed"))[0.3] == (1, 0.71)  # the latest attempt only
    assert groups(cli(*base, "--status", "failed", "--all-attempts"))[0.3] == (2, 0.71)
    ok.touch()
    assert yanex_cli("sweep", "resume", batch_id).returncode == 0
    assert groups(cli(*base)) == {0.1: (2, 0.905), 0.2: (2, 0.805), 0.3: (2, 0.705)}
    mixed = cli(*base, "--all-attempts", "-s", "completed", "-s", "failed")
    assert groups(mixed)[0.3] == (4, pytest.approx(0.7075))
    assert "Note: group lr=0.3 mixes statuses completed, failed" in mixed.stderr, mixed.stderr
    # The UI's bands and `yanex plot --group-by` group through the same store function.
    from yanex.db.engine import Database
    from yanex.store.filters import ExperimentFilter
    from yanex.store.groups import group_experiments
    from yanex.store.reading import reading

    db = Database()
    try:
        with reading(db, settle=False) as conn:
            grouping = group_experiments(conn, ExperimentFilter(tags=["T"]), ["lr"])
    finally:
        db.dispose()
    [(completed,)] = rows(
        yanex_home, "SELECT id FROM experiments WHERE name = 'train-lr0.3-seed1' AND status = 'completed'"
    )
    assert [len(g.ids) for g in grouping.groups] == [2, 2, 2] and completed in grouping.groups[2].ids


def test_groups_sort_by_their_mean_and_limit_counts_groups(flaky: tuple[Path, str]) -> None:
    base = ("compare", "-t", "T", "--group-by", "!seed", "-m", "loss.min", "--format", "json")
    assert list(groups(cli(*base, "--sort", "metrics.loss.min"))) == [0.3, 0.2, 0.1]
    assert list(groups(cli(*base, "--sort", "loss.min", "--desc"))) == [0.1, 0.2, 0.3]
    assert list(groups(cli(*base, "--sort", "loss.min", "--limit", "2"))) == [0.3, 0.2]
    assert list(groups(cli(*base, "--limit", "1"))) == [0.1]  # by value, the first group
    unknown = cli(*base, "--sort", "metrics.accuracy")
    assert list(groups(unknown)) == [0.1, 0.2, 0.3]
    assert "Note: no group has a value of 'accuracy' to sort by" in unknown.stderr
    refused = cli(*base, "--sort", "params.seed")  # not a group's value
    assert refused.exit_code == 2 and "Hint: sort them by a metric's mean" in refused.output


def test_a_name_resolves_to_the_one_experiment_that_can_qualify(
    flaky: tuple[Path, str], write_script, yanex_home: Path
) -> None:
    ok, batch_id = flaky
    ok.touch()
    assert yanex_cli("sweep", "resume", batch_id).returncode == 0
    [(_, failed, _), (completed, status, _)] = failed_point(yanex_home)
    assert (failed, status) == ("failed", "completed")
    child = write_script("child.py", "print('ok')\n")
    ran = yanex_cli("run", str(child), "--depends-on", "train-lr0.3-seed1")
    assert ran.returncode == 0, ran.stderr
    assert rows(yanex_home, "SELECT depends_on_id FROM dependencies") == [(completed,)]
    # Two completed experiments of that name: which one is meant is the user's to say.
    assert yanex_cli("rerun", completed).returncode == 0
    ambiguous = yanex_cli("run", str(child), "--depends-on", "train-lr0.3-seed1")
    assert ambiguous.returncode != 0 and "matches more than one experiment" in ambiguous.stderr


def test_git_commit_and_dirty_in_where_group_by_and_columns(git_repo: Path, yanex_home: Path) -> None:
    script = git_repo / "train.py"

    def commit(body: str, message: str) -> str:
        script.write_text(body)
        subprocess.run(["git", "add", "train.py"], cwd=git_repo, check=True)
        subprocess.run(["git", "commit", "-q", "-m", message], cwd=git_repo, check=True)
        return subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=git_repo, check=True, capture_output=True, text=True
        ).stdout.strip()

    body = "import yanex\nyanex.log_metrics({'acc': %s + yanex.get_param('seed') / 100})\n"
    v1 = commit(body % "0.5", "v1")
    assert yanex_cli("run", str(script), "-p", "seed=range(2)", "-t", "G", cwd=git_repo).returncode == 0
    v2 = commit(body % "0.8", "v2")
    assert yanex_cli("run", str(script), "-p", "seed=range(2)", "-t", "G", cwd=git_repo).returncode == 0

    def names(*where: str) -> list[str]:
        result = cli("list", "-t", "G", *(a for w in where for a in ("--where", w)), "--format", "json")
        assert result.exit_code == 0, result.output
        return sorted(row["id"] for row in json.loads(result.stdout))

    of_v1 = names(f"git.commit = '{v1[:7]}'")  # a prefix, as git prints commits
    assert len(of_v1) == 2 and of_v1 == names(f"git.commit = '{v1}'")
    assert len(names(f"git.commit in ('{v1[:7]}', '{v2[:9].upper()}')")) == 4
    assert names(f"git.commit != '{v1[:7]}'") == names(f"git.commit = '{v2[:7]}'")
    assert len(names("git.dirty = false")) == 4 and names("git.dirty = true") == []
    assert names("git.commit = 'zzz'") == []
    refused = cli("list", "--where", "git.commit > 'a'")
    assert refused.exit_code == 2 and "git.commit" in refused.output
    mixed = cli("compare", "-t", "G", "--group-by", "!seed", "-m", "acc", "--format", "json")
    assert [row["n"] for row in json.loads(mixed.stdout)] == [4]
    assert "mixes 2 git commits" in mixed.stderr and "--group-by '!seed,git.commit'" in mixed.stderr
    split = groups(
        cli("compare", "-t", "G", "--group-by", "!seed,git.commit", "-m", "acc", "--format", "json"),
        "git.commit",
    )
    assert split == {v1: (2, pytest.approx(0.505)), v2: (2, pytest.approx(0.805))}
    table = cli("compare", "-t", "G", "-p", "seed", "-p", "git.commit", "-p", "git.dirty", "--format", "json")
    assert table.exit_code == 0, table.output
    assert sorted(
        (r["params"]["seed"], r["git"]["commit"], r["git"]["dirty"]) for r in json.loads(table.stdout)
    ) == sorted((seed, commit, False) for seed in (0, 1) for commit in (v1, v2))
    shown = cli("compare", "-t", "G", "-p", "seed", "-p", "git.commit")  # newest first
    assert shown.stderr.split() == ["id", "name", "status", "seed", "git.commit", "acc"], shown.stderr
    assert [line.split()[4] for line in shown.stdout.splitlines()] == [v2[:8], v2[:8], v1[:8], v1[:8]]


# lr=0.1 ends at once; lr=0.3 logs its loss, then waits for the release file.
WAITING = """
import time, yanex
from pathlib import Path
lr, seed = yanex.get_param("lr"), yanex.get_param("seed")
yanex.log_metrics({"loss": lr + seed / 100})
while lr > 0.2 and not Path(yanex.get_param("release")).exists():
    time.sleep(0.05)
"""


def test_ctrl_c_then_resume_counts_each_point_once(write_script, tmp_path: Path, yanex_home: Path) -> None:
    """The issue's trial: a sweep stopped by Ctrl-C after 2 points completed, then resumed."""
    script = write_script("train.py", WAITING)
    release = tmp_path / "release"
    sweep = ["run", str(script), "-p", "lr=list(0.1,0.3)", "-p", "seed=range(2)", "-p", f"release={release}"]
    orchestrator = subprocess.Popen(
        [sys.executable, "-m", "yanex", *sweep, "-t", "ctrlc", "-j", "2"],
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )

    def state() -> list[tuple[Any, ...]]:
        try:
            return rows(
                yanex_home, "SELECT status, count(*) FROM experiments GROUP BY status ORDER BY status"
            )
        except sqlite3.OperationalError:
            return []

    try:
        wait_until(lambda: state() == [("completed", 2), ("running", 2)], "2 completed, 2 running")
        wait_until(lambda: len(rows(yanex_home, "SELECT 1 FROM metrics")) == 4, "every loss logged")
        orchestrator.send_signal(signal.SIGINT)
        _, err = orchestrator.communicate(timeout=60)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(orchestrator.pid, signal.SIGKILL)
    assert orchestrator.returncode == 130, err
    [(batch_id,)] = rows(yanex_home, "SELECT id FROM batches")
    release.touch()
    assert yanex_cli("sweep", "resume", batch_id).returncode == 0
    cancelled = dict(rows(yanex_home, "SELECT name, id FROM experiments WHERE status = 'cancelled'"))
    replaced = dict(rows(yanex_home, "SELECT name, retry_of FROM experiments WHERE retry_of IS NOT NULL"))
    assert replaced == cancelled and len(cancelled) == 2
    assert len(yanex.find(tags=["ctrlc"], latest_attempts=True)) == 4
    compared = yanex_cli(
        "compare", "--tag", "ctrlc", "--group-by", "!seed", "-m", "loss.min", "--format", "json"
    )
    assert [(row["group"]["lr"], row["n"]) for row in json.loads(compared.stdout)] == [(0.1, 2), (0.3, 2)]
    child = write_script("child.py", "print('ok')\n")
    assert yanex_cli("run", str(child), "--depends-on", "train-lr0.3-seed0").returncode == 0


def test_plot_groups_say_what_they_count_and_take_all_attempts(
    flaky: tuple[Path, str], yanex_home: Path
) -> None:
    """``yanex plot --group-by`` counts what ``compare --group-by`` counts, and says so the same way."""
    _, batch_id = flaky
    assert yanex_cli("sweep", "resume", batch_id).returncode == 1  # the point fails again
    plotted = yanex_cli("plot", "loss", "-t", "T", "--group-by", "lr")
    assert plotted.returncode == 0, plotted.stderr
    note = "Note: completed, latest attempts only: 2 of 7 left out (--status/--all-attempts)"
    assert plotted.stderr.splitlines()[0] == note, plotted.stderr
    every = yanex_cli("plot", "loss", "-t", "T", "--group-by", "lr", "-s", "failed", "--all-attempts")
    assert every.returncode == 0, every.stderr
    assert "Note:" not in every.stderr and "lr=0.3 (n=2)" in every.stdout  # both failed attempts
    alone = yanex_cli("plot", "loss", "-t", "T", "--all-attempts")
    assert alone.returncode == 2 and "Hint: pass --group-by too" in alone.stderr
