"""The code snapshot a cluster's workers run leaves out what the git patch leaves out: files named
like credentials, content that looks like one, files over the size caps. Real repositories."""

from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

import pytest

from yanex.errors import ConfigError
from yanex.executors.snapshot import Snapshot, take_snapshot
from yanex.specs import OmittedChange


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


def files(snapshot: Snapshot) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(snapshot.data)) as archive:
        return {
            member.name: archive.extractfile(member).read()  # type: ignore[union-attr]
            for member in archive.getmembers()
        }


TOKEN = "ghp_" + "a1B2c3D4e5" * 3 + "a1B2c3"  # made up: GitHub's shape, 36 characters after ghp_
ACCESS_KEY = "AKIA" + "Q" * 16


def test_untracked_secrets_and_files_over_the_caps_stay_on_this_machine(
    git_repo: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("YANEX_GIT_UNTRACKED_FILE_LIMIT", "1K")
    (git_repo / "train.py").write_text("import helper\n")
    (git_repo / "config.py").write_text("lr = 0.1\n")
    git(git_repo, "add", "train.py", "config.py")
    git(git_repo, "commit", "-q", "-m", "code")
    (git_repo / "config.py").write_text(f"lr = 0.1\naws_key = '{ACCESS_KEY}'\n")  # a tracked change
    (git_repo / ".env").write_text("DB_URL=postgres://db\n")
    (git_repo / "secret.key").write_text("not even secret-looking\n")
    (git_repo / "notes.txt").write_text(f"push with {TOKEN}\n")
    (git_repo / "helper.py").write_text("x = 1\n")
    (git_repo / "weights.bin").write_bytes(bytes(range(256)))  # binary: no patch holds it, it ships
    (git_repo / "big.txt").write_text("y" * 2000)

    snapshot = take_snapshot(git_repo / "train.py")

    shipped = files(snapshot)
    assert sorted(shipped) == ["README", "config.py", "helper.py", "train.py", "weights.bin"]
    assert shipped["config.py"] == b"lr = 0.1\n"  # the committed version
    assert TOKEN.encode() not in snapshot.data and ACCESS_KEY.encode() not in snapshot.data
    assert snapshot.omitted == (
        OmittedChange(path=".env", reason="its name looks like a secret file"),
        OmittedChange(path="big.txt", reason="over 1 KiB"),
        OmittedChange(
            path="config.py",
            reason="its uncommitted changes look like an AWS access key id: the committed version is sent",
        ),
        OmittedChange(path="notes.txt", reason="looks like a GitHub token"),
        OmittedChange(path="secret.key", reason="its name looks like a secret file"),
    )
    assert capfd.readouterr().err.splitlines() == [
        "yanex: the code sent to the cluster leaves out 5 changes: .env (its name looks like a secret "
        "file), big.txt (over 1 KiB), config.py (its uncommitted changes look like an AWS access key "
        "id: the committed version is sent), notes.txt (looks like a GitHub token), secret.key (its "
        "name looks like a secret file)"
    ]


def test_outside_a_repository_the_folder_follows_the_same_rules(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "code"
    (folder / ".aws").mkdir(parents=True)
    (folder / "train.py").write_text("print('hi')\n")
    (folder / ".aws" / "config").write_text("[default]\n")
    (folder / "run.sh").write_text(f"export HF_TOKEN={'hf_' + 'a1B2c3D4e5' * 4}\n")

    snapshot = take_snapshot(folder / "train.py")

    assert sorted(files(snapshot)) == ["train.py"]
    assert [change.path for change in snapshot.omitted] == [".aws/config", "run.sh"]
    assert "leaves out 2 changes" in capfd.readouterr().err


def test_a_snapshot_with_nothing_to_leave_out_says_nothing(
    git_repo: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    (git_repo / "train.py").write_text("print('hi')\n")
    snapshot = take_snapshot(git_repo / "train.py")
    assert sorted(files(snapshot)) == ["README", "train.py"] and snapshot.omitted == ()
    assert capfd.readouterr().err == ""


def test_a_script_that_cannot_be_sent_is_refused_before_anything_runs(git_repo: Path) -> None:
    (git_repo / "train.py").write_text(f"TOKEN = '{TOKEN}'\n")
    with pytest.raises(
        ConfigError, match=r"the script train.py cannot be sent to the cluster: looks like a GitHub token"
    ):
        take_snapshot(git_repo / "train.py")


def test_a_submodules_files_ship_by_the_same_rules(git_repo: Path, tmp_path: Path) -> None:
    """Code in a submodule is code the script runs: its files go, and its secrets stay."""
    library = tmp_path / "library"
    library.mkdir()
    git(library, "init", "-q")
    (library / "layers.py").write_text("depth = 3\n")
    git(library, "add", "layers.py")
    git(library, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "library")
    git(git_repo, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(library), "lib")
    (git_repo / "train.py").write_text("import lib.layers\n")
    (git_repo / "lib" / "layers.py").write_text("depth = 4\n")  # uncommitted, in the submodule
    (git_repo / "lib" / "extra.py").write_text("width = 8\n")  # untracked, in the submodule
    (git_repo / "lib" / ".env").write_text("TOKEN=x\n")

    shipped = files(take_snapshot(git_repo / "train.py"))

    assert shipped["lib/layers.py"] == b"depth = 4\n"
    assert shipped["lib/extra.py"] == b"width = 8\n"
    assert "lib/.env" not in shipped
