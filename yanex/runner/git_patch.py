"""What of the uncommitted changes goes into an experiment's git patch, and what is left out.

Tracked changes (staged and unstaged) always go in. Untracked, non-ignored files go in only when
their names do not look like credentials and they are small UTF-8 text. Then the whole patch is
scanned for credentials and every hunk that seems to hold one is left out. Each omission comes back
as an ``OmittedChange``: a patch is never partial without saying so.

Secret names are checked on untracked files only: a tracked file is already in the history the user
commits and pushes; its changes are scanned by content like every other hunk.
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

from yanex.specs import OmittedChange

SNIFF_BYTES = 8192  # as git decides: a NUL byte in the first 8 KB makes a file binary

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


def _find_secret(text: str) -> str | None:
    """What credential ``text`` seems to hold, or None."""
    for shape in _SHAPES:
        for prefix in shape.prefixes:
            if any(shape.pattern.match(text, at) for at in _starts(text, prefix)):
                return shape.what
    return _assigned_secret(text)


def size_text(size: int) -> str:
    if size >= 1024**2 and size % 1024**2 == 0:
        return f"{size // 1024**2} MB"
    if size >= 1024 and size % 1024 == 0:
        return f"{size // 1024} KB"
    return f"{size} bytes"


def secret_name(path: str) -> bool:
    """Whether an untracked file's path looks like it holds credentials (``.env``, ``id_rsa``...)."""
    *folders, name = path.lower().split("/")
    return any(fnmatch(name, pattern) for pattern in SECRET_NAMES) or not SECRET_FOLDERS.isdisjoint(folders)


_C_ESCAPES = {7: "\\a", 8: "\\b", 9: "\\t", 10: "\\n", 11: "\\v", 12: "\\f", 13: "\\r", 34: '\\"', 92: "\\\\"}


def _quote(name: str) -> str:
    """A path as git writes it in a patch: C-quoted, octal bytes, when it has unusual characters."""
    raw = os.fsencode(name)
    if all(0x20 <= c < 0x7F and c not in (34, 92) for c in raw):
        return name
    escaped = (_C_ESCAPES.get(c) or (chr(c) if 0x20 <= c < 0x7F else f"\\{c:03o}") for c in raw)
    return '"' + "".join(escaped) + '"'


def _unquote(name: str) -> str:
    if not name.startswith('"'):
        return name
    raw: bytes = codecs.escape_decode(name[1:-1].encode("ascii", "backslashreplace"))[0]
    return raw.decode("utf-8", "replace")


def readable(path: str) -> str:
    """A path from the file system as text that can be stored (undecodable bytes replaced)."""
    return os.fsencode(path).decode("utf-8", "replace")


def new_file_diff(path: str, text: str, mode: int) -> str:
    """The patch git writes for a new file holding ``text`` (``git apply`` creates it)."""
    a, b = _quote(f"a/{path}"), _quote(f"b/{path}")
    head = f"diff --git {a} {b}\nnew file mode {mode:o}\n"
    if not text:
        return head
    lines = text.split("\n")
    ends_with_newline = lines[-1] == ""
    if ends_with_newline:
        lines.pop()
    span = "1" if len(lines) == 1 else f"1,{len(lines)}"
    body = "".join(f"+{line}\n" for line in lines)
    if not ends_with_newline:
        body += "\\ No newline at end of file\n"
    return f"{head}--- /dev/null\n+++ {b}\n@@ -0,0 +{span} @@\n{body}"


class Untracked(NamedTuple):
    diff: str  # new-file patches of the files taken
    omitted: list[OmittedChange]


def untracked_diff(top: Path, paths: Sequence[str], file_limit: int, total_limit: int) -> Untracked:
    """New-file patches for the untracked ``paths`` (relative to ``top``) that may be kept."""
    parts: list[str] = []
    omitted: list[OmittedChange] = []
    total = 0
    for path in paths:
        taken = _read_untracked(top / path, path, file_limit, total_limit, total_limit - total)
        if isinstance(taken, str):
            omitted.append(OmittedChange(path=readable(path), reason=taken))
            continue
        text, mode, size = taken
        parts.append(new_file_diff(path, text, mode))
        total += size
    return Untracked("".join(parts), omitted)


def _read_untracked(
    file: Path, path: str, file_limit: int, total_limit: int, room: int
) -> tuple[str, int, int] | str:
    """The text, mode and size of a file to keep, or why it is left out."""
    over_total = f"untracked files over {size_text(total_limit)} in all"
    if path.endswith("/"):
        return "a nested git repository"
    if secret_name(path):
        return "its name looks like a secret file"
    try:
        info = file.lstat()
        if stat.S_ISLNK(info.st_mode):
            target = os.readlink(file)
            return (readable(target), 0o120000, len(target)) if len(target) <= room else over_total
        if not stat.S_ISREG(info.st_mode):
            return "not a regular file"
        if info.st_size > file_limit:
            return f"over {size_text(file_limit)}"
        if info.st_size > room:
            return over_total
        with file.open("rb") as handle:
            data = handle.read(file_limit + 1)
    except OSError as error:
        return f"unreadable: {error.strerror or error}"
    if len(data) > file_limit:  # it grew since lstat
        return f"over {size_text(file_limit)}"
    if b"\0" in data[:SNIFF_BYTES]:
        return "binary"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return "not UTF-8 text"
    mode = 0o100755 if info.st_mode & stat.S_IXUSR else 0o100644
    return text, mode, len(data)


def _file_path(section: str) -> str:
    """The path a file's section of a patch is about, for messages."""
    lines = section.split("\n", 8)
    for line in lines:
        if line.startswith("+++ ") and line != "+++ /dev/null":
            return _unquote(line[4:]).removeprefix("b/")
    for line in lines:
        if line.startswith("--- ") and line != "--- /dev/null":
            return _unquote(line[4:]).removeprefix("a/")
    rest = lines[0].removeprefix("diff --git ")
    if rest.startswith('"'):
        return _unquote(rest[: rest.index('" ') + 1]).removeprefix("a/")
    return rest[2 : 2 + (len(rest) - 5) // 2]  # "a/P b/P": both names are the same


def leave_out_secrets(patch: str) -> tuple[str, list[OmittedChange]]:
    """The patch without the hunks that seem to hold credentials, and what was left out.

    A file all of whose hunks go is left out whole, header too.
    """
    if _find_secret(patch) is None:  # the usual case: one pass, nothing to split
        return patch, []
    kept: list[str] = []
    omitted: list[OmittedChange] = []
    for section in _FILE_START.split(patch):
        header, *hunks = _HUNK_START.split(section)
        found = [_find_secret(hunk) for hunk in hunks] if hunks else [_find_secret(header)]
        if not any(found):
            kept.append(section)
            continue
        path = _file_path(section)
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


def decoded_sections(raw: bytes) -> Iterator[str | OmittedChange]:
    """A ``git diff`` output as text, file by file; a file whose diff is not UTF-8 is left out
    (decoding it with replacements would store a patch that no longer applies)."""
    try:
        yield raw.decode("utf-8")
        return
    except UnicodeDecodeError:
        pass
    for section in re.split(rb"(?m)^(?=diff --git )", raw):
        try:
            yield section.decode("utf-8")
        except UnicodeDecodeError:
            path = _file_path(section.decode("utf-8", "replace"))
            yield OmittedChange(path=path, reason="its changes are not UTF-8 text")
