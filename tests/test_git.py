"""Git capture against real repositories made in the test."""

from __future__ import annotations

import subprocess
from pathlib import Path

from typer.testing import CliRunner

from yanex import config
from yanex.cli.app import app
from yanex.db.engine import Database
from yanex.runner.environment import capture_environment, this_process
from yanex.runner.git import capture_git
from yanex.specs import ExperimentSpec, GitInfo, Status
from yanex.store.experiments import create_experiments, get_experiment


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout


def test_clean_repository(git_repo: Path) -> None:
    info = capture_git(git_repo / "README")
    assert info == GitInfo(
        commit=git(git_repo, "rev-parse", "HEAD").strip(),
        branch="main",
        dirty=False,
        commit_message="initial",
        author_name="Test",
        author_email="test@example.com",
        commit_on_remote=False,
    )
    assert capture_git(git_repo) == info  # a folder works as well as a file in it


def test_patch_holds_tracked_and_untracked_changes_but_not_ignored(git_repo: Path, tmp_path: Path) -> None:
    (git_repo / ".gitignore").write_text("*.log\n")
    git(git_repo, "add", ".gitignore")
    git(git_repo, "commit", "-q", "-m", "ignore logs")
    git(git_repo, "checkout", "-q", "-b", "feature")
    (git_repo / "README").write_text("hello\nchanged\n")
    (git_repo / "sub").mkdir()
    (git_repo / "sub" / "new.py").write_text("print('new')\n")
    (git_repo / "run.log").write_text("ignored\n")
    (git_repo / "staged.txt").write_text("staged\n")
    git(git_repo, "add", "staged.txt")

    info = capture_git(git_repo / "sub" / "new.py")
    assert (info.branch, info.dirty) == ("feature", True)
    assert info.commit == git(git_repo, "rev-parse", "HEAD").strip()
    assert info.patch is not None
    assert "+changed" in info.patch and "+print('new')" in info.patch and "+staged" in info.patch
    assert "ignored" not in info.patch

    # The patch reproduces the working tree on a clean checkout of the recorded commit.
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(git_repo), str(clone)], check=True)
    git(clone, "checkout", "-q", info.commit)
    subprocess.run(["git", "apply", "-"], cwd=clone, input=info.patch, text=True, check=True)
    for name in ("README", "sub/new.py", "staged.txt"):
        assert (clone / name).read_text() == (git_repo / name).read_text()
    assert not (clone / "run.log").exists()


def test_large_tracked_change_is_kept_whole(git_repo: Path, db: Database) -> None:
    (git_repo / "data.txt").write_text("first\n")
    git(git_repo, "add", "data.txt")
    git(git_repo, "commit", "-q", "-m", "data")
    big = "".join(f"line {i:07d} of a large generated file\n" for i in range(120_000))  # ~4.6 MB
    (git_repo / "data.txt").write_text(big)
    info = capture_git(git_repo)
    assert info.patch is not None and len(info.patch) > len(big)
    assert all(f"+line {i:07d} of" in info.patch for i in (0, 59_999, 119_999))
    spec = ExperimentSpec(script_path=git_repo / "README")
    [experiment_id] = create_experiments(
        db, [spec], status=Status.CREATED, owner=this_process(), git=info, environment=capture_environment()
    )
    assert get_experiment(db, experiment_id).git.patch == info.patch


def test_detached_head_has_no_branch(git_repo: Path) -> None:
    head = git(git_repo, "rev-parse", "HEAD").strip()
    git(git_repo, "checkout", "-q", "--detach")
    info = capture_git(git_repo)
    assert (info.commit, info.branch, info.dirty, info.patch) == (head, None, False, None)


def test_repository_without_commits(tmp_path: Path) -> None:
    repo = tmp_path / "fresh"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "a.py").write_text("x = 1\n")
    info = capture_git(repo / "a.py")
    assert (info.commit, info.branch, info.dirty) == (None, "main", True)
    assert info.patch is not None and "+x = 1" in info.patch


def test_outside_a_repository_everything_is_empty(tmp_path: Path) -> None:
    folder = tmp_path / "plain"
    folder.mkdir()
    (folder / "s.py").write_text("")
    assert capture_git(folder / "s.py") == GitInfo()
    assert capture_git(tmp_path / "does-not-exist" / "s.py") == GitInfo()


def test_yanex_run_records_git_state(git_repo: Path, db: Database) -> None:
    (git_repo / "train.py").write_text("print('hi')\n")
    result = CliRunner().invoke(app, ["run", str(git_repo / "train.py")])
    assert result.exit_code == 0, result.output
    [experiment_id] = [p.name for p in config.experiments_root().iterdir()]
    recorded = get_experiment(db, experiment_id).git
    assert recorded.commit == git(git_repo, "rev-parse", "HEAD").strip()
    assert (recorded.branch, recorded.dirty) == ("main", True)
    assert recorded.patch is not None and "+print('hi')" in recorded.patch
