"""Sweeps of any size: points, names, dry runs and rows are streamed, so a sweep's first experiment
starts after its first rows are written, and a million points take megabytes, not gigabytes.

The checks are structural rather than timed: how many rows exist when the first experiment starts,
and the peak memory of the real command."""

from __future__ import annotations

import contextlib
import io
import os
import re
import signal
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import yanex
from tests.conftest import wait_until, yanex_cli
from yanex.cli.render import STREAM_CHUNK, OutputFormat, print_rows, stream_rows
from yanex.display import format_value
from yanex.runner.batch import AHEAD, FIRST
from yanex.sweep.expand import SweepDefinition, dotted, named_points
from yanex.sweep.grammar import parse_axis


def definition(*axes: tuple[str, str], samples: int | None = None, base: Any = None) -> SweepDefinition:
    parsed = tuple((tuple(key.split(".")), parse_axis(key, text)) for key, text in axes)
    return SweepDefinition(base or {}, parsed, samples, 0 if samples else None)


def reference_names(prefix: str, made: SweepDefinition) -> list[str]:
    """The names as sweeps have always given them: every name made, then ``-1``, ``-2``, ...
    for a name several points share."""
    points = list(made.points())
    shown = set(made.varying())

    def fill(config: dict[str, Any]) -> str:
        def field(match: re.Match[str]) -> str:
            node: Any = config
            for part in match.group(1).split("."):
                node = node[part]
            return format_value(node)

        return re.sub(r"\{([^{}]+)\}", field, prefix)

    if "{" in prefix:
        names = [fill(p.config) for p in points]
    else:
        names = [
            prefix + "".join(f"-{dotted(path)}{format_value(v)}" for path, v in p.values if path in shown)
            for p in points
        ]
    counts, seen, unique = Counter(names), Counter[str](), []
    for name in names:
        if counts[name] > 1:
            seen[name] += 1
            name = f"{name}-{seen[name]}"
        unique.append(name)
    return unique


@pytest.mark.parametrize(
    ("prefix", "made"),
    [
        ("p", definition(("a", "range(-3, 4)"), ("b", "list(x, y)"))),
        ("p", definition(("a", "linspace(1, 1.0000001, 3)"), ("b", "list(1, 2)"))),  # 6 digits: all "1"
        ("p", definition(("a", "list(1, 1)"), ("b", "list(2, 3)"))),  # the same point twice
        ("p", definition(("a", "list(x, 'x-b1')"), ("b", "list('1-bz', z)"))),  # p-ax-b1-bz twice
        ("{a}{b}", definition(("a", "range(12)"), ("b", "range(12)"))),  # 1 and 11, 11 and 1
        ("r{a}-{b}", definition(("a", "range(-2, 3)"), ("b", "range(3)"))),
        ("r{a}0{b}", definition(("a", "range(12)"), ("b", "range(2)"))),  # 1 0 10 and 10 0 ...
        ("g-{m.lr}-{c}", definition(("m.lr", "logspace(-3, -1, 3)"), base={"c": "k"})),
        ("fixed", definition(("a", "range(3)"))),
        ("p", definition(("a", "choice(u, v)"), ("b", "list(1, 2)"), samples=6)),
        ("p", definition(("a", "randint(0, 3)"), samples=9)),
    ],
)
def test_streamed_names_are_the_names_sweeps_always_had(prefix: str, made: SweepDefinition) -> None:
    assert [name for name, _ in named_points(prefix, made)] == reference_names(prefix, made)


def test_a_template_over_an_axis_of_mappings_is_named_by_the_fields_inside(tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    script.write_text("")
    specs = yanex.grid(script, {"m": [{"lr": 1}, {"lr": 1}, {"lr": 2}]}, name="r{m.lr}")
    assert [spec.name for spec in specs] == ["r1-1", "r1-2", "r2"]


@pytest.mark.parametrize("fmt", list(OutputFormat))
@pytest.mark.parametrize("count", [0, 3, STREAM_CHUNK])
def test_streamed_rows_are_what_print_rows_writes(fmt: OutputFormat, count: int) -> None:
    items = [(f"name-{i}", {"x": i / 3, "s": "a|b", "flag": i % 2 == 0}) for i in range(count)]
    columns = ["name", "x", "s", "flag"]

    def row(item: tuple[str, dict[str, Any]]) -> list[Any]:
        return [item[0], *item[1].values()]

    def record(item: tuple[str, dict[str, Any]]) -> dict[str, Any]:
        return {"name": item[0], "config": item[1]}

    def written(write: Any) -> tuple[str, str]:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            write()
        return out.getvalue(), err.getvalue()

    streamed = written(lambda: stream_rows(fmt, columns, iter(items), row, record))
    printed = written(lambda: print_rows(fmt, columns, [row(i) for i in items], [record(i) for i in items]))
    assert streamed == printed


PEAK = """
import resource, subprocess, sys
with open(sys.argv[1], "w") as out:
    code = subprocess.run([sys.executable, "-m", "yanex", *sys.argv[2:]], stdout=out).returncode
print(code, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024)
"""


@pytest.mark.slow
def test_a_dry_run_of_a_million_points_streams_in_bounded_memory(write_script, tmp_path: Path) -> None:
    script = write_script("train.py", "")
    output = tmp_path / "points.out"
    measured = subprocess.run(
        [sys.executable, "-c", PEAK, str(output), "run", str(script), "-p", "a=range(1000000)", "--dry-run"],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=600,
    )
    code, peak_mb = map(int, measured.stdout.split())
    assert code == 0, measured.stderr
    assert peak_mb < 250, f"the dry run peaked at {peak_mb} MB"  # it held every point: 1 GB
    with output.open() as lines:
        first = next(lines)
        count = 1 + sum(1 for _ in lines)
    assert first.split() == ["train-a0", "0"] and count == 1_000_000


# Each experiment notes how many experiment rows exist when it starts; the first note is kept.
COUNT_ROWS = """
import os, sqlite3, yanex
from pathlib import Path
note = Path(yanex.get_param("note"))
if not note.exists():
    db = sqlite3.connect(Path(os.environ["YANEX_HOME"]) / "yanex.db", timeout=60)
    rows = db.execute("SELECT count(*) FROM experiments").fetchone()[0]
    note.with_suffix(".tmp").write_text(str(rows))
    note.with_suffix(".tmp").rename(note)
"""
POINTS = 200_000


def peak_mb(pid: int) -> int:
    """The peak resident memory of a running process so far."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) // 1024  # type: ignore[union-attr]


def rows(home: Path, query: str) -> list[tuple[Any, ...]]:
    with contextlib.closing(sqlite3.connect(home / "yanex.db", timeout=60)) as conn:
        return conn.execute(query).fetchall()


def test_a_big_sweep_starts_after_its_first_rows_and_resume_finds_the_rest(
    write_script, tmp_path: Path, yanex_home: Path
) -> None:
    script = write_script("count.py", COUNT_ROWS)
    note = tmp_path / "rows"
    orchestrator = subprocess.Popen(
        [sys.executable, "-m", "yanex", "run", str(script), "-p", f"i=range({POINTS})", "-p", f"note={note}"],
        env=dict(os.environ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        wait_until(lambda: note.exists() or orchestrator.poll() is not None, "the first experiment", 300)
        peak = peak_mb(orchestrator.pid)
        orchestrator.send_signal(signal.SIGINT)  # as Ctrl-C reaches the orchestrator
        _, err = orchestrator.communicate(timeout=120)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(orchestrator.pid, signal.SIGKILL)
    assert orchestrator.returncode == 130, err
    # The first experiment started after the first rows were written, not 200,000 of them.
    assert 0 < int(note.read_text()) <= FIRST
    assert peak < 250, f"the orchestrator held {peak} MB"  # every spec and row at once: 800 MB
    [(batch_id, total)] = rows(yanex_home, "SELECT id, total FROM batches")
    assert total == POINTS
    [(written, completed)] = rows(yanex_home, "SELECT count(*), sum(status = 'completed') FROM experiments")
    assert written <= 2 * AHEAD
    assert rows(yanex_home, "SELECT count(*) FROM experiments WHERE status IN ('queued', 'running')") == [
        (0,)
    ]
    # The points never written are the sweep's like any other: resume finds them all.
    preview = yanex_cli("sweep", "resume", batch_id, "--dry-run", "--format", "csv")
    assert preview.returncode == 0, preview.stderr
    assert len(preview.stdout.splitlines()) == 1 + POINTS - completed


def test_fail_fast_gives_a_result_to_every_spec_past_the_first_window(write_script, yanex_home: Path) -> None:
    boom = yanex.ExperimentSpec(write_script("boom.py", "raise SystemExit(1)\n"))
    ok = write_script("ok.py", "")
    rest = [yanex.ExperimentSpec(ok, {"i": i}) for i in range(AHEAD + 5)]
    results = yanex.run_multiple([boom, *rest], fail_fast=True)
    assert [r.status for r in results] == ["failed"] + ["cancelled"] * len(rest)
    assert len({r.experiment_id for r in results}) == len(results)
    assert rows(yanex_home, "SELECT status, count(*) FROM experiments GROUP BY 1 ORDER BY 1") == [
        ("cancelled", len(rest)),
        ("failed", 1),
    ]
