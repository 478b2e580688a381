"""Schema creation and upgrades on real SQLite files: old revisions, concurrent first use, refusals."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from typer.testing import CliRunner

from tests.stored import get_experiment, get_metrics
from yanex import config
from yanex.cli.app import app
from yanex.db.connections import create_sqlite_engine, open_read_only
from yanex.db.engine import Database
from yanex.db.models import Base
from yanex.db.schema import head_revision, known_revisions
from yanex.errors import DatabaseError
from yanex.runner.environment import this_process
from yanex.specs import EnvironmentInfo, ExperimentSpec, GitInfo, OmittedChange, Status
from yanex.store.experiments import create_experiments
from yanex.store.reading import reading
from yanex.store.references import resolve_reference

DATA = Path(__file__).parent / "data"
# One database per schema revision, each made by that revision's yanex and frozen; a revision that
# changes the schema adds its own file here.
FROZEN = sorted(DATA.glob("yanex-*.db"))


def dump(path: Path) -> dict[str, tuple[list[str], list[tuple[Any, ...]]]]:
    """Every table's and view's columns and rows, read-only (a table may become a view:
    latest_metrics in revision 0007)."""
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        tables = [
            r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")
        ]
        out = {}
        for table in tables:
            columns = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
            rows = conn.execute(f"SELECT * FROM {table}").fetchall()
            out[table] = (columns, sorted(rows, key=repr))
        return out
    finally:
        conn.close()


def new_experiment(db: Database, name: str = "x") -> str:
    [experiment_id] = create_experiments(
        db,
        [ExperimentSpec(script_path=Path("train.py"), name=name, config={"lr": 0.1}, tags=["t"])],
        status=Status.CREATED,
        owner=this_process(),
        git=GitInfo(),
        environment=EnvironmentInfo(),
    )
    return experiment_id


def test_there_is_a_frozen_database_for_the_first_revision() -> None:
    assert DATA / "yanex-0001.db" in FROZEN
    assert {re.fullmatch(r"yanex-(\d{4})\.db", p.name).group(1) for p in FROZEN} <= set(known_revisions())  # type: ignore[union-attr]


@pytest.mark.parametrize("frozen", FROZEN, ids=lambda p: p.name)
def test_frozen_database_upgrades_with_every_row_intact(frozen: Path, yanex_home: Path) -> None:
    yanex_home.mkdir()
    path = yanex_home / "yanex.db"
    shutil.copyfile(frozen, path)
    before = dump(path)
    revision = frozen.stem.removeprefix("yanex-")
    assert before["alembic_version"][1] == [(revision,)]
    assert all(rows for _, rows in before.values()), "a frozen database needs rows in every table"

    columns = before["experiments"][0]
    experiment_ids = [row[columns.index("id")] for row in before["experiments"][1]]
    db = Database()
    _ = db.identity  # opens: upgrades
    after = dump(path)
    assert after["alembic_version"][1] == [(head_revision(),)]
    full_ids = _extended_ids(before, after)
    views = [get_experiment(db, full_ids[old]) for old in experiment_ids]
    with reading(db, settle=False) as conn:  # every id users wrote down still names its experiment
        assert {old: resolve_reference(conn, old) for old in full_ids if old in experiment_ids} == {
            old: full_ids[old] for old in experiment_ids
        }
    after = _as_written_before(after, full_ids)
    for table, (columns, rows) in before.items():
        if table == "alembic_version":
            continue
        new_columns, new_rows = after[table]
        kept = [new_columns.index(column) for column in columns]
        assert sorted((tuple(row[i] for i in kept) for row in new_rows), key=repr) == rows, table

    # The store reads the old rows and writes new ones next to them.
    tags = before["tags"][1]
    shortened = {full: old for old, full in full_ids.items()}
    assert sorted((shortened[view.id], tag) for view in views for tag in view.tags) == sorted(tags)
    points = sum(len(get_metrics(db, view.id)) for view in views)
    assert points == len(before["metrics"][1])
    added = new_experiment(db)
    assert get_experiment(db, added).config == {"lr": 0.1}
    db.dispose()


def _extended_ids(before: dict[str, Any], after: dict[str, Any]) -> dict[str, str]:
    """Revision 0013 made each 8-digit id 32 digits long, keeping it as the new id's prefix."""
    tables = ("experiments", "batches")
    old = [row[before[table][0].index("id")] for table in tables for row in before[table][1]]
    new = [row[after[table][0].index("id")] for table in tables for row in after[table][1]]
    assert all(re.fullmatch(r"[0-9a-f]{32}", full) for full in new)
    if all(len(short) == 32 for short in old):  # written at revision 0013 or later: kept as they were
        return {full: full for full in new}
    extended = {full[:8]: full for full in new}
    assert sorted(extended) == sorted(old)
    return extended


def _as_written_before(after: dict[str, Any], full_ids: dict[str, str]) -> dict[str, Any]:
    """The upgraded tables with ids shortened back and metrics naming experiments by id, as before
    revision 0013, so that every old row can be compared with what it became."""
    shortened = {full: short for short, full in full_ids.items()}
    columns, rows = after["experiments"]
    by_key = {row[columns.index("local_id")]: row[columns.index("id")] for row in rows}
    out = {}
    for table, (columns, rows) in after.items():
        rows = [tuple(shortened.get(value, value) for value in row) for row in rows]
        if table == "metrics":
            key = columns.index("experiment_local_id")
            columns = [*columns, "experiment_id"]
            rows = [(*row, shortened[by_key[row[key]]]) for row in rows]
        out[table] = (columns, rows)
    return out


FIRST_USE = """
import sys, time
from pathlib import Path
from yanex.db.connections import create_sqlite_engine, open_read_only
from yanex.db.engine import Database
from yanex.runner.environment import this_process
from yanex.specs import EnvironmentInfo, ExperimentSpec, GitInfo, Status
from yanex.store.experiments import create_experiments

go = Path(sys.argv[1])
Path(sys.argv[2]).touch()
while not go.exists():
    time.sleep(0.001)
create_experiments(
    Database(),
    [ExperimentSpec(script_path=Path("train.py"), name=sys.argv[3])],
    status=Status.CREATED, owner=this_process(), git=GitInfo(), environment=EnvironmentInfo(),
)
print("ok")
"""


@pytest.mark.slow
def test_sixteen_processes_doing_first_use_at_once(tmp_path: Path, yanex_home: Path) -> None:
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", FIRST_USE, str(go), str(tmp_path / f"ready-{i}"), f"worker-{i}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(16)
    ]
    try:
        deadline = time.monotonic() + 120
        while len(list(tmp_path.glob("ready-*"))) < 16:
            assert time.monotonic() < deadline, "workers did not start"
            assert all(p.poll() is None for p in procs), [
                p.communicate() for p in procs if p.poll() is not None
            ]
            time.sleep(0.01)
        assert not (yanex_home / "yanex.db").exists()
        go.touch()
        results = [p.communicate(timeout=120) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert [p.returncode for p in procs] == [0] * 16, [err for _, err in results if err]
    assert [out for out, _ in results] == ["ok\n"] * 16
    tables = dump(yanex_home / "yanex.db")
    assert tables["alembic_version"][1] == [(head_revision(),)]
    assert len(tables["experiments"][1]) == 16


def _foreign_sqlite(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT)")
    conn.execute("INSERT INTO users (email) VALUES ('someone@example.com')")
    conn.commit()
    conn.close()


def _foreign_alembic(path: Path) -> None:
    _foreign_sqlite(path)
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
    conn.execute("INSERT INTO alembic_version VALUES ('3f2a9c1b7d4e')")
    conn.commit()
    conn.close()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.write_bytes(os.urandom(4096)), "is not a SQLite database"),
        (lambda p: p.write_text("name,score\nalice,3\n"), "is not a SQLite database"),
        (_foreign_sqlite, "is not a yanex database (it has tables users)"),
        (_foreign_alembic, "is not a yanex database (its schema revision '3f2a9c1b7d4e' is not yanex's)"),
    ],
    ids=["random-bytes", "text", "foreign-tables", "foreign-alembic"],
)
def test_foreign_file_is_refused_and_left_untouched(
    make, message: str, yanex_home: Path, write_script
) -> None:
    yanex_home.mkdir()
    path = yanex_home / "yanex.db"
    make(path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    listing = sorted(p.name for p in yanex_home.iterdir())

    with pytest.raises(DatabaseError, match=re.escape(message)):
        _ = Database().identity
    result = CliRunner().invoke(app, ["run", str(write_script("s.py", "print('never runs')\n"))])
    assert result.exit_code == 1
    assert message in result.stderr and "Hint: set YANEX_HOME or YANEX_DATABASE_URL" in result.stderr
    assert "Traceback" not in result.output and "never runs" not in result.output

    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
    assert sorted(p.name for p in yanex_home.iterdir()) == listing


def test_newer_database_is_refused_naming_the_fix(yanex_home: Path, write_script) -> None:
    db = Database()
    new_experiment(db)
    db.dispose()
    path = yanex_home / "yanex.db"
    conn = sqlite3.connect(path)
    conn.execute("UPDATE alembic_version SET version_num = '9999'")
    conn.commit()
    conn.close()
    digest = hashlib.sha256(path.read_bytes()).hexdigest()

    with pytest.raises(
        DatabaseError, match="has schema revision 9999, newer than this yanex knows"
    ) as caught:
        _ = Database().identity
    assert caught.value.hint == (
        "update your yanex checkout (git pull) and reinstall it, in the checkout's folder: pip install -e ."
    )
    result = CliRunner().invoke(app, ["run", str(write_script("s.py", "print('never runs')\n"))])
    assert result.exit_code == 1
    assert "newer than this yanex knows" in result.stderr
    assert "Hint: update your yanex checkout (git pull)" in result.stderr
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest


def test_migrated_schema_matches_the_models(db: Database) -> None:
    new_experiment(db)
    engine = create_sqlite_engine(db.url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "render_as_batch": True}
            )
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()


def test_pragmas_are_on(db: Database) -> None:
    with db.write() as conn:
        pragma = {
            name: conn.execute(f"PRAGMA {name}").fetchone()[0]
            for name in ("journal_mode", "foreign_keys", "busy_timeout", "synchronous")
        }
    assert pragma == {"journal_mode": "wal", "foreign_keys": 1, "busy_timeout": 60_000, "synchronous": 1}


def test_read_only_connections_wait_for_writers_and_cannot_write(db: Database) -> None:
    new_experiment(db)
    path = Path(config.yanex_home()) / "yanex.db"
    conn = open_read_only(path)
    try:
        assert conn.execute("PRAGMA busy_timeout").fetchone() == (60_000,)
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            conn.execute("DELETE FROM experiments")
    finally:
        conn.close()


def test_an_open_reader_does_not_block_a_writer(db: Database) -> None:
    first = new_experiment(db, "first")
    with reading(db) as conn:
        assert conn.execute("SELECT count(*) FROM experiments").fetchone()[0] == 1
        second = new_experiment(db, "second")  # another connection writes while the snapshot is open
        assert conn.execute("SELECT count(*) FROM experiments").fetchone()[0] == 1
    assert {get_experiment(db, i).name for i in (first, second)} == {"first", "second"}


def test_foreign_keys_cascade(db: Database) -> None:
    experiment_id = new_experiment(db)
    with db.write() as conn:
        conn.execute("DELETE FROM experiments WHERE id = ?", (experiment_id,))
    with reading(db) as conn:
        assert conn.execute("SELECT count(*) FROM tags").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM params").fetchone()[0] == 0


def test_database_url_overrides_the_home_location(tmp_path: Path, yanex_home: Path, monkeypatch) -> None:
    elsewhere = tmp_path / "elsewhere" / "store.db"
    elsewhere.parent.mkdir()
    monkeypatch.setenv("YANEX_DATABASE_URL", f"sqlite:///{elsewhere}")
    db = Database()
    new_experiment(db)
    db.dispose()
    assert dump(elsewhere)["alembic_version"][1] == [(head_revision(),)]
    assert not (yanex_home / "yanex.db").exists()


def test_new_databases_give_the_pages_of_deleted_rows_back(db: Database) -> None:
    new_experiment(db)
    with reading(db) as conn:
        assert conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 2  # INCREMENTAL


def _downgrade(url: str, revision: str) -> None:
    """Run alembic itself (yanex only ever upgrades), foreign keys off as yanex migrates."""
    from alembic import command
    from alembic.config import Config

    from yanex.db.connections import create_sqlite_engine
    from yanex.db.schema import migrations_dir

    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    engine = create_sqlite_engine(url, foreign_keys=False)
    try:
        with engine.begin() as connection:
            cfg.attributes["connection"] = connection
            command.downgrade(cfg, revision)
    finally:
        engine.dispose()


GIT_CAPTURE_COLUMNS = {
    "git_patch_omitted",
    "git_commit_message",
    "git_author_name",
    "git_author_email",
    "git_remotes",
    "git_commit_on_remote",
}


def test_git_capture_revision_downgrades_and_upgrades_keeping_rows(yanex_home: Path) -> None:
    db = Database()
    git = GitInfo(
        commit="c" * 40,
        branch="main",
        dirty=True,
        patch="diff --git a/a.py b/a.py\n",
        commit_message="Tune\n\nbody",
        author_name="Ada",
        author_email="ada@example.com",
        remotes={"origin": "https://example.com/x.git"},
        commit_on_remote=True,
        omitted=[OmittedChange(path=".env", reason="its name looks like a secret file")],
    )
    [experiment_id] = create_experiments(
        db,
        [ExperimentSpec(script_path=Path("train.py"), name="kept")],
        status=Status.CREATED,
        owner=this_process(),
        git=git,
        environment=EnvironmentInfo(),
    )
    assert get_experiment(db, experiment_id).git == git
    db.dispose()
    path = yanex_home / "yanex.db"

    _downgrade(config.database_url(), "0003")
    columns, rows = dump(path)["experiments"]
    assert not GIT_CAPTURE_COLUMNS & set(columns)
    [row] = rows
    assert (row[columns.index("name")], row[columns.index("git_commit")]) == ("kept", "c" * 40)

    db = Database()  # upgrades again on first use, extending the 8-digit id it was shortened to
    with reading(db) as conn:
        [(extended,)] = conn.execute("SELECT id FROM experiments").fetchall()
    assert extended[:8] == experiment_id[:8] and extended != experiment_id
    view = get_experiment(db, extended)
    assert (view.name, view.git.commit, view.git.patch) == ("kept", "c" * 40, git.patch)
    assert (view.git.commit_message, view.git.remotes, view.git.omitted) == (None, {}, [])
    assert set(dump(path)["experiments"][0]) >= GIT_CAPTURE_COLUMNS
    db.dispose()


def test_rows_from_revision_0002_are_never_ingested_again(yanex_home: Path) -> None:
    """Their journals were ingested by an older yanex, which kept no offset: revision 0003 marks
    the offset unknown (NULL), and `yanex db repair` leaves them alone instead of doubling them."""
    from yanex.store.reconcile import repair

    yanex_home.mkdir()
    path = yanex_home / "yanex.db"
    shutil.copyfile(DATA / "yanex-0002.db", path)
    before = dump(path)["metrics"][1]
    ids = [row[0] for row in dump(path)["experiments"][1]]
    for experiment_id in ids:
        folder = config.experiment_dir(experiment_id)
        folder.mkdir(parents=True)
        (folder / config.METRICS_FILE).write_text('{"step": 0, "t": 1.0, "values": {"m": 1}}\n')
    db = Database()
    report = repair(db)
    db.dispose()
    assert (report.experiments, report.points) == (0, 0)
    after = dump(path)
    assert [row[2:] for row in after["metrics"][1]] == [row[2:] for row in before]  # all but the experiment
    columns, rows = after["experiments"]
    assert {row[columns.index("metrics_offset")] for row in rows} == {None}
    # Revision 0013 extended the ids; each folder took its experiment's new name.
    full = sorted(row[columns.index("id")] for row in rows)
    assert sorted(short[:8] for short in full) == sorted(ids)
    assert sorted(p.name for p in config.experiments_root().iterdir()) == full


def test_metric_inserts_pay_for_no_index_on_the_key_alone(db: Database) -> None:
    """Revision 0005: points are read per experiment; an index on `key` alone only slowed ingest."""
    new_experiment(db)
    with reading(db) as conn:
        indexes = {row[1] for row in conn.execute("PRAGMA index_list('metrics')")}
    assert indexes == {"ix_metrics_experiment_local_id_key_step_value"}
    db.dispose()


def test_environments_revision_downgrades_and_upgrades_keeping_rows(yanex_home: Path) -> None:
    """0018 rebuilds experiments both ways (its views dropped and made again): every row stays."""
    yanex_home.mkdir()
    path = yanex_home / "yanex.db"
    shutil.copyfile(DATA / "yanex-0018.db", path)
    before = dump(path)
    _downgrade(config.database_url(), "0017")
    after = dump(path)
    assert "environments" not in after and "environment_sha256" not in after["experiments"][0]
    assert {name for name in before if name != "environments"} == set(after)
    columns = after["experiments"][0]
    kept = [before["experiments"][0].index(column) for column in columns]
    assert (
        sorted((tuple(row[i] for i in kept) for row in before["experiments"][1]), key=repr)
        == (after["experiments"][1])
    )
    assert after["experiment_summary"][1] == before["experiment_summary"][1]
    db = Database()  # upgrades again on first use
    _ = db.identity
    db.dispose()
    upgraded = dump(path)
    assert upgraded["environments"] == (before["environments"][0], [])
    assert upgraded["experiment_summary"][1] == before["experiment_summary"][1]
