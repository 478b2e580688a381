"""Artifact storage: contents stored once, freed exactly when no experiment refers to them, never
half-written, never collected under a script that is saving; their journal lines ingested once."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

import pytest
from typer.testing import CliRunner

import yanex
from tests.conftest import wait_until, yanex_cli
from tests.stored import run_id
from tests.test_schema import new_experiment
from yanex import config
from yanex.artifacts import blobs, lines
from yanex.artifacts.collect import collect
from yanex.artifacts.transfer import PART, FolderSource, copy_blobs
from yanex.cli.app import app
from yanex.db.engine import Database
from yanex.store.ingest import JournalIngest

runner = CliRunner()
MB = 1024 * 1024


def run(script: Path, *args: str) -> str:
    done = yanex_cli("run", str(script), *args, cwd=script.parent)
    assert done.returncode == 0, done.stderr
    return run_id(done.stderr)


def blob_names() -> set[str]:
    root = config.blobs_root()
    return {p.name for p in root.glob("??/*")} if root.is_dir() else set()


def rows(query: str, *args: object) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(config.yanex_home() / "yanex.db")
    try:
        return conn.execute(query, args).fetchall()
    finally:
        conn.close()


def disk_usage(root: Path) -> int:
    """Bytes allocated under ``root``, each inode once (as du counts hard links)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for path in root.rglob("*"):
        status = path.lstat()
        if path.is_file() and (status.st_dev, status.st_ino) not in seen:
            seen.add((status.st_dev, status.st_ino))
            total += status.st_blocks * 512
    return total


@pytest.mark.slow
def test_twenty_saves_of_the_same_50_mb_file_take_50_mb(
    write_script, tmp_path: Path, yanex_home: Path
) -> None:
    data = tmp_path / "checkpoint.bin"
    data.write_bytes(os.urandom(50 * MB))
    script = write_script(
        "save.py",
        "import sys, yanex\nfor i in range(5):\n    yanex.log_artifact(sys.argv[1], f'copy{i}.bin')\n",
    )
    experiments = [run(script, "--", str(data)) for _ in range(4)]  # 20 saves in all
    assert len(rows("SELECT * FROM artifacts")) == 20
    assert rows("SELECT sum(size) FROM artifacts") == [(20 * 50 * MB,)]
    used = disk_usage(yanex_home)
    assert 50 * MB <= used < 55 * MB, used
    # Every view is the one blob, by name, and reads back as what was saved.
    digest = hashlib.sha256(data.read_bytes()).hexdigest()
    assert blob_names() == {digest}
    assert yanex.artifact_path("copy3.bin", experiments[2]).read_bytes() == data.read_bytes()


SAVE_TWO = """
import sys, yanex
yanex.save_artifact("shared content", "shared.txt")
yanex.save_artifact(f"only {sys.argv[1]}", "own.txt")
"""


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_delete_frees_exactly_the_blobs_only_the_deleted_experiments_referenced(write_script) -> None:
    script = write_script("two.py", SAVE_TWO)
    first, second = run(script, "--", "first"), run(script, "--", "second")
    assert blob_names() == {sha("shared content"), sha("only first"), sha("only second")}
    done = runner.invoke(app, ["delete", first, "--yes"])
    assert done.exit_code == 0, done.output
    assert f"Freed {len('only first')} B of artifact storage." in done.stderr
    assert blob_names() == {sha("shared content"), sha("only second")}
    assert yanex.load_artifact("shared.txt", second) == "shared content"
    assert runner.invoke(app, ["delete", second, "--yes"]).exit_code == 0
    assert blob_names() == set()
    assert rows("SELECT count(*) FROM artifacts") == [(0,)]


def test_gc_frees_blobs_nothing_refers_to_and_says_how_much(write_script, yanex_home: Path) -> None:
    kept = run(write_script("keep.py", "import yanex\nyanex.save_artifact('kept', 'k.txt')\n"))
    root = config.blobs_root()
    # What a saver killed after publishing its blob (before its journal line) leaves: an unreferenced
    # blob; and one killed while writing: a temp file.
    orphan = blobs.store_written(root, lambda path: path.write_bytes(b"x" * 3000))
    (root / f"{blobs.TEMP_PREFIX}999-abc").write_bytes(b"y" * 1000)
    dry = yanex_cli("gc", "--dry-run")
    assert dry.returncode == 0
    assert dry.stdout == "Would free 3.9 KiB: 1 unreferenced blob and 1 file of interrupted saves.\n"
    assert orphan.sha256 in blob_names()
    done = yanex_cli("gc")
    assert done.stdout == "Freed 3.9 KiB: 1 unreferenced blob and 1 file of interrupted saves.\n"
    assert blob_names() == {sha("kept")}
    assert not list(root.glob(f"{blobs.TEMP_PREFIX}*"))
    assert yanex.load_artifact("k.txt", kept) == "kept"
    assert yanex_cli("gc").stdout == "Freed 0 B: 0 unreferenced blobs.\n"


# A save that lasts as long as the test feeds it: a JSON list whose items are read from a FIFO
# (log_artifact refuses a FIFO: it stores regular files only).
FROM_FIFO = """
import os, sys, yanex

class Streamed(list):  # its items come from the FIFO, not from the list
    def __iter__(self):
        with open(sys.argv[1], "rb") as feed:
            while chunk := feed.read(65536):
                yield chunk.hex()

yanex.save_artifact("before", "before.txt")
open(sys.argv[2], "w").write(str(os.getpid()))
yanex.save_artifact(Streamed([None]), "streamed.json")  # not empty: json.dump iterates it
print("saved")
"""


def start_fifo_save(write_script, tmp_path: Path) -> tuple[subprocess.Popen[str], Path, int, BinaryIO]:
    """``yanex run`` of a script that saves an artifact read from a FIFO the test feeds: the save
    is mid-way for as long as the test wants. Returns the run, the pid file, the script's pid and
    the FIFO's write end."""
    fifo = tmp_path / "feed"
    os.mkfifo(fifo)
    pid_file = tmp_path / "pid"
    script = write_script("fifo.py", FROM_FIFO)
    process = subprocess.Popen(
        [sys.executable, "-m", "yanex", "run", str(script), "--", str(fifo), str(pid_file)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    feed = open(fifo, "wb")  # noqa: SIM115 (blocks until the script opens it for reading)
    wait_until(lambda: pid_file.exists() and pid_file.read_text(), "the script's pid")
    return process, pid_file, int(pid_file.read_text()), feed


def temp_files() -> list[Path]:
    return list(config.blobs_root().glob(f"{blobs.TEMP_PREFIX}*"))


def test_sigkill_mid_save_leaves_no_referenced_partial_file(write_script, tmp_path: Path) -> None:
    process, _, pid, feed = start_fifo_save(write_script, tmp_path)
    with feed:
        feed.write(os.urandom(4 * MB))
        feed.flush()
        wait_until(lambda: any(p.stat().st_size > 0 for p in temp_files()), "a partial temp file")
        os.kill(pid, signal.SIGKILL)
    process.communicate(timeout=120)
    [experiment] = [str(row[0]) for row in rows("SELECT id FROM experiments")]
    assert rows("SELECT status FROM experiments") == [("failed",)]
    assert yanex.list_artifacts(experiment) == ["before.txt"]
    journal = (config.experiment_dir(experiment) / config.METRICS_FILE).read_bytes()
    assert b"streamed.json" not in journal
    assert blob_names() == {sha("before")}
    assert not (config.artifacts_view(experiment) / "streamed.json").exists()
    # The partial file is no artifact: gc frees it.
    assert len(temp_files()) == 1
    assert "1 file of interrupted saves" in yanex_cli("gc").stdout
    assert temp_files() == [] and blob_names() == {sha("before")}


def blocked_on_a_lock(pid: int) -> bool:
    """Whether process ``pid`` waits for a file lock (blocked requests show as ``->`` in /proc/locks)."""
    return any("->" in line and f" {pid} " in line for line in Path("/proc/locks").read_text().splitlines())


def test_gc_waits_for_a_save_in_progress_and_removes_nothing_of_it(write_script, tmp_path: Path) -> None:
    process, _, _, feed = start_fifo_save(write_script, tmp_path)
    content = os.urandom(3 * MB)
    with feed:
        feed.write(content[:MB])
        feed.flush()
        wait_until(lambda: any(p.stat().st_size > 0 for p in temp_files()), "a partial temp file")
        gc = subprocess.Popen(
            [sys.executable, "-m", "yanex", "gc"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        wait_until(lambda: blocked_on_a_lock(gc.pid) or gc.poll() is not None, "gc to reach the blob lock")
        assert gc.poll() is None, gc.communicate()  # it waits for the save to finish
        assert len(temp_files()) == 1
        feed.write(content[MB:])
    out, err = gc.communicate(timeout=120)
    assert gc.returncode == 0, err
    assert out == "Freed 0 B: 0 unreferenced blobs.\n"
    assert process.communicate(timeout=120)[0] == "saved\n" and process.returncode == 0
    [experiment] = [str(row[0]) for row in rows("SELECT id FROM experiments")]
    assert "".join(yanex.load_artifact("streamed.json", experiment)) == content.hex()


MANY = """
import yanex
for i in range(300):
    yanex.save_artifact(f"content {i % 100}", f"a{i}.txt")
"""


@pytest.mark.slow
def test_gc_running_all_along_never_removes_what_a_live_script_saves(write_script, db: Database) -> None:
    script = write_script("many.py", MANY)
    stop = threading.Event()
    rounds = 0

    def collect_in_a_loop() -> None:
        nonlocal rounds
        while not stop.is_set():
            if db.exists():
                collect(db)
                rounds += 1

    collector = threading.Thread(target=collect_in_a_loop)
    collector.start()
    try:
        experiment = run(script)
    finally:
        stop.set()
        collector.join()
    assert rounds > 0
    collect(db)
    assert len(yanex.list_artifacts(experiment)) == 300
    for i in (0, 99, 150, 299):
        assert yanex.load_artifact(f"a{i}.txt", experiment) == f"content {i % 100}"
    assert blob_names() == {sha(f"content {i}") for i in range(100)}


def test_artifact_lines_are_ingested_once_by_any_number_of_ingesters(db: Database) -> None:
    experiment = new_experiment(db)
    journal = config.experiment_dir(experiment) / config.METRICS_FILE
    journal.parent.mkdir(parents=True)
    first, second = "a" * 64, "b" * 64
    with journal.open("ab") as handle:
        handle.write(b'{"step":0,"t":1700000000.0,"values":{"loss":1.0}}\n')
        handle.write(lines.encode("model.pt", first, 10, "application/x-pytorch", 1700000001.0))
        handle.write(b'{"artifact": "not a record"}\n')
        handle.write(lines.encode("model.pt", second, 20, "application/x-pytorch", 1700000002.0))
    one, two = JournalIngest(db, experiment), JournalIngest(db, experiment)
    one.drain()
    two.drain()
    JournalIngest(db, experiment).drain()
    assert rows("SELECT name, sha256, size, created_at FROM artifacts") == [
        ("model.pt", second, 20, "2023-11-14 22:13:22.000000")
    ]
    assert one.skipped + two.skipped == 1
    assert rows("SELECT count(*) FROM metrics") == [(1,)]


def test_artifact_rows_go_with_their_experiment(write_script) -> None:
    experiment = run(write_script("one.py", "import yanex\nyanex.save_artifact([1], 'a.json')\n"))
    conn = sqlite3.connect(config.yanex_home() / "yanex.db")
    try:
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("DELETE FROM experiments WHERE id LIKE ? || '%'", (experiment,))  # its first 8 digits
        conn.commit()
        assert conn.execute("SELECT count(*) FROM artifacts").fetchone() == (0,)
    finally:
        conn.close()


@pytest.mark.slow
def test_files_scripts_left_in_their_folder_become_artifacts_on_upgrade(yanex_home: Path) -> None:
    """Before revision 0008 a script could only write into $YANEX_EXPERIMENT_DIR; upgrading a
    0005 database records those files as artifacts, takes no more space, and leaves yanex's own."""
    import shutil

    from tests.test_schema import DATA

    yanex_home.mkdir()
    shutil.copyfile(DATA / "yanex-0005.db", yanex_home / "yanex.db")
    experiment = str(rows("SELECT id FROM experiments ORDER BY id")[0][0])
    folder = config.experiment_dir(experiment)
    (folder / "plots").mkdir(parents=True)
    for own in (config.CONFIG_FILE, config.METRICS_FILE, config.STDOUT_FILE, config.OUTCOME_FILE):
        (folder / own).write_text("{}\n")
    (folder / "model.bin").write_bytes(b"\x00weights" * 1000)
    (folder / "plots" / "loss.svg").write_text("<svg/>")
    assert rows("SELECT version_num FROM alembic_version") == [("0005",)]
    yanex.list_artifacts(experiment)  # the first use upgrades, extends the id and renames the folder
    assert not folder.exists()
    [(full,)] = rows("SELECT id FROM experiments WHERE id LIKE ? || '%'", experiment)
    folder = config.experiment_dir(str(full))
    assert rows("SELECT name, size, media_type FROM artifacts ORDER BY name") == [
        ("model.bin", 8000, "application/octet-stream"),
        ("plots/loss.svg", 6, "image/svg+xml"),
    ]
    assert yanex.load_artifact("model.bin", experiment) == b"\x00weights" * 1000
    assert yanex.load_artifact("plots/loss.svg", experiment) == b"<svg/>"
    blob = blobs.blob_path(config.blobs_root(), hashlib.sha256(b"<svg/>").hexdigest())
    assert blob.stat().st_ino == (folder / "plots" / "loss.svg").stat().st_ino  # linked, not copied
    assert (folder / "model.bin").is_file()


def test_a_content_copied_between_stores_in_parts_is_published_only_if_it_is_the_one_named(
    tmp_path: Path,
) -> None:
    source, target = tmp_path / "source", tmp_path / "target"
    content = os.urandom(2 * PART + 1)
    saved = blobs.store_file(source, write_file(tmp_path / "data", content))
    wanted = lines.ArtifactLine(
        "data.bin", saved.sha256, saved.size, "application/octet-stream", datetime.now()
    )
    reads: list[int] = []

    class Counted(FolderSource):
        def parts(self, sha256: str, size: int) -> Iterator[bytes]:
            for part in super().parts(sha256, size):
                reads.append(len(part))
                yield part

    copied = copy_blobs(target, Counted(source, "the source"), [wanted, wanted])
    assert (copied.count, copied.failed) == (1, {})
    assert reads == [PART, PART, 1]  # never more than a part at a time
    assert blobs.blob_path(target, saved.sha256).read_bytes() == content
    assert copy_blobs(target, Counted(source, "the source"), [wanted]).count == 0  # there already
    # A source that sends other bytes, or lacks the content: nothing is published, the reason is kept.
    liar = lines.ArtifactLine("other.bin", "0" * 64, saved.size, "application/octet-stream", datetime.now())
    (source / "00").mkdir()
    os.link(blobs.blob_path(source, saved.sha256), blobs.blob_path(source, "0" * 64))
    other = tmp_path / "other"
    copied = copy_blobs(
        other, FolderSource(source, "the source"), [liar, dataclasses.replace(wanted, size=5)]
    )
    assert copied.count == 0
    assert copied.failed["0" * 64].startswith(
        f"the content {'0' * 12} arrived as {saved.size} bytes hashing to"
    )
    assert copied.failed[saved.sha256] == f"it is not in the source ({source})"
    assert not [path for path in other.rglob("*") if path.is_file() and path.name != blobs.LOCK_FILE]


def write_file(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path
