"""User text reaches the terminal escaped: no control character passes, no newline splits a row."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import pty
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import yanex_cli
from yanex.cli.app import app
from yanex.runner.progress import _Counts
from yanex.specs import ExperimentResult
from yanex.terminal import printable, tag_list

runner = CliRunner()
CLEAR = "\x1b[2J"
TITLE = "\x1b]0;pwned\x07"  # OSC: sets the window title
CSI8 = "\x9b2J"  # the 8-bit form of CLEAR
NAME = f"evil{CLEAR}\nname"
TAGS = [f"t{TITLE}", "a,b", "plain"]
DESCRIPTION = f"line one{CSI8}\nline two"
CONFIG = {f"key{CLEAR}": f"value{TITLE}", "plain": 1}
UNSAFE = ("\x1b", "\x07", "\x9b")


def assert_safe(text: str) -> None:
    for char in UNSAFE:
        assert char not in text, repr(text)


@pytest.fixture
def evil(write_script, tmp_path: Path) -> str:
    """One failed experiment whose every text field is hostile; returns its id."""
    script = write_script("train.py", f"raise ValueError({TITLE + CLEAR!r})\n")
    config_file = tmp_path / "params.json"
    config_file.write_text(json.dumps(CONFIG))
    args = ["run", str(script), "-c", str(config_file), "--name", NAME, "-d", DESCRIPTION]
    result = yanex_cli(*args, *(arg for tag in TAGS for arg in ("--tag", tag)))
    assert result.returncode == 1, result.stderr
    listed = yanex_cli("get", "id")
    return listed.stdout.strip()


def test_list_plain_table_is_one_escaped_line_per_experiment(evil: str) -> None:
    for result in (runner.invoke(app, ["list"]), yanex_cli("list")):
        assert_safe(result.stdout + result.stderr)
        [row] = result.stdout.splitlines()
        assert row.split()[:3] == [evil[:8], "evil\\x1b[2J\\nname", "failed"]
        assert '"a,b",plain,"t\\u001b]0;pwned\\u0007"' in row  # tags: unambiguous


def test_csv_quotes_newlines_and_json_keeps_the_data(evil: str) -> None:
    result = yanex_cli("list", "--format", "csv")
    assert_safe(result.stdout)
    _header, row = list(csv.reader(io.StringIO(result.stdout)))
    assert row[1] == "evil\\x1b[2J\nname"  # the newline inside a quoted field
    result = yanex_cli("list", "--format", "json")
    assert_safe(result.stdout)
    [record] = json.loads(result.stdout)
    assert (record["name"], record["tags"]) == (NAME, sorted(TAGS))  # JSON escapes are the same data
    shown = yanex_cli("show", evil, "--format", "json")
    assert_safe(shown.stdout)
    assert json.loads(shown.stdout)["description"] == DESCRIPTION
    markdown = yanex_cli("list", "--format", "markdown")
    assert_safe(markdown.stdout)
    assert len(markdown.stdout.splitlines()) == 3


def test_show_compare_get_escape_every_field(evil: str) -> None:
    shown = yanex_cli("show", evil)
    assert_safe(shown.stdout + shown.stderr)
    lines = shown.stdout.splitlines()
    assert "  name         evil\\x1b[2J\\nname" in lines
    assert "  description  line one\\x9b2J" in lines and "               line two" in lines
    assert any(line.strip() == "key\\x1b[2J  value\\x1b]0;pwned\\x07" for line in lines)
    assert any("ValueError: \\x1b]0;pwned\\x07\\x1b[2J" in line for line in lines)
    compared = yanex_cli("compare", evil)
    assert_safe(compared.stdout + compared.stderr)
    assert "key\\x1b[2J" in compared.stderr and "value\\x1b]0;pwned\\x07" in compared.stdout
    for field, expected in [
        ("name", "evil\\x1b[2J\\nname"),
        ("tags", json.dumps(sorted(TAGS))),  # JSON, as every structured field
        ("description", "line one\\x9b2J\\nline two"),
        ("params", json.dumps(CONFIG, sort_keys=True)),
    ]:
        got = yanex_cli("get", field, evil)
        assert_safe(got.stdout)
        assert got.stdout == expected + "\n"
    assert runner.invoke(app, ["get", "name", evil]).stdout == "evil\\x1b[2J\\nname\n"


def test_rich_tables_on_a_terminal_are_escaped_too(evil: str) -> None:
    for command in (["list"], ["compare", evil], ["show", evil]):
        output = _on_a_terminal(command)
        assert CLEAR not in output and "\x1b]" not in output and "\x07" not in output and "\x9b" not in output
        assert "\\x1b" in output


def _on_a_terminal(args: list[str]) -> str:
    """The real command's output on a pseudo-terminal, so that it renders for a person."""
    parent, child = pty.openpty()
    env = {**os.environ, "COLUMNS": "200"}
    process = subprocess.Popen([sys.executable, "-m", "yanex", *args], stdout=child, stderr=child, env=env)
    os.close(child)
    chunks: list[bytes] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            chunk = os.read(parent, 65536)
        except OSError:  # the child closed its end
            break
        if not chunk:
            break
        chunks.append(chunk)
    process.wait(timeout=60)
    os.close(parent)
    return b"".join(chunks).decode("utf-8", "replace")


def test_error_messages_quoting_user_text_are_escaped(write_script) -> None:
    script = write_script("train.py", "pass\n")
    path = f"conf{CLEAR}{TITLE}.yaml"
    for stderr in (
        runner.invoke(app, ["run", str(script), "-c", path]).stderr,
        yanex_cli("run", str(script), "-c", path).stderr,
    ):
        assert_safe(stderr)
        assert "config file conf\\x1b[2J\\x1b]0;pwned\\x07.yaml does not exist" in stderr


def test_batch_progress_lines_are_escaped(write_script) -> None:
    script = write_script("fail.py", f"raise RuntimeError({CLEAR + TITLE!r})\n")
    orchestrator = write_script(
        "batch.py",
        f"""
        import yanex
        if __name__ == "__main__":
            yanex.run_multiple([yanex.ExperimentSpec({str(script)!r}, name={NAME!r})])
        """,
    )
    result = subprocess.run([sys.executable, str(orchestrator)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert_safe(result.stderr)
    assert "evil\\x1b[2J\\nname" in result.stderr
    assert "RuntimeError: \\x1b[2J\\x1b]0;pwned\\x07" in result.stderr


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("tab\there", "tab\\there"),
        ("cr\rlf\n", "cr\\rlf\\n"),
        ("bidi\u202eevil", "bidi\\u202eevil"),
        ("sep\u2028x", "sep\\u2028x"),
        ("del\x7f", "del\\x7f"),
        ("surrogate\udcff", "surrogate\\udcff"),
        ("caf\u00e9 \U0001f600", "caf\u00e9 \U0001f600"),
    ],
)
def test_printable_escapes_controls_and_keeps_the_rest(text: str, shown: str) -> None:
    assert printable(text) == shown


def test_tags_are_bare_unless_they_need_quoting() -> None:
    assert tag_list(["baseline", "grid search"]) == "baseline,grid search"
    assert tag_list(["a,b", " x", 'q"', "back\\slash", "c"]) == '"a,b"," x","q\\"","back\\\\slash",c'


def test_a_batch_on_a_terminal_shows_what_runs_and_leaves_a_summary_line(write_script, tmp_path) -> None:
    # Each script runs until the test has seen two of them running on the display (or a minute).
    release = tmp_path / "release"
    script = write_script(
        "work.py",
        f"""
        import pathlib, time, yanex
        deadline = time.monotonic() + 60
        while not pathlib.Path({str(release)!r}).exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        if yanex.get_param('fail'):
            raise SystemExit(2)
        """,
    )
    orchestrator = write_script(
        "grid.py",
        f"""
        import yanex
        if __name__ == "__main__":
            specs = [
                yanex.ExperimentSpec({str(script)!r}, config={{"fail": i == 1}}, name=f"lr-{{i}}")
                for i in range(3)
            ]
            yanex.run_multiple(specs, parallel=2)
        """,
    )
    parent, child = pty.openpty()
    env = {**os.environ, "COLUMNS": "120"}
    process = subprocess.Popen([sys.executable, str(orchestrator)], stdout=child, stderr=child, env=env)
    os.close(child)
    chunks: list[bytes] = []

    def shown() -> str:
        return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", b"".join(chunks).decode("utf-8", "replace"))

    both_running = "✓ 0 completed  ✗ 0 failed  ▶ 2 running"  # the words are the marks' legend
    with contextlib.suppress(OSError):  # the child closed its end
        while chunk := os.read(parent, 65536):
            chunks.append(chunk)
            if not release.exists() and both_running in shown():
                release.touch()
    assert process.wait(timeout=120) == 0
    os.close(parent)
    output = shown()
    assert "▶ running: lr-" in output  # which experiments run, named
    assert both_running in output
    lines = [line.strip() for line in output.replace("\r", "\n").splitlines() if line.strip()]
    final = r"batch (\w{8}): 2 completed, 1 failed in [0-9.]+ s — yanex list --batch (\w{8})"
    summary = re.fullmatch(final, lines[-1])
    assert summary is not None and summary[1] == summary[2], lines[-3:]


def test_the_batch_eta_counts_down_between_finishes() -> None:
    counts = _Counts()
    counts.total, counts.began = 4, 100.0
    assert counts.eta(101.0) is None  # nothing finished: no pace yet
    counts.count(ExperimentResult(experiment_id="a" * 32, status="completed"))
    counts.last_done = 102.0  # 2 s for the first
    assert counts.eta(103.0) == pytest.approx(5.0)  # 3 more at 2 s each, 1 s of which has passed
    assert counts.eta(106.0) == pytest.approx(2.0)
    assert counts.eta(120.0) == 0.0
