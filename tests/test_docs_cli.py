"""docs/cli.md stays true: every `$ yanex ...` example runs, in order, against a known population.

Each example must succeed (or fail with exit code 2 where the doc shows an ``Error:``), and the
output lines the doc shows must match the real ones, word for word, except lines showing
wall-clock times. ``abc12345``/``def67890`` stand for real ids; ``/home/me/.yanex`` for YANEX_HOME.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO_ROOT, cli_commands
from tests.query_fixtures import populate
from yanex.db.engine import Database

DOC = REPO_ROOT / "docs" / "cli.md"
BLOCKS = re.findall(r"```console\n(.*?)```", DOC.read_text(), flags=re.DOTALL)
CLOCK = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")


def words(line: str) -> list[str]:
    return line.split()


def test_the_doc_covers_every_command() -> None:
    commands = {block.splitlines()[0].split()[2] for block in BLOCKS if block.startswith("$ yanex ")}
    # Running experiments is the README's subject; this page is about what comes after.
    in_readme = {"run", "rerun"}
    assert set(cli_commands()) - in_readme <= commands
    readme = (REPO_ROOT / "README.md").read_text()
    assert all(f"yanex {name} " in readme for name in in_readme)


def test_every_example_runs(db: Database, tmp_path: Path, yanex_home: Path) -> None:
    ids = populate(db, tmp_path)
    db.dispose()
    # Output shows ids by their first 8 digits, as the docs do; `get id` prints the full id
    placeholders = {
        "abc12345f0e1d2c3b4a5968778695a4b": ids["grid-lr0_1-bs32"],
        "abc12345": ids["grid-lr0_1-bs32"][:8],
        "def67890": ids["grid-lr0_001-bs16"][:8],
    }
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}

    def real(text: str) -> str:
        for placeholder, value in placeholders.items():
            text = text.replace(placeholder, value)
        return text.replace("/home/me/.yanex", str(yanex_home))

    assert BLOCKS
    for block in BLOCKS:
        command, *shown = block.rstrip("\n").splitlines()
        assert command.startswith("$ "), block
        result = subprocess.run(
            real(command[2:]),
            shell=True,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,  # as a terminal shows it: piped tables put their header on stderr
            text=True,
            timeout=120,
        )
        expect_error = bool(shown) and shown[0].startswith("Error:")
        assert result.returncode == (2 if expect_error else 0), f"{command}\n{result.stdout}"
        output = result.stdout.splitlines()
        assert len(output) >= len(shown), f"{command}: expected at least {len(shown)} lines, got {output}"
        for doc_line, line in zip(shown, output, strict=False):
            if not CLOCK.search(doc_line):
                assert words(real(doc_line)) == words(line), command
