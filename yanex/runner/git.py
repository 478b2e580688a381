"""Git state of the code an experiment runs: commit, branch, dirty flag and the full patch.

Captured once per ``yanex run`` or per batch. Outside a repository, or without git installed,
everything is empty and nothing fails.
"""

from __future__ import annotations

from pathlib import Path

from yanex.specs import GitInfo


def capture_git(path: Path) -> GitInfo:
    """Git state of the repository containing ``path`` (a script or a folder)."""
    try:
        import git
    except ImportError:  # gitpython raises ImportError when the git binary is missing
        return GitInfo()
    start = path if path.is_dir() else path.parent
    try:
        repo = git.Repo(start, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return GitInfo()
    with repo:
        try:
            commit: str | None = repo.head.commit.hexsha
        except ValueError:  # a repository with no commit yet
            commit = None
        branch = None if repo.head.is_detached else repo.active_branch.name
        tracked = (
            repo.git.diff("HEAD", "--binary", "--no-color", "--no-ext-diff")
            if commit
            else repo.git.diff("--cached", "--binary", "--no-color", "--no-ext-diff")
        )
        untracked = [
            repo.git.diff(
                "--no-index",
                "--binary",
                "--no-color",
                "--",
                "/dev/null",
                name,
                with_extended_output=False,
                with_exceptions=False,  # --no-index exits 1 when the files differ
            )
            for name in repo.untracked_files
        ]
        parts = [part for part in (tracked, *untracked) if part]
        patch = "\n".join(parts) + "\n" if parts else None
        return GitInfo(commit=commit, branch=branch, dirty=patch is not None, patch=patch)
