"""What of a checkout yanex may copy out of it: one policy for the git patch an experiment records
(``yanex.runner.git_patch``) and the code snapshot a cluster's workers run
(``yanex.executors.snapshot``), which leaves the machine.

- Files outside version control (untracked ones, or any file of a folder no repository holds) go
  only when their names do not look like credentials (``secret_name``), their content holds none
  (``find_secret``) and they fit the size caps (``config.git_untracked_limits``): ``take_outside``.
- Changes to tracked files are scanned by content, hunk by hunk (``leave_out_secrets``). Their
  names are not checked: a tracked file is already in the history the user commits and pushes.

- Submodules are part of the code: their files go by the same rules (``gitlinks`` finds them).

Every omission comes back as an ``OmittedChange`` naming the file and why, so what was copied is
never partial without saying so.
"""

from __future__ import annotations

import codecs
import os
import re
import stat
from collections.abc import Iterator, Sequence
from fnmatch import fnmatch
from pathlib import Path
from typing import NamedTuple

from yanex.display import format_size
from yanex.specs import OmittedChange

_GITLINK = re.compile(rb"(?:^|\0)160000 [0-9a-f]+ [0-3]\t([^\0]+)")


def gitlinks(index: bytes | None) -> list[str]:
    """The submodule paths in ``git ls-files --stage -z`` output (mode 160000), in index order."""
    if not index or b"160000 " not in index:
        return []
    return list(dict.fromkeys(os.fsdecode(path) for path in _GITLINK.findall(index)))


# File names that hold credentials by convention, matched case-insensitively against the name.
# A bare `id_*` would also catch `id_utils.py`: only the ssh key names are listed.
SECRET_NAMES = (
    ".env",
    ".env.*",
    "*.env",
    ".envrc",
    "*.pem",
    "*.key",
    "*.p12",
    "*.pfx",
    "*.jks",
    "*.keystore",
    "*.ppk",
    "*.kdbx",
    "id_rsa*",
    "id_dsa*",
    "id_ecdsa*",
    "id_ed25519*",
    "credentials*",
    ".netrc",
    "_netrc",
    ".pgpass",
    ".pypirc",
    ".npmrc",
    ".htpasswd",
    "*.tfvars",
    "*secret*",
)
SECRET_FOLDERS = frozenset({".ssh", ".aws", ".gnupg", ".docker"})


class _Shape(NamedTuple):
    what: str
    prefixes: tuple[str, ...]  # how it starts: found with str.find, then `pattern` is matched there
    pattern: re.Pattern[str]


# Credentials with a recognisable shape. Looking for the literal starts and matching only where one
# is found keeps a scan of a multi-megabyte patch in the milliseconds (one regular expression with
# these as alternatives took 0.3 s per MB).
_SHAPES = (
    _Shape("an AWS access key id", ("AKIA", "ASIA", "ABIA", "ACCA"), re.compile(r"[A-Z]{4}[0-9A-Z]{16}\b")),
    _Shape(
        "a GitHub token",
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
        re.compile(r"gh[pousr]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{22,}"),
    ),
    _Shape(
        "a private key", ("-----BEGIN",), re.compile(r"-----BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----")
    ),
    _Shape(
        "a Slack token",
        tuple(f"xox{c}-" for c in "abposr"),
        re.compile(r"xox[abposr]-[A-Za-z0-9-]{10,}"),
    ),
    _Shape("a Hugging Face token", ("hf_",), re.compile(r"hf_[A-Za-z0-9]{34,}")),
    _Shape(
        "an OpenAI API key",
        ("sk-",),
        re.compile(r"sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}T3BlbkFJ[A-Za-z0-9_-]{20,}"),
    ),
    _Shape("an Anthropic API key", ("sk-ant-",), re.compile(r"sk-ant-[a-z]+\d\d-[A-Za-z0-9_-]{80,}")),
    _Shape("a Google API key", ("AIza",), re.compile(r"AIza[0-9A-Za-z_-]{35}")),
    _Shape("a Stripe key", ("sk_live_", "rk_live_"), re.compile(r"[rs]k_live_[0-9A-Za-z]{24,}")),
)

# `password = "hunter22"`, `API_KEY=abc123def`, `"token": "..."`: a name ending in one of these
# words (looked for in the lowered text), given a literal of 8+ characters with letters and digits.
# Quotes, brackets, parentheses and spaces end a literal, so `eos_token = "</s>"`,
# `secret = hashlib.sha256(x)` and `password = os.environ["PW"]` are not taken for credentials.
_NAME_ENDS = ("password", "passwd", "secret", "token", "key")
_KEY_KINDS = ("api", "access", "private", "auth", "secret")  # `key` alone is too common a name
_ASSIGNED = re.compile(
    r"""["']?[ \t]*(?::=|=|:)[ \t]*"""
    r"""(?P<quote>["']?)(?P<value>[^\s"'<>()\[\]{}|,;=]{8,})(?P=quote)(?![^\s,;)\]}])"""
)


_FILE_START = re.compile(r"^(?=diff --git )", re.MULTILINE)
_HUNK_START = re.compile(r"^(?=@@ )", re.MULTILINE)


def _starts(text: str, prefix: str) -> Iterator[int]:
    """Where ``prefix`` occurs in ``text`` at the start of a word."""
    at = text.find(prefix)
    while at != -1:
        if at == 0 or not text[at - 1].isalnum():
            yield at
        at = text.find(prefix, at + 1)


def _assigned_secret(text: str) -> str | None:
    lowered = text.lower()  # the same length for the ASCII names looked for here
    for end in _NAME_ENDS:
        at = lowered.find(end)
        while at != -1:
            # The end of the name, at most 40 characters: a long line is not copied per match.
            name_start = max(lowered.rfind("\n", max(at - 40, 0), at) + 1, at - 40, 0)
            name = lowered[name_start:at].rstrip("_-")
            if end != "key" or name.endswith(_KEY_KINDS):
                found = _ASSIGNED.match(lowered, at + len(end))
                if found:
                    value = found["value"]
                    if any(c.isdigit() for c in value) and any(c.isalpha() for c in value):
                        if "aws" in name and len(value) == 40:
                            return "an AWS secret access key"
                        return "a password or token"
            at = lowered.find(end, at + 1)
    return None


def find_secret(text: str) -> str | None:
    """What credential ``text`` seems to hold, or None."""
    for shape in _SHAPES:
        for prefix in shape.prefixes:
            if any(shape.pattern.match(text, at) for at in _starts(text, prefix)):
                return shape.what
    return _assigned_secret(text)


def secret_name(path: str) -> bool:
    """Whether an untracked file's path looks like it holds credentials (``.env``, ``id_rsa``...)."""
    *folders, name = path.lower().split("/")
    return any(fnmatch(name, pattern) for pattern in SECRET_NAMES) or not SECRET_FOLDERS.isdisjoint(folders)


def unquote(name: str) -> str:
    if not name.startswith('"'):
        return name
    raw: bytes = codecs.escape_decode(name[1:-1].encode("ascii", "backslashreplace"))[0]
    return raw.decode("utf-8", "replace")


def file_path(section: str) -> str:
    """The path a file's section of a patch is about, for messages."""
    lines = section.split("\n", 8)
    for line in lines:
        if line.startswith("+++ ") and line != "+++ /dev/null":
            return unquote(line[4:]).removeprefix("b/")
    for line in lines:
        if line.startswith("--- ") and line != "--- /dev/null":
            return unquote(line[4:]).removeprefix("a/")
    rest = lines[0].removeprefix("diff --git ")
    if rest.startswith('"'):
        return unquote(rest[: rest.index('" ') + 1]).removeprefix("a/")
    return rest[2 : 2 + (len(rest) - 5) // 2]  # "a/P b/P": both names are the same


def leave_out_secrets(patch: str) -> tuple[str, list[OmittedChange]]:
    """The patch without the hunks that seem to hold credentials, and what was left out.

    A file all of whose hunks go is left out whole, header too.
    """
    if find_secret(patch) is None:  # the usual case: one pass, nothing to split
        return patch, []
    kept: list[str] = []
    omitted: list[OmittedChange] = []
    for section in _FILE_START.split(patch):
        header, *hunks = _HUNK_START.split(section)
        found = [find_secret(hunk) for hunk in hunks] if hunks else [find_secret(header)]
        if not any(found):
            kept.append(section)
            continue
        path = file_path(section)
        if all(found) or not hunks:
            reasons = dict.fromkeys(what for what in found if what)
            omitted.append(OmittedChange(path=path, reason="looks like " + " and ".join(reasons)))
            continue
        kept.append(header + "".join(h for h, what in zip(hunks, found, strict=True) if not what))
        omitted += [
            OmittedChange(path=path, hunk=number, reason=f"looks like {what}")
            for number, what in enumerate(found, 1)
            if what
        ]
    return "".join(kept), omitted


class Taken(NamedTuple):
    """A file outside version control that may be copied out: its bytes and ``st_mode``."""

    data: bytes
    mode: int


def take_outside(file: Path, path: str, file_limit: int, total_limit: int, room: int) -> Taken | str:
    """The content of ``file`` (``path``, relative to the top copied), outside version control, if
    it may be copied out with ``room`` bytes left of ``total_limit``; else why not. Symbolic
    links are the caller's to handle (a patch records them, a snapshot leaves them)."""
    if secret_name(path):
        return "its name looks like a secret file"
    over_total = f"untracked files over {format_size(total_limit)} in all"
    try:
        info = file.lstat()
        if not stat.S_ISREG(info.st_mode):
            return "not a regular file"
        if info.st_size > file_limit:
            return f"over {format_size(file_limit)}"
        if info.st_size > room:
            return over_total
        with file.open("rb") as handle:
            data = handle.read(file_limit + 1)
    except OSError as error:
        return f"unreadable: {error.strerror or error}"
    if len(data) > file_limit:  # it grew since lstat
        return f"over {format_size(file_limit)}"
    if len(data) > room:
        return over_total
    what = find_secret(data.decode("utf-8", "replace"))  # credentials are ASCII: any file is scanned
    if what is not None:
        return f"looks like {what}"
    return Taken(data, info.st_mode)


def named(omitted: Sequence[OmittedChange], shown: int = 10) -> str:
    """``N change(s): a (why), b hunk 2 (why), and M more``, for one line on stderr."""
    listed = ", ".join(str(change) for change in omitted[:shown])
    more = len(omitted) - shown
    return f"{len(omitted)} change{'' if len(omitted) == 1 else 's'}: {listed}" + (
        f", and {more} more" if more > 0 else ""
    )


__all__ = [
    "SECRET_FOLDERS",
    "SECRET_NAMES",
    "Taken",
    "file_path",
    "find_secret",
    "leave_out_secrets",
    "named",
    "secret_name",
    "take_outside",
    "unquote",
]
