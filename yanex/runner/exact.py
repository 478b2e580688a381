"""``yanex rerun --exact``: the code an experiment ran, rebuilt in a temporary git worktree.

A worktree of the original's repository is checked out at its recorded commit, each recorded
submodule is checked out in it at its recorded commit (a worktree of the submodule's checkout in
the repository today, so nothing is fetched), and then the recorded patch (the uncommitted changes,
the submodules' included) is applied; the re-run runs the script of that tree, so today's edits do
not leak into it, and its own git capture records the same commit, submodules and patch again.
Worktrees are shared by re-runs of the same code and removed when the batch ends.
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
from yanex.specs import ExperimentView, Submodule


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


def _add(repository: Path, commit: str, into: Path, made: list[tuple[Path, Path]]) -> None:
    """A worktree of ``repository`` at ``commit``, registered in ``made`` first: removed even if
    half made."""
    made.append((repository, into))
    added = _git(repository, "worktree", "add", "--detach", str(into), commit)
    if added.returncode != 0:
        why = (added.stderr.strip().splitlines() or ["git worktree add failed"])[-1]
        raise ConfigError(
            f"cannot check out commit {commit[:12]} of {repository}: {why}",
            hint="fetch the commit into this repository (git fetch), or re-run without --exact",
        )


def _unrecorded(original: ExperimentView, tree: Path) -> None:
    """Refuses an original recorded before submodules were (revision 0012) whose commit has some:
    at which commits they were, or whether they were checked out at all, is unknown."""
    index = _git(tree, "ls-files", "--stage", "-z").stdout
    gitlinks = [entry.split("\t", 1)[1] for entry in index.split("\0") if entry.startswith("160000 ")]
    if gitlinks:
        raise ConfigError(
            f"experiment {original.id} recorded no state of the submodules of its commit "
            f"({', '.join(gitlinks[:3])}{', ...' if len(gitlinks) > 3 else ''}), so its code cannot be "
            "rebuilt exactly",
            hint="re-run it without --exact (it runs today's code)",
        )


def _worktree(
    original: ExperimentView, repository: Path, commit: str, into: Path, made: list[tuple[Path, Path]]
) -> None:
    """The original's code in ``into``: its commit, its submodules at theirs, its patch applied."""
    _add(repository, commit, into, made)
    if not original.git.submodules:
        _unrecorded(original, into)
    for submodule in sorted(original.git.submodules, key=lambda s: s.path):  # a parent before its nested
        if submodule.commit is not None:
            _add(_checkout(original, repository, submodule), submodule.commit, into / submodule.path, made)
    if original.git.patch:
        applied = _git(into, "apply", "--whitespace=nowarn", "-", stdin=original.git.patch)
        if applied.returncode != 0:
            raise ConfigError(
                f"the recorded patch does not apply to commit {commit[:12]}: {applied.stderr.strip()}",
                hint="re-run without --exact",
            )


def _checkout(original: ExperimentView, repository: Path, submodule: Submodule) -> Path:
    """The submodule's checkout in the repository today, whose objects the rebuild uses."""
    folder = repository / submodule.path
    found = _git(folder, "rev-parse", "--show-toplevel") if folder.is_dir() else None
    if found is None or found.returncode != 0 or Path(found.stdout.strip()).resolve() != folder.resolve():
        raise ConfigError(
            f"submodule {submodule.path} of {repository} is not checked out, so the code experiment "
            f"{original.id} ran cannot be rebuilt",
            hint=f"check it out (git submodule update --init --recursive {submodule.path}), or re-run "
            "without --exact",
        )
    return folder


@contextmanager
def exact_code(originals: Sequence[ExperimentView]) -> Iterator[list[ExactCode]]:
    """Each original's script and working folder inside a worktree of the code it ran (one
    worktree per repository, commit, submodules and patch); every worktree is removed afterwards."""
    commits = [_check(original) for original in originals]
    scratch = Path(tempfile.mkdtemp(prefix="yanex-exact-"))
    trees: dict[tuple[Path, str, str | None, tuple[Submodule, ...]], Path] = {}
    made: list[tuple[Path, Path]] = []  # (repository, worktree) in the order made
    try:
        located = []
        for original, commit in zip(originals, commits, strict=True):
            repository = _repository(original)
            code = (repository, commit, original.git.patch, tuple(original.git.submodules))
            if code not in trees:
                trees[code] = scratch / str(len(trees))
                _worktree(original, repository, commit, trees[code], made)
            tree = trees[code]
            script = tree / Path(original.script_path).relative_to(repository)
            working = Path(original.working_dir) if original.working_dir else None
            inside = working is not None and working.is_relative_to(repository)
            located.append(
                ExactCode(script, str(tree / working.relative_to(repository)) if working and inside else None)
            )
        yield located
    finally:
        for repository, tree in reversed(made):  # a submodule's worktree before its parent's
            _git(repository, "worktree", "remove", "--force", str(tree))
        shutil.rmtree(scratch, ignore_errors=True)
        for repository in dict.fromkeys(repository for repository, _ in made):
            _git(repository, "worktree", "prune")
