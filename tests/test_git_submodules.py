"""Git submodules in an experiment's git capture and in ``rerun --exact`` (issue 19, item 8): real
repositories and real submodules made in the test, ``yanex run``/``rerun``/``show`` through Typer."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.stored import full_id, get_experiment, run_id
from yanex import config
from yanex.cli.app import app
from yanex.db.engine import Database
from yanex.runner.git import capture_git
from yanex.specs import OmittedChange, Submodule

runner = CliRunner()


def git(repo: Path, *args: str) -> str:
    command = ["git", "-c", "protocol.file.allow=always", *args]  # submodules from local paths
    return subprocess.run(command, cwd=repo, check=True, capture_output=True, text=True).stdout


def new_repo(path: Path, files: dict[str, str]) -> Path:
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.email", "test@example.com")
    git(path, "config", "user.name", "Test")
    for name, text in files.items():
        (path / name).write_text(text)
    git(path, "add", ".")
    git(path, "commit", "-q", "-m", "first")
    return path


def head(repo: Path) -> str:
    return git(repo, "rev-parse", "HEAD").strip()


@pytest.fixture
def project(git_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``git_repo`` with a submodule ``vendor/lib`` (itself with a submodule ``inner``), a submodule
    ``docs`` that is not checked out, and a script that prints what it imports from both."""
    inner = new_repo(tmp_path / "inner-origin", {"inner.py": "WORD = 'inner-1'\n"})
    lib = new_repo(tmp_path / "lib-origin", {"lib.py": "WORD = 'lib-1'\n"})
    git(lib, "submodule", "add", "-q", str(inner), "inner")
    git(lib, "commit", "-q", "-m", "inner")
    docs = new_repo(tmp_path / "docs-origin", {"index.md": "docs\n"})
    git(git_repo, "submodule", "add", "-q", str(lib), "vendor/lib")
    git(git_repo, "submodule", "update", "-q", "--init", "--recursive")
    git(git_repo, "submodule", "add", "-q", str(docs), "docs")
    (git_repo / "train.py").write_text(
        "import os, sys\n"
        "sys.path[:0] = ['vendor/lib', 'vendor/lib/inner']\n"
        "import inner, lib\n"
        "extra = 'vendor/lib/extra.txt'\n"
        "extra = open(extra).read().strip() if os.path.exists(extra) else '-'\n"
        "print(lib.WORD, inner.WORD, extra, sorted(os.listdir('docs')))\n"
    )
    git(git_repo, "add", ".")
    git(git_repo, "commit", "-q", "-m", "submodules")
    git(git_repo, "submodule", "deinit", "-q", "-f", "docs")
    # Settings that change what git diff and git status say of submodules change nothing here.
    git(git_repo, "config", "diff.submodule", "diff")
    git(git_repo, "config", "submodule.vendor/lib.ignore", "all")
    monkeypatch.chdir(git_repo)
    return git_repo


def run(script: Path) -> str:
    result = runner.invoke(app, ["run", str(script)])
    assert result.exit_code == 0, result.output
    return run_id(result.stderr)


def output(experiment_id: str) -> str:
    return (config.experiment_dir(full_id(experiment_id)) / config.STDOUT_FILE).read_text().strip()


def test_submodules_are_captured_and_rerun_exact_rebuilds_them(project: Path, yanex_home: Path) -> None:
    lib = project / "vendor" / "lib"
    inner = lib / "inner"
    lib_1, inner_1 = head(lib), head(inner)
    clean = run(project / "train.py")

    (lib / "lib.py").write_text("WORD = 'lib-dirty'\n")  # uncommitted in the submodule
    (lib / "extra.txt").write_text("untracked-in-lib\n")
    (inner / "inner.py").write_text("WORD = 'inner-dirty'\n")  # and in the nested one
    dirty = run(project / "train.py")
    info = capture_git(project)
    assert info.submodules == [
        Submodule(path="docs", commit=None),  # not checked out: it ran without it
        Submodule(path="vendor/lib", commit=lib_1),
        Submodule(path="vendor/lib/inner", commit=inner_1),
    ]
    assert info.patch is not None and info.omitted == [] and info.dirty is True
    assert "Subproject commit" in info.patch and "Submodule vendor/lib" not in info.patch
    for line in ("+WORD = 'lib-dirty'", "+untracked-in-lib", "+WORD = 'inner-dirty'", "b/vendor/lib/lib.py"):
        assert line in info.patch

    git(lib, "checkout", "-q", "--", "lib.py")
    (lib / "extra.txt").unlink()
    git(inner, "checkout", "-q", "--", "inner.py")
    (lib / "lib.py").write_text("WORD = 'lib-2'\n")
    git(lib, "commit", "-q", "-am", "lib 2")  # the submodule moves on, the project does not record it
    moved = run(project / "train.py")
    lib_2 = head(lib)

    (lib / "lib.py").write_text("WORD = 'lib-3'\n")  # today's code differs from all three
    git(lib, "commit", "-q", "-am", "lib 3")
    git(project, "commit", "-q", "-am", "lib 3")

    expected = {
        clean: "lib-1 inner-1 - []",
        dirty: "lib-dirty inner-dirty untracked-in-lib []",
        moved: "lib-2 inner-1 - []",
    }
    db = Database()
    for original, printed in expected.items():
        again = runner.invoke(app, ["rerun", original, "--exact"])
        assert again.exit_code == 0, again.output
        rerun_id = again.stdout.split()[0]
        assert output(original) == printed
        assert output(rerun_id) == printed
        before, after = get_experiment(db, original).git, get_experiment(db, rerun_id).git
        assert (after.commit, after.patch) == (before.commit, before.patch)
        assert after.submodules == before.submodules
    assert [s.commit for s in get_experiment(db, moved).git.submodules] == [None, lib_2, inner_1]
    assert output(runner.invoke(app, ["rerun", clean]).stdout.split()[0]) == "lib-3 inner-1 - []"
    for repo in (project, lib, inner):  # every worktree removed, the submodules' too
        assert git(repo, "worktree", "list").count("\n") == 1, repo

    shown = runner.invoke(app, ["show", dirty])
    assert shown.exit_code == 0, shown.output
    assert "docs  (not checked out)" in shown.stdout
    assert f"vendor/lib  {lib_1}" in shown.stdout
    as_json = json.loads(runner.invoke(app, ["show", dirty, "--format", "json"]).stdout)
    assert as_json["git"]["submodules"][1] == {"path": "vendor/lib", "commit": lib_1}


def test_a_secret_in_a_submodule_is_left_out_and_exact_refuses(project: Path, yanex_home: Path) -> None:
    lib = project / "vendor" / "lib"
    (lib / ".env").write_text("TOKEN=1\n")
    experiment_id = run(project / "train.py")
    recorded = get_experiment(Database(), experiment_id).git
    secret = OmittedChange(path="vendor/lib/.env", reason="its name looks like a secret file")
    assert recorded.omitted == [secret]
    assert recorded.patch is None or "TOKEN" not in recorded.patch
    refused = runner.invoke(app, ["rerun", experiment_id, "--exact"])
    assert refused.exit_code == 2
    assert refused.stderr.startswith(
        f"Error: experiment {experiment_id}'s recorded patch leaves out changes (vendor/lib/.env)"
    )
    shown = runner.invoke(app, ["show", experiment_id]).stdout
    assert "vendor/lib/.env (its name looks like a secret file)" in shown


def test_exact_refuses_what_it_cannot_rebuild_with_one_line(project: Path, yanex_home: Path) -> None:
    experiment_id = run(project / "train.py")
    # An experiment recorded before submodules were captured: their state is unknown.
    with sqlite3.connect(yanex_home / "yanex.db") as conn:
        conn.execute("UPDATE experiments SET git_submodules = NULL WHERE id = ?", (experiment_id,))
    refused = runner.invoke(app, ["rerun", experiment_id, "--exact"])
    assert refused.exit_code == 2, refused.output
    lines = refused.stderr.splitlines()
    assert lines[0] == (
        f"Error: experiment {experiment_id} recorded no state of the submodules of its commit "
        "(docs, vendor/lib), so its code cannot be rebuilt exactly"
    )
    assert lines[1].startswith("Hint: re-run it without --exact")
    # A submodule that is no longer checked out here has nothing to check its commit out of.
    second = run(project / "train.py")
    git(project, "submodule", "deinit", "-q", "-f", "vendor/lib")
    refused = runner.invoke(app, ["rerun", second, "--exact"])
    assert refused.exit_code == 2, refused.output
    assert refused.stderr.splitlines()[0] == (
        f"Error: submodule vendor/lib of {project} is not checked out, so the code experiment "
        f"{second} ran cannot be rebuilt"
    )
    assert "git submodule update --init --recursive vendor/lib" in refused.stderr
    assert git(project, "worktree", "list").count("\n") == 1
