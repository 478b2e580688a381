"""Storage faults and settings yanex cannot use, through the real CLI in a subprocess: each ends in
one ``Error:``/``Hint:`` pair (or, for readers, a ``Note:``), never a traceback, and reads never
write."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from yanex.db.engine import Database
from yanex.db.schema import ensure_schema
from yanex.errors import DatabaseError

from .conftest import REPO_ROOT, yanex_cli

SCRIPT = "import yanex\nyanex.log_metrics({'loss': 0.5})\n"
# A row whose owner is gone (another host, heartbeat long stale): any writer marks it failed.
ORPHAN = (
    "INSERT INTO experiments (id, status, script_path, working_dir, script_args, config, spec_sha256, "
    "created_at, archived, owner_host, owner_pid, heartbeat_at) VALUES ('deadbeef', 'running', "
    "'/x.py', '/', '[]', '{}', 'x', '2026-01-01 00:00:00', 0, 'elsewhere', 1, '2026-01-01 00:00:00')"
)


def assert_error(result: subprocess.CompletedProcess[str], message: str, code: int = 1) -> None:
    assert result.returncode == code, (result.stdout, result.stderr)
    assert "\nError: " in "\n" + result.stderr and message in result.stderr, result.stderr
    assert "Hint: " in result.stderr
    assert "Traceback" not in result.stderr and "sqlalche.me" not in result.stderr


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@contextmanager
def read_only(path: Path) -> Iterator[None]:
    """``path`` (a file or a folder) read-only for yanex: by its mode, or for root, whom modes do
    not stop, by a read-only bind mount."""
    if os.geteuid() != 0:
        mode = path.stat().st_mode
        path.chmod(mode & ~0o222)
        try:
            yield
        finally:
            path.chmod(mode)
        return
    mounted = subprocess.run(["mount", "--bind", str(path), str(path)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"running as root without permission to mount: {mounted.stderr!r}")
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(path)], check=True, capture_output=True)
        yield
    finally:
        subprocess.run(["umount", str(path)], check=True)


@pytest.fixture
def home_with_orphan(yanex_home: Path, tmp_path: Path) -> Path:
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    assert yanex_cli("run", str(script), "--name", "done").returncode == 0
    conn = sqlite3.connect(yanex_home / "yanex.db", isolation_level=None)
    conn.execute(ORPHAN)
    conn.close()  # the last connection: the WAL is checkpointed and removed
    return yanex_home


def check_reads_show_the_orphan_as_recorded(home: Path) -> None:
    listed = yanex_cli("list", "--format", "json")
    assert listed.returncode == 0, listed.stderr
    assert {row["id"]: row["status"] for row in json.loads(listed.stdout)}["deadbeef"] == "running"
    assert "Note: the database is read-only" in listed.stderr and "deadbeef" in listed.stderr
    for args in (("show", "deadbeef"), ("compare", "--all"), ("get", "status", "deadbeef")):
        result = yanex_cli(*args)
        assert result.returncode == 0, (args, result.stderr)
        assert "Traceback" not in result.stderr
    assert yanex_cli("get", "status", "deadbeef").stdout.strip() == "running"


def test_reads_of_a_read_only_database_file_work_and_writes_say_why_not(
    home_with_orphan: Path, tmp_path: Path
) -> None:
    path = home_with_orphan / "yanex.db"
    before = digest(path)
    with read_only(path):
        check_reads_show_the_orphan_as_recorded(home_with_orphan)
        assert_error(yanex_cli("run", str(tmp_path / "train.py")), f"the database {path} is read-only")
        assert_error(yanex_cli("update", "done", "--add-tag", "x"), f"the database {path} is read-only")
    assert digest(path) == before


def test_reads_in_a_read_only_folder_work_and_writes_say_why_not(
    home_with_orphan: Path, tmp_path: Path
) -> None:
    path = home_with_orphan / "yanex.db"
    before = digest(path)
    with read_only(home_with_orphan):
        check_reads_show_the_orphan_as_recorded(home_with_orphan)
        assert yanex_cli("sql", "SELECT count(*) FROM experiments", "--format", "csv").stdout.split() == [
            "count(*)",
            "2",
        ]
        assert_error(yanex_cli("run", str(tmp_path / "train.py")), f"the database {path} is read-only")
    assert digest(path) == before


def test_a_damaged_file_is_an_error_and_db_check_reports_it(yanex_home: Path, tmp_path: Path) -> None:
    yanex_home.mkdir()
    path = yanex_home / "yanex.db"
    path.write_bytes(b"SQLite format 3\x00" + bytes(range(256)) * 40)
    before = digest(path)
    (tmp_path / "train.py").write_text(SCRIPT)
    for args in (("list",), ("run", str(tmp_path / "train.py")), ("sql", "SELECT 1")):
        assert_error(yanex_cli(*args), f"the database file {path} is damaged")
    check = yanex_cli("db", "check")
    assert check.returncode == 1
    assert "problem: the file is damaged: file is not a database" in check.stdout
    assert "Traceback" not in check.stderr
    assert yanex_cli("db", "path").stdout.strip() == str(path)
    assert digest(path) == before


def test_yanex_home_pointing_at_a_file_is_refused(yanex_home: Path, tmp_path: Path) -> None:
    yanex_home.write_text("not a folder")
    (tmp_path / "train.py").write_text(SCRIPT)
    for args in (("list",), ("run", str(tmp_path / "train.py"))):
        assert_error(yanex_cli(*args), f"YANEX_HOME is {yanex_home}, which is a file", code=2)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a url", "YANEX_DATABASE_URL is not a database URL"),
        ("postgresql://me:secret@db.example/yanex", "YANEX_DATABASE_URL names a postgresql database"),
        ("mysql+pymysql://me@db.example/yanex", "YANEX_DATABASE_URL names a mysql database"),
        ("sqlite+pysqlcipher:///{dir}/x.db", "asks for the SQLite driver 'pysqlcipher'"),
        ("sqlite://", "is an in-memory SQLite database"),
        ("sqlite:///:memory:", "is an in-memory SQLite database"),
        (
            "sqlite:///{dir}/missing/yanex.db",
            "YANEX_DATABASE_URL names a file in {dir}/missing, which is not",
        ),
    ],
)
def test_database_urls_yanex_cannot_keep_data_in_are_refused(
    url: str, message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("YANEX_DATABASE_URL", url.format(dir=tmp_path))
    (tmp_path / "train.py").write_text(SCRIPT)
    before = sorted(tmp_path.iterdir())
    for args in (("list",), ("run", str(tmp_path / "train.py")), ("db", "upgrade")):
        result = yanex_cli(*args)
        assert_error(result, message.format(dir=tmp_path), code=2)
        assert "secret" not in result.stderr
    assert sorted(tmp_path.iterdir()) == before  # no folder, no database file


def test_a_deleted_working_directory_is_an_error_for_run_and_harmless_for_list(
    yanex_home: Path, tmp_path: Path
) -> None:
    (tmp_path / "train.py").write_text(SCRIPT)
    assert yanex_cli("run", str(tmp_path / "train.py")).returncode == 0
    gone = tmp_path / "gone"
    gone.mkdir()
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}

    def in_gone(*args: str) -> subprocess.CompletedProcess[str]:
        command = f"cd {gone} && rmdir {gone} && exec {sys.executable} -m yanex " + " ".join(args)
        gone.mkdir(exist_ok=True)
        return subprocess.run(["sh", "-c", command], env=env, capture_output=True, text=True, timeout=120)

    listed = in_gone("list")
    assert listed.returncode == 0 and "completed" in listed.stdout, listed.stderr
    assert_error(in_gone("run", str(tmp_path / "train.py")), "the current directory no longer exists")
    assert len(json.loads(yanex_cli("list", "--format", "json").stdout)) == 1  # nothing half-written


def test_reads_of_a_missing_database_say_so_and_create_nothing(yanex_home: Path) -> None:
    for args in (("list",), ("show", "abc"), ("compare",), ("get", "id"), ("sql", "SELECT 1")):
        assert_error(yanex_cli(*args), f"there is no yanex database at {yanex_home / 'yanex.db'} yet")
    assert not yanex_home.exists()
    import yanex
    from yanex.errors import NoDatabaseError

    with pytest.raises(NoDatabaseError):
        yanex.find()


def test_yanex_sql_never_upgrades_an_old_database(yanex_home: Path) -> None:
    yanex_home.mkdir()
    path = yanex_home / "yanex.db"
    shutil.copy(REPO_ROOT / "tests" / "data" / "yanex-0001.db", path)
    before = digest(path)
    result = yanex_cli("sql", "SELECT count(*) FROM experiments")
    assert_error(result, f"the database {path} has schema revision 0001, older than")
    assert digest(path) == before
    assert not (yanex_home / "yanex.db.lock").exists()  # no upgrade even began


@pytest.mark.parametrize(
    ("make", "message"),
    [
        ("CREATE VIEW numbers AS SELECT 1 AS n", "is not a yanex database (it has views numbers)"),
        (
            "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)",
            "is not a yanex database (its alembic_version table is empty)",
        ),
    ],
)
def test_a_foreign_file_without_tables_of_its_own_is_refused_untouched(
    make: str, message: str, yanex_home: Path
) -> None:
    yanex_home.mkdir()
    path = yanex_home / "yanex.db"
    with sqlite3.connect(path) as conn:
        conn.execute(make)
    conn.close()
    before = digest(path)
    assert_error(yanex_cli("db", "upgrade"), f"{path} {message}")
    with pytest.raises(DatabaseError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ensure_schema(Database().url)
    assert digest(path) == before


def test_a_full_disk_under_the_database_is_one_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database alone on a 1 MB tmpfs (the journals stay on the normal disk)."""
    disk = tmp_path / "small-disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr!r}")
    try:
        monkeypatch.setenv("YANEX_DATABASE_URL", f"sqlite:///{disk}/yanex.db")
        script = tmp_path / "flood.py"
        script.write_text("import yanex\nfor i in range(60_000):\n    yanex.log_metrics({'a': i, 'b': i})\n")
        result = yanex_cli("run", str(script), timeout=300)
        assert_error(result, f"the disk holding {disk / 'yanex.db'} is full")

        # Readers still read, with a note, although rows of dead owners cannot be marked failed.
        with sqlite3.connect(disk / "yanex.db", isolation_level=None) as conn:
            conn.execute("UPDATE experiments SET status = 'running', heartbeat_at = '2026-01-01 00:00:00'")
        (disk / "filler").write_bytes(b"")
        with contextlib.suppress(OSError), (disk / "filler").open("ab") as filler:
            while True:
                filler.write(b"\0" * 4096)
                filler.flush()
        listed = yanex_cli("list", "--format", "json")
        assert listed.returncode == 0, listed.stderr
        assert [row["status"] for row in json.loads(listed.stdout)] == ["running"]
        assert f"Note: the disk holding {disk / 'yanex.db'} is full" in listed.stderr
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=True)


def test_a_database_url_into_a_missing_folder_creates_no_folder_from_python(tmp_path: Path) -> None:
    from yanex.errors import ConfigError
    from yanex.store.experiments import heartbeat

    missing = tmp_path / "missing"
    with pytest.raises(ConfigError, match="which is not an existing folder"):
        heartbeat(Database(f"sqlite:///{missing}/yanex.db"), ["nothing"])
    assert not missing.exists()


def shell(command: str, buffered: bool = True) -> subprocess.CompletedProcess[str]:
    """``command`` in a shell; yanex's stdout buffered as a user's Python is, unless not ``buffered``
    (``PYTHONUNBUFFERED``: then a failed write fails at once, not at the final flush)."""
    env = {name: value for name, value in os.environ.items() if name != "PYTHONUNBUFFERED"}
    env = env if buffered else {**env, "PYTHONUNBUFFERED": "1"}
    return subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=120, env=env)


@pytest.mark.parametrize("buffered", [True, False], ids=["buffered", "unbuffered"])
@pytest.mark.parametrize("command", [["list", "--format", "json"], ["sql", "SELECT * FROM experiments"]])
def test_output_to_a_full_device_is_one_clear_error(
    yanex_home: Path, tmp_path: Path, command: list[str], buffered: bool
) -> None:
    """The query commands' fast path and Typer's path alike, however Python buffers stdout."""
    (tmp_path / "train.py").write_text(SCRIPT)
    assert yanex_cli("run", str(tmp_path / "train.py")).returncode == 0
    argv = " ".join(f"'{arg}'" for arg in command)
    assert_error(shell(f"{sys.executable} -m yanex {argv} >/dev/full", buffered), "no space left writing")


def test_closed_stdout_neither_crashes_a_run_nor_leaves_its_row_running(
    yanex_home: Path, tmp_path: Path
) -> None:
    (tmp_path / "chatty.py").write_text("for i in range(100):\n    print('line', i)\n")
    run = shell(f"{sys.executable} -m yanex run {tmp_path / 'chatty.py'} >&-")
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    listed = shell(f"{sys.executable} -m yanex list >&-")
    assert listed.returncode == 0 and "Traceback" not in listed.stderr, listed.stderr
    [row] = json.loads(yanex_cli("list", "--format", "json").stdout)
    assert row["status"] == "completed"
    [log] = (yanex_home / "experiments").glob("*/stdout.log")
    assert log.read_text().count("line") == 100


@pytest.mark.parametrize("value", ["soon", "0", "inf", "nan"])
@pytest.mark.parametrize(
    "name", ["YANEX_LOCK_NOTICE_SECONDS", "YANEX_HEARTBEAT_INTERVAL", "YANEX_STALE_AFTER"]
)
def test_an_unusable_interval_setting_is_refused(
    name: str, value: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(name, value)
    (tmp_path / "train.py").write_text(SCRIPT)
    assert_error(yanex_cli("run", str(tmp_path / "train.py")), f"{name} must be", code=2)
