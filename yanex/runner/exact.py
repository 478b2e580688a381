"""``yanex rerun --exact``: the code an experiment ran, rebuilt in a temporary git worktree.

A worktree of the original's repository is checked out at its recorded commit, with its recorded
patch (the uncommitted changes) applied; the re-run runs the script of that tree, so today's edits
do not leak into it, and its own git capture records the same commit and patch again. Worktrees
are shared by re-runs of the same code and removed when the batch ends.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

from yanex.errors import ConfigError
from yanex.specs import ExperimentView


class ExactCode(NamedTuple):
    """Where a re-run of one original finds its script and runs."""

    script_path: Path
    working_dir: str | None


def _git(cwd: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *args], cwd=cwd, input=stdin, capture_output=True, text=True, errors="surrogateescape"
    )


def _repository(original: ExperimentView) -> Path:
    """The top of the repository that holds the original's script today."""
    folder = Path(original.script_path).parent
    found = _git(folder, "rev-parse", "--show-toplevel") if folder.is_dir() else None
    if found is None or found.returncode != 0:
        raise ConfigError(
            f"experiment {original.id}: its script's folder {folder} is no longer in a git repository",
            hint="--exact rebuilds the code from the repository it ran in; re-run without --exact",
        )
    return Path(found.stdout.strip())


def _check(original: ExperimentView) -> str:
    """The commit to rebuild; refuses what cannot be rebuilt exactly."""
    if original.git.commit is None:
        raise ConfigError(
            f"experiment {original.id} recorded no git commit, so its code cannot be rebuilt",
            hint="re-run it without --exact (it runs today's code)",
        )
    if original.git.omitted:
        left_out = ", ".join(change.path for change in original.git.omitted[:3])
        raise ConfigError(
            f"experiment {original.id}'s recorded patch leaves out changes ({left_out}), so its code "
            "cannot be rebuilt exactly",
            hint="re-run it without --exact (it runs today's code)",
        )
    return original.git.commit


def _worktree(repository: Path, commit: str, patch: str | None, into: Path) -> None:
    added = _git(repository, "worktree", "add", "--detach", str(into), commit)
    if added.returncode != 0:
        why = (added.stderr.strip().splitlines() or ["git worktree add failed"])[-1]
        raise ConfigError(
            f"cannot check out commit {commit[:12]} of {repository}: {why}",
            hint="fetch the commit into this repository (git fetch), or re-run without --exact",
        )
    if patch:
        applied = _git(into, "apply", "--whitespace=nowarn", "-", stdin=patch)
        if applied.returncode != 0:
            raise ConfigError(
                f"the recorded patch does not apply to commit {commit[:12]}: {applied.stderr.strip()}",
                hint="re-run without --exact",
            )


@contextmanager
def exact_code(originals: Sequence[ExperimentView]) -> Iterator[list[ExactCode]]:
    """Each original's script and working folder inside a worktree of the code it ran (one
    worktree per repository, commit and patch); every worktree is removed afterwards."""
    commits = [_check(original) for original in originals]
    scratch = Path(tempfile.mkdtemp(prefix="yanex-exact-"))
    trees: dict[tuple[Path, str, str | None], tuple[Path, Path]] = {}  # -> (repository, worktree)
    try:
        located = []
        for original, commit in zip(originals, commits, strict=True):
            repository = _repository(original)
            code = (repository, commit, original.git.patch)
            if code not in trees:
                tree = scratch / str(len(trees))
                trees[code] = (repository, tree)  # registered first: removed even if half made
                _worktree(repository, commit, original.git.patch, tree)
            tree = trees[code][1]
            script = tree / Path(original.script_path).relative_to(repository)
            working = Path(original.working_dir) if original.working_dir else None
            inside = working is not None and working.is_relative_to(repository)
            located.append(
                ExactCode(script, str(tree / working.relative_to(repository)) if working and inside else None)
            )
        yield located
    finally:
        for repository, tree in trees.values():
            _git(repository, "worktree", "remove", "--force", str(tree))
        shutil.rmtree(scratch, ignore_errors=True)
        for repository in {repository for repository, _ in trees.values()}:
            _git(repository, "worktree", "prune")
