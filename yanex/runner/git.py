"""Git state of the code an experiment runs: commit, author, branch, remotes and uncommitted changes.

Captured once per ``yanex run`` or per batch, so it is on the start-up path: plain ``git`` calls
(no gitpython import, ~50 ms), the independent ones run at once, and no network access (whether
the commit is on a remote is read from the remote-tracking branches of the last fetch). Outside a
repository, or without git installed, everything is empty and nothing fails.

What goes into the patch, and what is left out and why, is decided in ``yanex.runner.git_patch``
with the rules of ``yanex.outgoing``. Submodules (the repository's gitlinks, nested ones too) are
captured as their commits, and their uncommitted changes go into the same patch by the same rules,
with paths under their folders: one patch, applied at the top once each submodule is checked out
at its commit, rebuilds the tree.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlsplit, urlunsplit

from yanex import config
from yanex.outgoing import gitlinks, leave_out_secrets, named
from yanex.runner.git_patch import decoded_sections, untracked_diff
from yanex.specs import GitInfo, OmittedChange, Submodule

MESSAGE_LIMIT = 4000  # characters of the commit message kept; a message is rarely longer
OMISSIONS_RECORDED = 100  # a non-ignored folder of 10^4 images must not add 10^4 entries per row
OMISSIONS_PRINTED = 10


def _start(cwd: Path, *args: str) -> subprocess.Popen[bytes]:
    # --no-optional-locks: status must not rewrite the index under a git command the user is running.
    return subprocess.Popen(
        ["git", "--no-optional-locks", "-c", "core.quotePath=true", *args],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )


def _output(process: subprocess.Popen[bytes]) -> bytes | None:
    """The command's output, None if it failed."""
    out, _ = process.communicate()
    return out if process.returncode == 0 else None


def strip_credentials(url: str) -> str:
    """A remote URL without the password or token it may carry.

    ``https://user:token@host/x.git`` becomes ``https://host/x.git`` (a token is often given as the
    user name); ``ssh://git:pw@host/x`` keeps the user, ``ssh://git@host/x``; query strings go too.
    scp-like ``git@host:x.git`` and local paths hold no secret and are kept as they are.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return url.rpartition("@")[2]
    if not parts.scheme or not parts.netloc:
        return url
    user, _, host = parts.netloc.rpartition("@")
    if user and parts.scheme in ("ssh", "git+ssh", "ssh+git"):
        host = f"{user.partition(':')[0]}@{host}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _remotes(raw: bytes | None) -> dict[str, str]:
    """``git config -z --get-regexp`` output: ``remote.NAME.url\\nURL\\0`` entries."""
    remotes: dict[str, str] = {}
    for entry in (raw or b"").split(b"\0"):
        key, _, url = entry.decode("utf-8", "replace").partition("\n")
        if key.startswith("remote.") and key.endswith(".url"):
            remotes[key.removeprefix("remote.").removesuffix(".url")] = strip_credentials(url)
    return remotes


def _status(raw: bytes) -> tuple[str | None, bool, list[str]]:
    """Branch (None when detached), whether tracked files changed, and the untracked paths."""
    branch: str | None = None
    changed = False
    untracked: list[str] = []
    entries = iter(raw.split(b"\0"))
    for entry in entries:
        if entry.startswith(b"# branch.head "):
            name = entry.removeprefix(b"# branch.head ").decode("utf-8", "replace")
            branch = None if name == "(detached)" else name
        elif entry.startswith((b"1 ", b"u ")):
            changed = True
        elif entry.startswith(b"2 "):  # a rename: its original path is the next entry
            changed = True
            next(entries, None)
        elif entry.startswith(b"? "):
            untracked.append(os.fsdecode(entry[2:]))
    return branch, changed, untracked


def _tracked_diff(top: Path, has_commit: bool, folder: str = "") -> bytes:
    """Staged and unstaged changes to tracked files against the commit (or the empty tree); a
    submodule's with its paths under ``folder``, as seen from the top repository."""
    if has_commit:
        base = "HEAD"
    else:
        empty = _output(_start(top, "hash-object", "-t", "tree", "/dev/null"))
        if empty is None:
            return b""
        base = empty.decode().strip()
    diff = _start(
        top,
        "diff",
        base,
        "--binary",
        "--no-color",
        "--no-ext-diff",
        "--no-textconv",
        # A submodule is one "Subproject commit" line whatever the user's diff.submodule or
        # submodule.*.ignore say: its own changes are captured from inside it.
        "--submodule=short",
        "--ignore-submodules=none",
        f"--src-prefix=a/{folder}",
        f"--dst-prefix=b/{folder}",
    )
    return _output(diff) or b""


# A submodule's changes count, whatever submodule.*.ignore says: they are part of the code that ran.
_STATUS = ("status", "--porcelain=v2", "--branch", "-z", "--untracked-files=all", "--ignore-submodules=none")


def _index(top: Path) -> bytes | None:
    """The index of the repository at ``top``, read only when it declares submodules: listing
    100,000 files costs tens of milliseconds on every start. (A gitlink without .gitmodules, a
    repository added with ``git add``, is no submodule git can check out; ``rerun --exact`` refuses
    to rebuild a commit with one it did not record.)"""
    if not (top / ".gitmodules").is_file():
        return None
    return _output(_start(top, "ls-files", "--stage", "-z"))


class _Submodules(NamedTuple):
    """What the submodules of a repository add to its capture."""

    found: list[Submodule]
    sections: list[str | OmittedChange]  # their tracked changes, paths from the top repository
    untracked: list[str]  # their untracked files, from the top repository


def _submodules(top: Path, index: bytes | None, folder: str = "") -> _Submodules:
    """The submodules of the repository at ``top / folder`` whose index is ``index``, each followed
    by its nested ones. A submodule git cannot read is left out of the patch, and so named."""
    found: list[Submodule] = []
    sections: list[str | OmittedChange] = []
    untracked: list[str] = []
    checked_out = []
    for path in gitlinks(index):
        where = f"{folder}{path}"
        if not (top / where / ".git").exists():  # never initialised, or deinitialised
            found.append(Submodule(path=where, commit=None))
            continue
        # Each submodule's questions asked at once, as the top repository's are.
        questions = ("rev-parse", "--verify", "HEAD"), _STATUS
        checked_out.append((where, [_start(top / where, *question) for question in questions]))
    for where, processes in checked_out:
        head, status = (_output(process) for process in processes)
        if head is None or status is None:
            found.append(Submodule(path=where, commit=None))
            sections.append(OmittedChange(path=where, reason="a submodule git cannot read"))
            continue
        found.append(Submodule(path=where, commit=head.decode().strip()))
        _, changed, loose = _status(status)
        if changed:
            sections += decoded_sections(_tracked_diff(top / where, True, f"{where}/"))
        untracked += (f"{where}/{path}" for path in loose)
        inner = _submodules(top, _index(top / where), f"{where}/")
        found += inner.found
        sections += inner.sections
        untracked += inner.untracked
    return _Submodules(found, sections, untracked)


def _report(omitted: list[OmittedChange]) -> list[OmittedChange]:
    """Name what the patch leaves out, once on stderr; the list to record, capped."""
    print(f"yanex: git patch leaves out {named(omitted, OMISSIONS_PRINTED)}", file=sys.stderr, flush=True)
    if len(omitted) <= OMISSIONS_RECORDED:
        return omitted
    rest = len(omitted) - OMISSIONS_RECORDED + 1
    return [*omitted[: OMISSIONS_RECORDED - 1], OmittedChange(path="…", reason=f"and {rest} more")]


def capture_git(path: Path) -> GitInfo:
    """Git state of the repository containing ``path`` (a script or a folder).

    Prints one line on stderr naming whatever it leaves out of the patch (see ``git_patch``).
    Raises ``ConfigError`` for a malformed size limit in the environment.
    """
    start = path if path.is_dir() else path.parent
    if not start.is_dir():
        return GitInfo()
    file_limit, total_limit = config.git_untracked_limits()
    try:
        # Independent questions, asked at once: the start-up cost is the slowest, not the sum.
        processes = [
            _start(start, "rev-parse", "--show-toplevel"),
            _start(start, *_STATUS),
            _start(
                start, "log", "-1", "--no-show-signature", "--format=%H%x00%an%x00%ae%x00%B", "HEAD", "--"
            ),
            _start(start, "config", "-z", "--get-regexp", r"^remote\..*\.url$"),
            _start(
                start, "for-each-ref", "--contains=HEAD", "--count=1", "--format=%(refname)", "refs/remotes/"
            ),
        ]
    except OSError:  # no git executable
        return GitInfo()
    top_out, status_out, head_out, remotes_out, pushed_out = (_output(p) for p in processes)
    if top_out is None or status_out is None:  # not in a repository
        return GitInfo()
    top = Path(os.fsdecode(top_out.rstrip(b"\n")))
    branch, changed, untracked = _status(status_out)

    commit = message = author_name = author_email = None
    if head_out is not None:
        commit, author_name, author_email, message = head_out.decode("utf-8", "replace").split("\0", 3)
        message = message.strip()
        if len(message) > MESSAGE_LIMIT:
            message = message[: MESSAGE_LIMIT - 1] + "…"

    parts: list[str] = []
    omitted: list[OmittedChange] = []
    submodules = _submodules(top, _index(top))
    tracked = decoded_sections(_tracked_diff(top, commit is not None)) if changed else iter(())
    for section in (*tracked, *submodules.sections):
        if isinstance(section, str):
            parts.append(section)
        else:
            omitted.append(section)
    kept = untracked_diff(top, [*untracked, *submodules.untracked], file_limit, total_limit)
    parts.append(kept.diff)
    omitted += kept.omitted
    patch, secrets = leave_out_secrets("".join(parts))
    omitted += secrets
    omitted.sort(key=lambda change: (change.path, change.hunk or 0))  # by file, however found
    return GitInfo(
        commit=commit,
        branch=branch,
        dirty=changed or bool(untracked),
        patch=patch or None,
        commit_message=message or None,
        author_name=author_name or None,
        author_email=author_email or None,
        remotes=_remotes(remotes_out),
        commit_on_remote=None if commit is None or pushed_out is None else bool(pushed_out.strip()),
        omitted=_report(omitted) if omitted else [],
        submodules=submodules.found,
    )
