"""Stored artifact contents cannot be changed through any path yanex hands out, whoever the user
is (root included); a content changed behind yanex's back is detected when read, reported by
`yanex db check`, and repaired by the next save of the right bytes.

Run as root, these reproduce the real fault (root writes through mode r--r--r--); as another
user the tests chmod the handed-out path first, as a script that means to write it would.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import yanex
from tests.conftest import yanex_cli
from tests.test_artifacts_storage import blob_names, run
from yanex import config
from yanex.artifacts import blobs
from yanex.cli.app import app
from yanex.errors import YanexError

runner = CliRunner()
ORIGINAL = os.urandom(100_000)
SHA = hashlib.sha256(ORIGINAL).hexdigest()

SAVE = """
import sys, yanex
yanex.log_artifact(sys.argv[1], "model.bin")
"""
# What `torch.save(state, yanex.artifact_path("model.bin"))` does to the path it is given.
SAVE_THEN_OVERWRITE = """
import os, sys, yanex
yanex.log_artifact(sys.argv[1], "model.bin")
path = yanex.artifact_path("model.bin")
os.chmod(path, 0o644)  # a no-op for root, which writes through r--r--r-- anyway
with open(path, "wb") as handle:
    handle.write(b"OVERWRITTEN")
"""


def overwrite(path: Path, content: bytes) -> None:
    os.chmod(path, 0o644)
    with open(path, "wb") as handle:
        handle.write(content)


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "model.bin"
    path.write_bytes(ORIGINAL)
    return path


def assert_intact(experiment: str, tmp_path: Path) -> None:
    """Every way of reading ``experiment``'s model.bin gives the saved bytes."""
    assert yanex.load_artifact("model.bin", experiment) == ORIGINAL
    assert yanex.artifact_path("model.bin", experiment).read_bytes() == ORIGINAL
    out = tmp_path / f"{experiment}.bin"
    done = yanex_cli("artifacts", "get", experiment, "model.bin", "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert out.read_bytes() == ORIGINAL
    piped = subprocess.run(
        [sys.executable, "-m", "yanex", "artifacts", "get", experiment, "model.bin", "-o", "-"],
        capture_output=True,
        timeout=120,
    )
    assert piped.returncode == 0 and piped.stdout == ORIGINAL


def test_writing_a_handed_out_path_changes_no_other_experiment_nor_the_store(
    write_script, source: Path, tmp_path: Path
) -> None:
    other = run(write_script("save.py", SAVE), "--", str(source))
    writer = run(write_script("overwrite.py", SAVE_THEN_OVERWRITE), "--", str(source))
    # The script's own path, then another experiment's path handed to this process.
    overwrite(yanex.artifact_path("model.bin", other), b"OVERWRITTEN TOO")
    assert_intact(other, tmp_path)
    # The writer's recorded artifact is what it saved; its path is made again from the store.
    assert_intact(writer, tmp_path)
    blob = blobs.blob_path(config.blobs_root(), SHA)
    assert hashlib.sha256(blob.read_bytes()).hexdigest() == SHA
    check = yanex_cli("db", "check")
    assert check.returncode == 0 and check.stdout.endswith("ok\n"), check.stdout
    later = run(write_script("save.py", SAVE), "--", str(source))
    assert_intact(later, tmp_path)
    assert blob_names() == {SHA}


def damage(content: bytes) -> Path:
    """Change the stored content of ``ORIGINAL`` behind yanex's back (a disk fault, a hand edit)."""
    blob = blobs.blob_path(config.blobs_root(), SHA)
    overwrite(blob, content)
    return blob


def test_a_changed_size_is_detected_on_every_read(write_script, source: Path, tmp_path: Path) -> None:
    experiment = run(write_script("save.py", SAVE), "--", str(source))
    damage(b"OVERWRITTEN")
    with pytest.raises(YanexError, match=r"artifact 'model\.bin' of experiment \w+ is damaged"):
        yanex.load_artifact("model.bin", experiment)
    with pytest.raises(YanexError, match="is damaged"):
        yanex.artifact_path("model.bin", experiment)
    for output in (str(tmp_path / "out.bin"), "-"):
        got = yanex_cli("artifacts", "get", experiment, "model.bin", "-o", output)
        assert got.returncode != 0 and "Traceback" not in got.stderr
        assert got.stderr.startswith("Error: ") and "is damaged" in got.stderr, got.stderr
        assert "\nHint: " in got.stderr
    assert not (tmp_path / "out.bin").exists()
    # Inside a script: its own artifact, read back after the damage.
    own = write_script(
        "own.py",
        f"""
        import sys, yanex
        yanex.log_artifact(sys.argv[1], "model.bin")
        open({str(blobs.blob_path(config.blobs_root(), SHA))!r}, "wb").write(b"short")
        try:
            yanex.load_artifact("model.bin")
        except yanex.YanexError as error:
            print("refused:", error)
        """,
    )
    done = yanex_cli("run", str(own), "--", str(source), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "refused:" in done.stdout and "is damaged" in done.stdout, done.stdout


def test_db_check_finds_content_changed_in_place(write_script, source: Path) -> None:
    experiment = run(write_script("save.py", SAVE), "--", str(source))
    assert yanex_cli("db", "check").returncode == 0
    damage(bytes(len(ORIGINAL)))  # the same size: only the hash tells
    check = runner.invoke(app, ["db", "check"])
    assert check.exit_code == 1
    assert f"problem: artifact content {SHA[:12]}" in check.stdout, check.stdout
    assert f"model.bin of {experiment}" in check.stdout
    assert "does not match its hash" in check.stdout


def test_saving_the_content_again_repairs_a_damaged_blob(write_script, source: Path, tmp_path: Path) -> None:
    first = run(write_script("save.py", SAVE), "--", str(source))
    blob = damage(b"OVERWRITTEN")
    again = run(write_script("save.py", SAVE), "--", str(source))
    assert hashlib.sha256(blob.read_bytes()).hexdigest() == SHA
    assert not blob.stat().st_mode & 0o222  # read-only again
    assert_intact(first, tmp_path)
    assert_intact(again, tmp_path)
    assert yanex_cli("db", "check").returncode == 0


def test_gc_separates_contents_from_the_hard_links_older_versions_made(
    write_script, source: Path, tmp_path: Path
) -> None:
    experiment = run(write_script("save.py", SAVE), "--", str(source))
    blob = blobs.blob_path(config.blobs_root(), SHA)
    # What yanex made before: a view that is a hard link of the blob, and (upgrading to schema
    # 0008) a file a script had left in its folder, adopted as a link too.
    view = config.artifacts_view(experiment) / "model.bin"
    view.unlink(missing_ok=True)
    view.parent.mkdir(parents=True, exist_ok=True)
    os.link(blob, view)
    adopted = config.experiment_dir(experiment) / "adopted.bin"
    os.link(blob, adopted)
    check = runner.invoke(app, ["db", "check"])
    assert check.exit_code == 1
    assert f"problem: artifact content {SHA[:12]} (model.bin of {experiment}) shares its file" in check.stdout
    assert "`yanex gc` separates" in check.stdout
    separated = "1 artifact content from the hard links older versions of yanex made.\n"
    assert yanex_cli("gc", "--dry-run").stdout.endswith(f"Would separate {separated}")
    assert blob.stat().st_nlink == 3
    done = yanex_cli("gc")
    assert done.returncode == 0, done.stderr
    assert done.stdout.endswith(f"Separated {separated}")
    assert blob.stat().st_nlink == 1 and not blob.stat().st_mode & 0o222
    assert not view.exists()  # made again, as a copy, when a path is asked for
    overwrite(adopted, b"OVERWRITTEN")
    assert_intact(experiment, tmp_path)
    assert yanex_cli("db", "check").returncode == 0


def test_a_missing_content_says_where_it_was_expected_and_why(
    write_script, source: Path, tmp_path: Path
) -> None:
    experiment = run(write_script("save.py", SAVE), "--", str(source))
    blob = blobs.blob_path(config.blobs_root(), SHA)
    blob.unlink()
    error = (
        f"Error: the content of artifact 'model.bin' of experiment {experiment} is missing: expected at "
        f"{blob}; yanex never deletes the content of a recorded artifact, so it was removed from that "
        "folder by hand, or this database is used with the blobs/ of another YANEX_HOME than it was "
        "saved in"
    )
    hint = (
        "Hint: save it again (the same content repairs it), or point YANEX_HOME at the folder whose "
        "blobs/ holds it"
    )
    out = tmp_path / "out"
    out.mkdir()
    for options in (["-o", "-"], ["-o", str(out / "model.bin")], []):
        got = subprocess.run(
            [sys.executable, "-m", "yanex", "artifacts", "get", experiment, "model.bin", *options],
            cwd=out,
            capture_output=True,
            timeout=120,
        )
        assert (got.returncode, got.stdout) == (1, b"")
        assert got.stderr.decode().splitlines() == [error, hint]
    assert list(out.iterdir()) == []
    for read in (yanex.load_artifact, yanex.artifact_path):
        with pytest.raises(YanexError) as caught:
            read("model.bin", experiment)
        assert (f"Error: {caught.value.message}", f"Hint: {caught.value.hint}") == (error, hint)
