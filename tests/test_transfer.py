"""`yanex export` and `yanex import` between two stores (two YANEX_HOMEs), on real SQLite files.

The stores are built through the store's own writes (rows, journal-less points, a saved blob,
output files), the commands run through the Typer runner. The two-store round trip with real
scripts is tests/test_transfer_stores.py.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
import tarfile
import textwrap
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from tests.conftest import REPO_ROOT, wait_until
from yanex import config
from yanex.artifacts.blobs import blob_path, store_written
from yanex.artifacts.lines import ArtifactLine
from yanex.cli.app import app
from yanex.db.engine import Database
from yanex.importers import KINDS
from yanex.runner.environment import this_process
from yanex.specs import EnvironmentInfo, ExperimentSpec, GitInfo, Status
from yanex.store.artifacts import record_artifacts
from yanex.store.experiments import (
    MetricRecord,
    Owner,
    create_batch,
    create_experiments,
    end_batch,
    finish,
    ingest_metrics,
    mark_running,
)

runner = CliRunner()
START = datetime(2026, 3, 1, 12, 0, 0)


@contextmanager
def at(home: Path) -> Iterator[Database]:
    """The store of ``home``, and YANEX_HOME pointing there (folders and blobs follow it)."""
    before = os.environ["YANEX_HOME"]
    os.environ["YANEX_HOME"] = str(home)
    db = Database()
    try:
        yield db
    finally:
        db.dispose()
        os.environ["YANEX_HOME"] = before


def cli(home: Path, *args: str) -> Result:
    return runner.invoke(app, list(args), env={"YANEX_HOME": str(home)})


def ok(home: Path, *args: str) -> str:
    result = cli(home, *args)
    assert result.exit_code == 0, result.output
    return result.output


def rows(home: Path, query: str, *args: object) -> list[tuple[Any, ...]]:
    """What a sqlite3 shell on the store sees."""
    with closing(sqlite3.connect(f"file:{home / 'yanex.db'}?mode=ro", uri=True)) as conn:
        return conn.execute(query, args).fetchall()


def count_points(home: Path) -> int:
    """Points stored so far; 0 while the database is being created."""
    try:
        return int(rows(home, "SELECT count(*) FROM metrics")[0][0])
    except sqlite3.OperationalError:
        return 0


def points(
    db: Database, experiment_id: str, count: int, *, first: int = 0, key: str = "loss"
) -> list[MetricRecord]:
    return [
        MetricRecord(step, START + timedelta(seconds=step), {key: 1.0 / (step + 1), "note": f"step {step}"})
        for step in range(first, first + count)
    ]


def create(
    db: Database,
    *specs: ExperimentSpec,
    owner: Owner | None = None,
    git: GitInfo | None = None,
    batch_id: str | None = None,
    depends_on: list[list[str | int]] | None = None,
    retry_of: list[str | None] | None = None,
) -> list[str]:
    return create_experiments(
        db,
        list(specs),
        status=Status.QUEUED,
        owner=owner or this_process(),
        git=git or GitInfo(),
        environment=EnvironmentInfo(),
        batch_id=batch_id,
        depends_on=depends_on,
        retry_of=retry_of,
    )


def run(db: Database, experiment_id: str, count: int) -> None:
    """Started, ``count`` steps of two metrics logged, and completed."""
    mark_running(db, experiment_id, os.getpid(), this_process())
    ingest_metrics(db, experiment_id, points(db, experiment_id, count))
    finish(db, experiment_id, Status.COMPLETED, exit_code=0)


def save(db: Database, experiment_id: str, name: str, content: bytes) -> str:
    stored = store_written(config.blobs_root(), lambda path: path.write_bytes(content))
    line = ArtifactLine(name, stored.sha256, stored.size, "application/octet-stream", datetime.now(UTC))
    with db.write() as conn:
        record_artifacts(conn, experiment_id, [line])
    return stored.sha256


def build(home: Path) -> dict[str, str]:
    """A store with a sweep's batch of two, a train -> evaluate pipeline (train saved a model and
    ran with a patch; evaluate depends on it), a re-run, tags, goals and captured output."""
    with at(home) as db:
        owner = this_process()
        batch = create_batch(db, total=2, parallel=2, owner=owner, spec={"sweep": {"a": "range(2)"}})
        sweeps = create(
            db, *(ExperimentSpec("sweep.py", {"a": i}, name=f"sweep-{i}") for i in range(2)), batch_id=batch
        )
        [train] = create(
            db,
            ExperimentSpec("train.py", {"lr": 0.1}, name="train", tags=["pipe"], goals={"loss": "min"}),
            git=GitInfo(commit="a" * 40, dirty=True, patch="diff --git a/x b/x\n+1\n"),
        )
        [evaluate] = create(
            db, ExperimentSpec("evaluate.py", name="evaluate", tags=["pipe"]), depends_on=[[train]]
        )
        [again] = create(db, ExperimentSpec("train.py", {"lr": 0.1}, name="train-again"), retry_of=[train])
        for experiment_id in [*sweeps, train, evaluate, again]:
            run(db, experiment_id, 50)
        end_batch(db, batch)
        save(db, train, "model.bin", b"weights " * 1000)
        folder = config.experiment_dir(train)
        (folder / "notes").mkdir(parents=True)
        (folder / config.METRICS_FILE).write_text("{}\n")  # a journal, which stays home
        (folder / "stdout.log").write_text("trained\n")
        (folder / "notes" / "plan.txt").write_text("the plan\n")
    return {"train": train, "evaluate": evaluate, "again": again, "sweep-0": sweeps[0], "batch": batch}


def same_rows(a: Path, b: Path, query: str) -> None:
    assert rows(a, query) == rows(b, query)


# Every table, as a user compares two stores: by id, never by a store's local numbers.
COMPARED = [
    "SELECT * FROM batches ORDER BY id",
    "SELECT * FROM git_patches ORDER BY sha256",
    "SELECT * FROM tags ORDER BY experiment_id, tag",
    "SELECT * FROM params ORDER BY experiment_id, key",
    "SELECT * FROM metric_goals ORDER BY experiment_id, key",
    "SELECT * FROM dependencies ORDER BY experiment_id, depends_on_id",
    "SELECT * FROM artifacts ORDER BY experiment_id, name",
    "SELECT * FROM metric_summary ORDER BY experiment_id, key",
    "SELECT e.id, m.key, m.step, m.value, m.value_json, m.logged_at FROM metrics AS m "
    "JOIN experiments AS e ON e.local_id = m.experiment_local_id ORDER BY e.id, m.id",
]
SAME_COLUMNS = (
    "id, name, description, status, script_path, working_dir, script_args, config, spec_sha256, "
    "created_at, started_at, ended_at, duration, exit_code, error_message, batch_id, retry_of, "
    "archived, git_commit, git_patch_sha256, hostname, pid, owner_host, owner_pid, heartbeat_at"
)


def test_an_export_imported_into_an_empty_store_copies_everything_and_again_adds_nothing(
    tmp_path: Path,
) -> None:
    a, b, file = tmp_path / "a", tmp_path / "b", tmp_path / "a.tar"
    made = build(a)
    assert "Exported 5 experiments" in ok(a, "export", "--all", "-o", str(file))
    output = ok(b, "import", str(file))
    assert "added 5 experiments, 500 points, 1 artifact, 1 blob (7.8 KiB)" in output
    for query in COMPARED:
        same_rows(a, b, query)
    same_rows(a, b, f"SELECT {SAME_COLUMNS} FROM experiments ORDER BY id")
    assert rows(
        b, "SELECT count(*) FROM experiments WHERE imported_at IS NULL OR metrics_offset IS NOT NULL"
    ) == [(0,)]
    with at(b):
        train = config.experiment_dir(made["train"])
        assert (train / "stdout.log").read_text() == "trained\n"
        assert (train / "notes" / "plan.txt").read_text() == "the plan\n"
        assert not (train / config.METRICS_FILE).exists()  # its points are in the database
        (sha,) = rows(b, "SELECT sha256 FROM artifacts")[0]
        assert blob_path(config.blobs_root(), str(sha)).read_bytes() == b"weights " * 1000
    counts = [rows(b, f"SELECT count(*) FROM {table}") for table in ("experiments", "metrics", "tags")]
    again = ok(b, "import", str(file))
    assert "added 0 experiments, 0 points, 0 artifacts, 0 blobs (0 B)" in again
    assert "skipped 5 experiments: already here, identical" in again
    assert [
        rows(b, f"SELECT count(*) FROM {table}") for table in ("experiments", "metrics", "tags")
    ] == counts


def test_what_an_experiment_stands_on_is_exported_with_it(tmp_path: Path) -> None:
    a, b, file = tmp_path / "a", tmp_path / "b", tmp_path / "evaluate.tar"
    made = build(a)
    output = ok(a, "export", "evaluate", "-o", str(file))
    assert "Exported 2 experiments" in output and "1 of them because the others depend on them" in output
    ok(b, "import", str(file))
    assert rows(b, "SELECT experiment_id, depends_on_id FROM dependencies") == [
        (made["evaluate"], made["train"])
    ]
    output = ok(a, "export", "train-again", "-o", str(file), "--force")
    assert "Exported 2 experiments" in output  # the run it re-runs


def test_an_export_of_a_later_state_adds_only_what_is_new(tmp_path: Path) -> None:
    """A row exported while it ran, imported, then exported again once finished: the second
    import completes it with the points it lacked, under new metric ids after the others, and
    adds the experiment created meanwhile; the summaries equal the source's."""
    a, b = tmp_path / "a", tmp_path / "b"
    with at(a) as db:
        batch = create_batch(db, total=1, parallel=None, owner=this_process())
        [running] = create(db, ExperimentSpec("train.py", name="long"), batch_id=batch)
        mark_running(db, running, os.getpid(), this_process())
        ingest_metrics(db, running, points(db, running, 30))
    ok(a, "export", "--all", "-o", str(tmp_path / "early.tar"))
    build(b)  # b has its own experiments and points
    assert "added 1 experiment, 60 points" in ok(b, "import", str(tmp_path / "early.tar"))
    assert rows(b, "SELECT status, imported_at IS NOT NULL FROM experiments WHERE id = ?", running) == [
        ("running", 1)
    ]
    assert rows(b, "SELECT ended_at FROM batches WHERE id = ?", batch) == [(None,)]
    with at(a) as db:
        ingest_metrics(db, running, points(db, running, 20, first=30))
        finish(db, running, Status.COMPLETED, exit_code=0)
        [later] = create(db, ExperimentSpec("train.py", name="later"))
        run(db, later, 5)
        end_batch(db, batch)
    ok(a, "export", "--all", "-o", str(tmp_path / "late.tar"))
    before = rows(b, "SELECT id FROM metrics ORDER BY id")
    output = ok(b, "import", str(tmp_path / "late.tar"))
    assert "added 1 experiment, 50 points" in output  # 10 of `later`, 40 appended to `long`
    assert f"updated {running[:8]}  long: imported while open, now as the source has it" in output
    for query in COMPARED[-2:]:  # summaries and points, by id
        assert [r for r in rows(a, query) if r[0] == running] == [
            r for r in rows(b, query) if r[0] == running
        ]
    assert rows(b, "SELECT status, exit_code FROM experiments WHERE id = ?", running) == [("completed", 0)]
    ended = rows(a, "SELECT ended_at FROM batches WHERE id = ?", batch)
    assert ended[0][0] is not None and rows(b, "SELECT ended_at FROM batches WHERE id = ?", batch) == ended
    assert rows(b, "SELECT id FROM metrics ORDER BY id")[: len(before)] == before  # none renumbered
    added = rows(
        b,
        "SELECT m.id, m.step FROM metrics AS m JOIN experiments AS e ON e.local_id = m.experiment_local_id "
        "WHERE e.id = ? AND m.key = 'loss' ORDER BY m.id",
        running,
    )
    assert [step for _, step in added] == list(range(50))  # logging order, new ids after b's own
    assert min(i for i, step in added if step >= 30) > max(i for (i,) in before)
    again = ok(b, "import", str(tmp_path / "late.tar"))
    assert "added 0 experiments, 0 points" in again and "updated" not in again
    assert "skipped 1 experiment: this store has a later state" in ok(
        b, "import", str(tmp_path / "early.tar")
    )


def test_a_conflicting_experiment_is_reported_and_this_stores_copy_kept(tmp_path: Path) -> None:
    a, b, file = tmp_path / "a", tmp_path / "b", tmp_path / "a.tar"
    made = build(a)
    ok(a, "export", "--all", "-o", str(file))
    ok(b, "import", str(file))
    ok(b, "update", "train", "--add-tag", "best")
    ok(b, "archive", "evaluate")
    with at(a) as db, db.write() as conn:  # a hand edit on the other side
        conn.execute("UPDATE experiments SET exit_code = 3 WHERE id = ?", (made["sweep-0"],))
    ok(a, "export", "--all", "-o", str(file), "--force")
    tags = rows(b, "SELECT * FROM tags ORDER BY experiment_id, tag")
    output = ok(b, "import", str(file))
    assert f"conflict {made['train'][:8]}  train: tags differ; kept this store's" in output
    assert f"conflict {made['evaluate'][:8]}  evaluate: archived differ; kept this store's" in output
    assert f"conflict {made['sweep-0'][:8]}  sweep-0: exit_code differ; kept this store's" in output
    assert "skipped 2 experiments: already here, identical" in output
    assert rows(b, "SELECT * FROM tags ORDER BY experiment_id, tag") == tags
    assert rows(b, "SELECT exit_code FROM experiments WHERE id = ?", made["sweep-0"]) == [(0,)]


def test_summaries_are_folded_from_the_imported_points_not_copied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Summed up from the points here, they equal the source's: at once, and a few points at a
    time (as for a metric of millions)."""
    from yanex.store import summary

    monkeypatch.setattr(summary, "STORED_AT_ONCE", 7)
    a, b = tmp_path / "a", tmp_path / "b"
    made = build(a)
    expected = rows(a, "SELECT * FROM metric_summary ORDER BY experiment_id, key")
    with closing(sqlite3.connect(a / "yanex.db")) as conn, conn:
        conn.execute("UPDATE metric_summary SET count = 1, last = 99, min = -1, best = -1, mean = 7")
    ok(b, "import", str(a))  # the store's folder
    assert rows(b, "SELECT * FROM metric_summary ORDER BY experiment_id, key") == expected
    assert made


def test_a_blob_here_is_not_copied_and_a_damaged_one_is_not_published(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    made = build(a)
    with at(a) as db:
        damaged = save(db, made["evaluate"], "report.txt", b"the report")
        blob = blob_path(config.blobs_root(), damaged)
        blob.chmod(0o644)
        blob.write_bytes(b"THE REPORT")  # changed behind yanex's back, same size
    with at(b) as db:
        [mine] = create(db, ExperimentSpec("x.py", name="mine"))
        save(db, mine, "same.bin", b"weights " * 1000)  # the content of train's model, already here
    output = ok(b, "import", str(a))
    assert "2 artifacts, 0 blobs (0 B)" in output
    assert "Note: artifact contents not copied: 1 damaged there (not the hash recorded)" in output
    with at(b):
        assert not blob_path(config.blobs_root(), damaged).exists()
        assert not list(config.blobs_root().glob(".tmp-*"))


def test_export_refuses_an_existing_file_unless_forced_and_leaves_no_temp_file(tmp_path: Path) -> None:
    a = tmp_path / "a"
    build(a)
    file = tmp_path / "out.tar"
    file.write_text("precious")
    result = cli(a, "export", "--all", "-o", str(file))
    assert result.exit_code == 2
    assert f"Error: {file} exists already" in result.output and "Hint: pass --force" in result.output
    assert file.read_text() == "precious"
    ok(a, "export", "--all", "-o", str(file), "--force")
    with tarfile.open(file) as tar:
        assert tar.getnames()[0] == "yanex.db"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "out.tar"]
    result = cli(a, "export", "--status", "running", "-o", str(tmp_path / "none.tar"))
    assert result.exit_code == 1 and "no experiments match" in result.output


def test_the_sources_a_store_can_be_imported_from_and_what_is_refused(tmp_path: Path) -> None:
    a = tmp_path / "a"
    build(a)
    ok(a, "export", "--all", "-o", str(tmp_path / "a.tar"))
    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in a.rglob("*") if p.is_file()}
    for source, what in (
        (a, "store folder"),
        (a / "yanex.db", "database file"),
        (tmp_path / "a.tar", "export file"),
    ):
        home = tmp_path / f"from-{what.replace(' ', '-')}"
        output = ok(home, "import", str(source))
        assert f"Imported from {what} {source}:" in output and "added 5 experiments, 500 points" in output
        assert "skipped 5 experiments" in ok(home, "import", str(source), "--from", "yanex")
    # A lone database file: rows and points, no folders or blobs to copy.
    lone = tmp_path / "lone"
    lone.mkdir()
    (lone / "copy.db").write_bytes((a / "yanex.db").read_bytes())
    output = ok(tmp_path / "from-lone", "import", str(lone / "copy.db"))
    assert "added 5 experiments" in output and "1 missing from the source" in output
    assert {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in a.rglob("*") if p.is_file()} == before

    def refused(args: list[str], code: int = 2) -> str:
        result = cli(tmp_path / "target", "import", *args)
        assert result.exit_code == code, result.output
        assert "Traceback" not in result.output
        return result.output

    unknown = refused([str(a), "--from", "neptune"])
    assert f"unknown source kind 'neptune'\nHint: known kinds: {', '.join(KINDS)}" in unknown
    (tmp_path / "notes.txt").write_text("hello")
    output = refused([str(tmp_path / "notes.txt")])
    assert "cannot tell what" in output and "--from KIND" in output
    assert "no such file or folder" in refused([str(tmp_path / "missing.tar")])
    cut = tmp_path / "cut.tar"  # as an interrupted copy leaves it
    whole = (tmp_path / "a.tar").read_bytes()
    cut.write_bytes(whole[: len(whole) - 20_000])
    assert "the export file" in refused([str(cut)]) and "cut short or damaged" in refused([str(cut)])
    assert not (tmp_path / "target" / "yanex.db").exists()
    assert "is no yanex export file, yanex home or yanex database" in refused(
        [str(tmp_path / "notes.txt"), "--from", "yanex"]
    )
    newer = tmp_path / "newer.db"
    newer.write_bytes((a / "yanex.db").read_bytes())
    with closing(sqlite3.connect(newer)) as conn, conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    assert "newer than this yanex knows" in refused([str(newer)], code=1)
    old = REPO_ROOT / "tests" / "data" / "yanex-0012.db"
    output = refused([str(old)], code=1)
    assert "schema revision 0012, older than this yanex's" in output and "upgrade" in output
    result = cli(a, "import", str(a))
    assert result.exit_code == 2 and f"Error: {a} is this store" in result.output


def test_a_hand_made_source_with_ids_that_are_no_names_is_refused(tmp_path: Path) -> None:
    a = tmp_path / "a"
    made = build(a)
    with closing(sqlite3.connect(a / "yanex.db")) as conn, conn:
        conn.execute("PRAGMA foreign_keys = OFF")
        conn.execute("UPDATE experiments SET id = '../../escape' WHERE id = ?", (made["evaluate"],))
    result = cli(tmp_path / "b", "import", str(a))
    assert (
        result.exit_code == 1
        and "the experiment id '../../escape', which yanex never writes" in result.output
    )
    assert not (tmp_path / "escape").exists()


# Open rows a store imported: their owner is a process of another store.


def test_an_imported_running_row_and_its_batch_are_left_open_by_reads(
    tmp_path: Path, yanex_home: Path
) -> None:
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True)
    dead = Owner(this_process().host, int(finished.stdout))
    with at(yanex_home) as db:
        batch = create_batch(db, total=1, parallel=None, owner=dead)
        [experiment_id] = create(db, ExperimentSpec("train.py", name="elsewhere"), owner=dead, batch_id=batch)
        mark_running(db, experiment_id, dead.pid, dead)
        with db.write() as conn:  # as `yanex import` brings a row that was running in its store
            conn.execute(
                "UPDATE experiments SET imported_at = ?, metrics_offset = NULL",
                ("2026-03-01 12:00:00.000000",),
            )
    assert "running" in ok(yanex_home, "list")
    assert rows(yanex_home, "SELECT status FROM experiments") == [("running",)]
    assert rows(yanex_home, "SELECT ended_at FROM batches") == [(None,)]
    result = cli(yanex_home, "delete", "elsewhere", "--yes")  # nothing here owns it
    assert result.exit_code == 0, result.output
    assert rows(yanex_home, "SELECT count(*) FROM experiments") == [(0,)]


def test_an_export_taken_while_a_script_logs_is_one_snapshot(tmp_path: Path, yanex_home: Path) -> None:
    """Every export of a running experiment has summaries that count exactly its points."""
    script = tmp_path / "logs.py"
    stop = tmp_path / "stop"
    script.write_text(
        textwrap.dedent(
            f"""
            import os, yanex
            step = 0
            while not os.path.exists({str(stop)!r}):
                yanex.log_metrics({{"a": step, "b": step * 0.5}}, step=step)
                step += 1
            """
        )
    )
    env = {**os.environ, "YANEX_HEARTBEAT_INTERVAL": "0.2"}
    process = subprocess.Popen([sys.executable, "-m", "yanex", "run", str(script)], env=env, cwd=tmp_path)
    try:
        wait_until(lambda: count_points(yanex_home) > 1000, "points")
        counts = []
        for attempt in range(5):
            file = tmp_path / f"export-{attempt}.tar"
            ok(yanex_home, "export", "--all", "-o", str(file))
            copy = tmp_path / f"x{attempt}"
            copy.mkdir()
            with tarfile.open(file) as tar, tar.extractfile("yanex.db") as database:  # type: ignore[union-attr]
                (copy / "yanex.db").write_bytes(database.read())
            counts.append(rows(copy, "SELECT count(*) FROM metrics")[0][0])
            assert rows(copy, "SELECT experiment_id, sum(count) FROM metric_summary GROUP BY 1") == rows(
                copy,
                "SELECT e.id, count(*) FROM metrics AS m JOIN experiments AS e "
                "ON e.local_id = m.experiment_local_id GROUP BY 1",
            )
            assert rows(copy, "SELECT status FROM experiments") == [("running",)]
            # The next export is taken after more points went in (the ingest ticks every 0.5 s).
            wait_until(lambda: count_points(yanex_home) > counts[-1], "more points")
        assert counts == sorted(counts) and counts[-1] > counts[0]
    finally:
        stop.touch()
        assert process.wait(timeout=120) == 0


def test_export_and_import_from_python(tmp_path: Path) -> None:
    import yanex
    from yanex.store.differences import Verdict

    a, b, file = tmp_path / "a", tmp_path / "b", tmp_path / "pipe.tar"
    made = build(a)
    with at(a):
        exported = yanex.export(file, tags=["pipe"])
    assert (exported.experiments, exported.ancestors, exported.points) == (2, 0, 200)
    with at(b):
        done = yanex.import_(file)
        assert {d.id: d.verdict for d in done.decisions} == {
            made["train"]: Verdict.NEW,
            made["evaluate"]: Verdict.NEW,
        }
        assert [d.verdict for d in yanex.import_(str(file), kind="yanex").decisions] == [Verdict.SAME] * 2
