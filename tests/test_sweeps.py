"""Sweeps from the command line: expressions, expansion, config composition, dry runs, running
one batch, and refusals. Through Typer's runner and the real ``yanex`` command."""

from __future__ import annotations

import contextlib
import json
import math
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.conftest import yanex_cli
from yanex.cli.app import app

runner = CliRunner()

RECORD = """
import json, yanex
print(json.dumps(yanex.get_params()))
if yanex.get_param("fail", False):
    raise SystemExit(3)
"""


def dry(script: Path, *args: str) -> list[dict[str, Any]]:
    """The experiments a sweep expands to, from ``--dry-run --format json``."""
    result = runner.invoke(app, ["run", str(script), *args, "--dry-run", "--format", "json"])
    assert result.exit_code == 0, result.output
    points: list[dict[str, Any]] = json.loads(result.stdout)
    return points


def rows(home: Path, query: str, *params: object) -> list[tuple[Any, ...]]:
    with contextlib.closing(sqlite3.connect(home / "yanex.db", timeout=60)) as conn:
        return conn.execute(query, params).fetchall()


@pytest.fixture
def script(write_script) -> Path:
    path: Path = write_script("train.py", RECORD)
    return path


@pytest.mark.parametrize(
    ("expression", "values"),
    [
        ("list(0.01, 0.1, 1)", [0.01, 0.1, 1]),
        ("list(adam, 'sgd', true, null, -3)", ["adam", "sgd", True, None, -3]),
        ("range(5)", [0, 1, 2, 3, 4]),
        ("range(0, 10, 2)", [0, 2, 4, 6, 8]),
        ("range(10, 0, -3)", [10, 7, 4, 1]),
        ("range(0, 1, 0.25)", [0.0, 0.25, 0.5, 0.75]),
        ("linspace(0, 1, 5)", [0.0, 0.25, 0.5, 0.75, 1.0]),
        ("linspace(0, 1, 11)", [i / 10 for i in range(11)]),
        ("logspace(-4, -1, 4)", [0.0001, 0.001, 0.01, 0.1]),
    ],
)
def test_each_grid_expression_kind(script: Path, expression: str, values: list[Any]) -> None:
    points = dry(script, "-p", f"x={expression}")
    assert [point["config"]["x"] for point in points] == values


@pytest.mark.parametrize(
    ("expression", "check"),
    [
        ("uniform(2, 3)", lambda v: isinstance(v, float) and 2 <= v <= 3),
        ("loguniform(1e-4, 1e-1)", lambda v: isinstance(v, float) and 1e-4 <= v <= 1e-1),
        ("randint(1, 3)", lambda v: isinstance(v, int) and 1 <= v <= 3),
        ("choice(adam, sgd, 0.5)", lambda v: v in ("adam", "sgd", 0.5)),
    ],
)
def test_each_random_expression_kind(script: Path, expression: str, check: Any) -> None:
    values = [
        p["config"]["x"] for p in dry(script, "-p", f"x={expression}", "--samples", "200", "--seed", "1")
    ]
    assert len(values) == 200 and all(check(value) for value in values)
    assert len(set(values)) > 1
    if expression.startswith("randint"):
        assert set(values) == {1, 2, 3}  # both ends included
    if expression.startswith("loguniform"):  # log-uniform: a third of the draws in each decade
        low = sum(value < 1e-3 for value in values)
        assert 40 < low < 100, low


def test_grid_axes_form_a_cartesian_product_in_order(script: Path) -> None:
    points = dry(
        script, "-p", "a=list(1, 2, 3)", "-p", "b=range(4)", "-p", "c=linspace(0, 1, 5)", "-p", "d=7"
    )
    assert len(points) == 3 * 4 * 5
    configs = [point["config"] for point in points]
    assert configs[0] == {"a": 1, "b": 0, "c": 0.0, "d": 7}
    assert configs[1] == {"a": 1, "b": 0, "c": 0.25, "d": 7}  # the last axis varies fastest
    assert all(list(config) == ["a", "b", "c", "d"] for config in configs)  # keys in the order given
    assert len({json.dumps(config, sort_keys=True) for config in configs}) == 60


def test_each_draw_is_crossed_with_the_grid(script: Path) -> None:
    points = dry(script, "-p", "lr=uniform(0, 1)", "-p", "seed=range(3)", "--samples", "7", "--seed", "0")
    assert len(points) == 7 * 3
    draws = [point["config"]["lr"] for point in points]
    assert len(set(draws)) == 7
    for start in range(0, 21, 3):  # one draw, each seed
        assert len(set(draws[start : start + 3])) == 1
        assert [point["config"]["seed"] for point in points[start : start + 3]] == [0, 1, 2]


def test_the_same_seed_draws_the_same_configs(script: Path) -> None:
    args = ["-p", "lr=loguniform(1e-5, 1)", "-p", "opt=choice(adam, sgd)", "-p", "n=randint(0, 9)"]
    first = dry(script, *args, "--samples", "20", "--seed", "42")
    assert dry(script, *args, "--samples", "20", "--seed", "42") == first
    assert dry(script, *args, "--samples", "20", "--seed", "43") != first
    # Without --seed, one is chosen and printed; passing it draws the same points again.
    result = runner.invoke(app, ["run", str(script), *args, "--samples", "20", "--dry-run", "-f", "json"])
    assert result.exit_code == 0
    [note] = [line for line in result.stderr.splitlines() if line.startswith("Note: drawing with --seed")]
    seed = note.split("--seed ")[1].split(";")[0]
    assert dry(script, *args, "--samples", "20", "--seed", seed) == json.loads(result.stdout)


def test_default_names_show_the_varying_axes(script: Path) -> None:
    names = [
        p["name"]
        for p in dry(script, "-p", "lr=logspace(-4,-1,4)", "-p", "bs=list(16,32)", "-p", "x=list(1)")
    ]
    assert names[:3] == ["train-lr0.0001-bs16", "train-lr0.0001-bs32", "train-lr0.001-bs16"]
    prefixed = dry(script, "-p", "lr=list(0.1, 0.2)", "--name", "grid")
    assert [p["name"] for p in prefixed] == ["grid-lr0.1", "grid-lr0.2"]
    template = dry(script, "-p", "m.lr=list(0.1, 0.2)", "--name", "g-{m.lr}-x")
    assert [p["name"] for p in template] == ["g-0.1-x", "g-0.2-x"]
    same = dry(script, "-p", "lr=list(0.1, 0.2)", "--name", "fixed-{b}", "-p", "b=1")
    assert [p["name"] for p in same] == ["fixed-1-1", "fixed-1-2"]


def test_a_list_literal_is_one_value_and_quoted_text_stays_text(script: Path, yanex_home: Path) -> None:
    points = dry(script, "-p", "layers=[64, 32]", "-p", "note='list(1)'", "-p", "opt=list(a, b)")
    assert [p["config"] for p in points] == [
        {"layers": [64, 32], "note": "list(1)", "opt": "a"},
        {"layers": [64, 32], "note": "list(1)", "opt": "b"},
    ]
    assert not (yanex_home / "yanex.db").exists()


@pytest.mark.parametrize(
    ("args", "problem", "caret_at"),
    [  # caret_at: the text the caret points at (its first occurrence), "" for the end
        (["-p", "lr=logspace(-4,-1,4"], "expected ',' or ')', found the end of the expression", ""),
        (
            ["-p", "lr=linspce(0, 1, 3)"],
            "unknown sweep function 'linspce'; did you mean linspace?",
            "linspce",
        ),
        (["-p", "lr=list()"], "list() needs at least one value", ")"),
        (["-p", "lr=list(1, 2) x"], "unexpected 'x' after the expression", "x"),
        (["-p", "lr=range(5, 0)"], "range() with these bounds has no values (5 to 0 by 1)", ")"),
        (["-p", "lr=range(0, 1, 0)"], "range() step must not be zero", "0)"),
        (["-p", "lr=linspace(0, 1)"], "linspace() takes 3 numbers (start, stop, count), got 2", ")"),
        (
            ["-p", "lr=linspace(0, 1, 2.5)"],
            "the number of values must be a whole number >= 1, got 2.5",
            "2.5",
        ),
        (["-p", "lr=uniform(1, 0)", "--samples", "2"], "uniform() needs low < high, got 1 and 0", "0"),
        (["-p", "lr=loguniform(0, 1)", "--samples", "2"], "loguniform() needs low > 0, got 0", "0"),
        (["-p", "lr=randint(1, 2.5)", "--samples", "2"], "randint() takes whole numbers, found 2.5", "2.5"),
        (["-p", "lr=uniform(a, 1)", "--samples", "2"], "uniform() takes numbers, found 'a'", "a"),
        (["-p", "lr=list(1; 2)"], "unexpected character ';'", ";"),
        (["-p", "lr=list(1, 2"], "expected ',' or ')', found the end of the expression", ""),
        (["-p", "lr=list(1,,2)"], "expected a value, found ','", ",2"),
        (["-p", "lr=list(16abc)"], "unexpected character '1'", "16"),
        (["-p", "lr=logspace(0, 400, 3)"], "logspace() gives values beyond the largest float", "400"),
        (
            ["-p", "lr=linspace(-1e308, 1e308, 3)"],
            "linspace() gives values beyond the largest float",
            "1e308, 3",
        ),
    ],
)
def test_a_bad_expression_is_an_error_with_a_caret_and_nothing_is_written(
    script: Path, yanex_home: Path, args: list[str], problem: str, caret_at: str
) -> None:
    expression = args[1].split("=", 1)[1]
    position = expression.index(caret_at) if caret_at else len(expression)
    result = runner.invoke(app, ["run", str(script), *args])
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert lines[0].startswith(f"Error: invalid sweep expression for --param lr at position {position + 1}: ")
    assert lines[0].endswith(problem)
    assert lines[1:3] == [f"  {expression}", "  " + " " * position + "^"]
    assert lines[3].startswith("Hint: ")
    assert not (yanex_home / "yanex.db").exists()
    assert not (yanex_home / "experiments").exists()


def test_a_bad_expression_through_the_real_command(script: Path, yanex_home: Path) -> None:
    result = yanex_cli("run", str(script), "-p", "lr=logspace(-4,-1,4")
    assert result.returncode == 2
    assert result.stderr.splitlines()[:3] == [
        "Error: invalid sweep expression for --param lr at position 17: expected ',' or ')', "
        "found the end of the expression",
        "  logspace(-4,-1,4",
        "                  ^",
    ]
    assert "Traceback" not in result.stderr
    assert not (yanex_home / "yanex.db").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-p", "lr=uniform(0, 1)"], "lr is a random axis: say how many points to draw"),
        (["-p", "lr=list(1, 2)", "--samples", "3"], "--samples is given but no parameter is a random axis"),
        (["-p", "lr=list(1, 2)", "--seed", "3"], "--seed is given without --samples"),
        (["-p", "lr=list(1, 2)", "--name", "list(a, b)"], "--name is 'list(a, b)': run options cannot vary"),
        (["-p", "lr=list(1, 2)", "--tag", "range(3)"], "--tag is 'range(3)': run options cannot vary"),
        (["-p", "lr=list(1, 2)", "--timeout", "list(1, 2)"], "--timeout is 'list(1, 2)': run options cannot"),
        (
            ["-p", "lr=list(1, 2)", "-d", "choice(a, b)"],
            "--description is 'choice(a, b)': run options cannot",
        ),
        (
            ["-p", "lr=list(1, 2)", "--name", "g-{nope}"],
            "--name 'g-{nope}' names {nope}, which is not a param",
        ),
        (
            ["-p", "a=range(1000)", "-p", "b=range(1001)"],
            "the sweep has 1,001,000 points, more than 1,000,000",
        ),
    ],
)
def test_sweeps_are_refused_where_nothing_can_vary(
    script: Path, yanex_home: Path, args: list[str], message: str
) -> None:
    for extra in ([], ["--dry-run"]):
        result = runner.invoke(app, ["run", str(script), *args, *extra])
        assert result.exit_code == 2, result.output
        assert result.stderr.startswith(f"Error: {message}"), result.stderr
    assert not (yanex_home / "yanex.db").exists()


def test_format_goes_with_dry_run(script: Path, yanex_home: Path) -> None:
    result = runner.invoke(app, ["run", str(script), "-p", "x=list(1, 2)", "--format", "json"])
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: --format json is given without --dry-run")
    assert not (yanex_home / "yanex.db").exists()


def test_rerun_refuses_a_sweep_expression_in_its_overrides(script: Path) -> None:
    assert runner.invoke(app, ["run", str(script), "-p", "x=1"]).exit_code == 0
    result = runner.invoke(app, ["rerun", "--status", "completed", "--param", "x=list(1, 2)"])
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: --param 'x=list(1, 2)': a sweep expression is not accepted here")


def test_dry_run_of_ten_thousand_points_writes_nothing(script: Path, yanex_home: Path) -> None:
    result = yanex_cli("run", str(script), "-p", "a=range(100)", "-p", "b=linspace(0, 1, 100)", "--dry-run")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 10_000
    assert lines[0].split() == ["train-a0-b0.0", "0", "0.0"]  # linspace gives floats
    assert result.stderr.splitlines() == [
        "name            a   b",
        "dry run: 10000 experiment(s) of train.py; nothing was run or recorded",
    ] or result.stderr.splitlines()[-1].startswith("dry run: 10000 experiment(s)")
    assert not (yanex_home / "yanex.db").exists()
    assert not yanex_home.exists() or not any(yanex_home.iterdir())


def test_a_single_point_dry_run_prints_it(script: Path, yanex_home: Path) -> None:
    [point] = dry(script, "-p", "lr=0.1", "-p", "bs=list(16)", "--name", "one")
    assert point == {"name": "one", "config": {"lr": 0.1, "bs": 16}}
    assert not (yanex_home / "yanex.db").exists()


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_config_files_are_deep_merged_in_order_with_params_last(script: Path, tmp_path: Path) -> None:
    first = write(tmp_path / "a.yaml", "model: {depth: 2, width: 8, act: relu}\nlr: 0.1\nepochs: 3\n")
    second = write(tmp_path / "b.json", '{"model": {"width": 16}, "lr": 0.2, "opt": "adam"}')
    [point] = dry(script, "-c", str(first), "-c", str(second))
    assert point["config"] == {
        "model": {"depth": 2, "width": 16, "act": "relu"},
        "lr": 0.2,
        "epochs": 3,
        "opt": "adam",
    }
    [point] = dry(script, "-c", str(second), "-c", str(first), "-p", "model.act=gelu")
    assert point["config"] == {
        "model": {"width": 8, "depth": 2, "act": "gelu"},
        "lr": 0.1,
        "opt": "adam",
        "epochs": 3,
    }


def test_the_yanex_section_sets_run_options_not_params(
    script: Path, tmp_path: Path, yanex_home: Path
) -> None:
    options = write(
        tmp_path / "opts.yaml",
        "yanex:\n  name: base-name\n  tags: [a]\n  description: from the file\n  timeout: 5m\nlr: 0.5\n",
    )
    override = write(tmp_path / "more.yaml", "yanex:\n  name: later\nbs: 4\n")
    result = runner.invoke(app, ["run", str(script), "-c", str(options), "-c", str(override), "-t", "b"])
    assert result.exit_code == 0, result.output
    [(name, description, config)] = rows(yanex_home, "SELECT name, description, config FROM experiments")
    assert (name, description, json.loads(config)) == ("later", "from the file", {"lr": 0.5, "bs": 4})
    assert sorted(tag for (tag,) in rows(yanex_home, "SELECT tag FROM tags")) == ["a", "b"]


def test_a_sweep_in_a_config_file_with_its_run_options(
    script: Path, tmp_path: Path, yanex_home: Path
) -> None:
    sweep = write(
        tmp_path / "sweep.yaml",
        'yanex:\n  name: s\n  parallel: 2\n  tags: [swept]\nlr: "logspace(-2, -1, 2)"\n'
        'model:\n  depth: list(1, 2)\n  width: 3\nkeep: ["list(1)"]\nliteral: "list(\'list(1)\')"\n',
    )
    points = dry(script, "-c", str(sweep), "-p", "model.width=5")
    assert [p["name"] for p in points] == [
        "s-lr0.01-model.depth1",
        "s-lr0.01-model.depth2",
        "s-lr0.1-model.depth1",
        "s-lr0.1-model.depth2",
    ]
    assert points[0]["config"] == {
        "lr": 0.01,
        "model": {"depth": 1, "width": 5},
        "keep": ["list(1)"],
        "literal": "list(1)",
    }
    result = yanex_cli("run", str(script), "-c", str(sweep))
    assert result.returncode == 0, result.stderr
    assert rows(yanex_home, "SELECT parallel, total FROM batches") == [(2, 4)]
    assert rows(yanex_home, "SELECT count(*) FROM tags WHERE tag = 'swept'") == [(4,)]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("yanex:\n  nmae: x\n", "sets 'nmae', which is no run option"),
        ("yanex:\n  name: list(a, b)\n", "is 'list(a, b)': run options cannot vary in a sweep"),
        ("yanex:\n  parallel: -1\n", "is -1, not a whole number >= 0"),
        ("yanex: [1]\n", "holds a list, not a mapping"),
        ("lr: logspace(-4, -1\n", "invalid sweep expression for lr in"),
    ],
)
def test_a_bad_config_file_is_refused(
    script: Path, tmp_path: Path, yanex_home: Path, text: str, message: str
) -> None:
    bad = write(tmp_path / "bad.yaml", text)
    result = runner.invoke(app, ["run", str(script), "-c", str(bad)])
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: ") and message in result.stderr.splitlines()[0], result.stderr
    assert not (yanex_home / "yanex.db").exists()


def test_a_sweep_runs_as_one_batch_and_stores_its_plan(
    script: Path, yanex_home: Path, tmp_path: Path
) -> None:
    result = yanex_cli(
        "run",
        str(script),
        "-p",
        "lr=logspace(-4,-1,4)",
        "-p",
        "bs=list(16,32)",
        "-j",
        "2",
        "--tag",
        "t",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout.splitlines()
    assert len(out) == 8 and all(line.split()[1] == "completed" for line in out)
    assert [line.split()[2] for line in out][:2] == ["train-lr0.0001-bs16", "train-lr0.0001-bs32"]
    [(batch_id, parallel, total, spec)] = rows(yanex_home, "SELECT id, parallel, total, spec FROM batches")
    assert (parallel, total) == (2, 8)
    assert f"batch {batch_id[:8]}: 8 completed, 0 failed" in result.stderr
    stored = json.loads(spec)
    assert stored["script_path"] == str(script.resolve())
    assert [axis["expression"] for axis in stored["axes"]] == ["logspace(-4,-1,4)", "list(16,32)"]
    assert stored["working_dir"] == str(tmp_path) and stored["tags"] == ["t"]
    configs = rows(yanex_home, "SELECT config FROM experiments WHERE batch_id = ?", batch_id)
    assert sorted(json.dumps(json.loads(c), sort_keys=True) for (c,) in configs) == sorted(
        json.dumps({"lr": lr, "bs": bs}, sort_keys=True)
        for lr in (0.0001, 0.001, 0.01, 0.1)
        for bs in (16, 32)
    )


def test_a_sweep_exits_1_when_a_point_fails(script: Path, yanex_home: Path) -> None:
    result = yanex_cli("run", str(script), "-p", "fail=list(false, true)")
    assert result.returncode == 1
    assert [line.split()[1] for line in result.stdout.splitlines()] == ["completed", "failed"]
    assert "exit code 3" in result.stdout


def test_a_single_point_is_an_ordinary_run(script: Path, yanex_home: Path) -> None:
    result = yanex_cli("run", str(script), "-p", "fail=list(true)", "-p", "lr=0.1")
    assert result.returncode == 3  # the script's own exit code, as yanex run has always done
    assert rows(yanex_home, "SELECT batch_id, config FROM experiments") == [
        (None, '{"fail": true, "lr": 0.1}')
    ]
    assert rows(yanex_home, "SELECT count(*) FROM batches") == [(0,)]


def test_timeout_applies_to_each_point(write_script, yanex_home: Path) -> None:
    slow = write_script("slow.py", "import time, yanex\ntime.sleep(yanex.get_param('t'))\n")
    result = yanex_cli("run", str(slow), "-p", "t=list(0, 30)", "--timeout", "1", "-j", "2")
    assert result.returncode == 1
    statuses = dict(
        rows(
            yanex_home,
            "SELECT json_extract(config, '$.t'), status || ':' || coalesce(error_message, '') "
            "FROM experiments",
        )
    )
    assert statuses == {0: "completed:", 30: "failed:timed out after 1s"}


def test_values_are_floats_without_noise() -> None:
    from yanex.sweep.grammar import GridAxis, parse_axis

    axis = parse_axis("x", "linspace(0, 0.3, 4)")
    assert isinstance(axis, GridAxis) and axis.values == (0.0, 0.1, 0.2, 0.3)
    axis = parse_axis("x", "range(0, 0.5, 0.1)")
    assert isinstance(axis, GridAxis) and axis.values == (0.0, 0.1, 0.2, 0.3, 0.4)
    axis = parse_axis("x", "logspace(0, 2, 3)")
    assert isinstance(axis, GridAxis)
    assert all(math.isclose(a, b) for a, b in zip(axis.values, (1, 10, 100), strict=True))  # type: ignore[arg-type]
