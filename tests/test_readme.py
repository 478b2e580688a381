"""The shell examples of the README and the docs paste as written; the README opens with its set-up."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

README = REPO_ROOT / "README.md"
PAGES = [README, *sorted((REPO_ROOT / "docs").glob("*.md"))]


def bash_lines(page: Path) -> list[str]:
    """The `yanex ...` command lines of a page's bash blocks (continuation lines joined) and the
    `$ yanex ...` lines of its console and text blocks."""
    lines: list[str] = []
    for kind, block in re.findall(r"```(bash|console|text)\n(.*?)```", page.read_text(), flags=re.DOTALL):
        for line in block.replace("\\\n", " ").splitlines():
            line = line if kind == "bash" else line.removeprefix("$ ")
            if line.startswith("yanex "):
                lines.append(line)
    return lines


def unquoted_specials(line: str) -> list[str]:
    """Characters a shell would treat specially (`[`, `(`, `*` as globs or syntax, `!` as history)
    outside quotes, up to a comment; `!` counts inside double quotes too, where bash expands it."""
    found: list[str] = []
    quote = ""
    word_start = True
    escaped = False
    for char in line:
        if escaped:
            escaped, word_start = False, False
            continue
        if quote == "'":
            quote = "" if char == "'" else quote
        elif quote == '"':
            if char == "\\":
                escaped = True
            elif char == '"':
                quote = ""
            elif char == "!":
                found.append(char)
        elif char == "\\":
            escaped = True
        elif char in "'\"":
            quote = char
        elif char == "#" and word_start:
            break
        elif char in "[(*!":
            found.append(char)
        word_start = char.isspace()
    return found


def test_the_checker_finds_what_a_shell_would_expand() -> None:
    assert unquoted_specials("yanex run t.py -p model.layers=[64,32]") == ["["]
    assert unquoted_specials('yanex run t.py -p "lr=logspace(-4,-1,4)" --name g*') == ["*"]
    assert unquoted_specials("yanex compare --group-by '!seed'  # (n) * [x]") == []
    assert unquoted_specials('yanex compare --group-by "!seed"') == ["!"]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_shell_examples_paste_as_written(page: Path) -> None:
    lines = bash_lines(page)
    for line in lines:
        words = shlex.split(line, comments=True)  # raises on an unbalanced quote
        assert words[0] == "yanex", line
        assert unquoted_specials(line) == [], f"{page.name}: quote the argument in: {line}"
    if page == README:
        assert len(lines) >= 10


def test_the_readme_opens_with_its_two_set_up_commands() -> None:
    """What a newcomer types first (../shared/tools/fresh-clone-check runs them on a fresh clone)."""
    first_block = re.search(r"```bash\n(.*?)```", README.read_text(), flags=re.DOTALL)
    assert first_block is not None
    commands = [line.split("#")[0].strip() for line in first_block.group(1).splitlines()]
    assert commands == ["make demo", "make test"]
