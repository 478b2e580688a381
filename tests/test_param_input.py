"""What ``yanex run --param``, config files and the Python API accept as parameters (issue 19):
seeds that draw apart, text that looks like an expression, keys that clash, and how large
parameters may be. Through Typer's runner, real config files and the Python API."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import yanex
from tests.stored import run_id
from yanex.cli.app import app
from yanex.errors import ConfigError
from yanex.sweep.expand import SweepDefinition
from yanex.sweep.grammar import RandomAxis

runner = CliRunner()


@pytest.fixture
def script(write_script) -> Path:
    path: Path = write_script("train.py", "import json, yanex\nprint(json.dumps(yanex.get_params()))\n")
    return path


def dry(script: Path, *args: str) -> list[dict[str, Any]]:
    result = runner.invoke(app, ["run", str(script), *args, "--dry-run", "--format", "json"])
    assert result.exit_code == 0, result.output
    points: list[dict[str, Any]] = json.loads(result.stdout)
    return points


def refused(script: Path, *args: str) -> list[str]:
    """The stderr lines of a ``yanex run`` that must be refused as a user error."""
    result = runner.invoke(app, ["run", str(script), *args])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines: list[str] = result.stderr.splitlines()
    return lines


# Item 12: Python's random.seed takes abs(), so seeds -S and S drew the same points.


def test_a_negative_seed_is_refused_on_the_command_line(script: Path, yanex_home: Path) -> None:
    args = ["-p", "lr=uniform(0, 1)", "--samples", "3"]
    lines = refused(script, *args, "--seed", "-1")
    assert lines[0] == "Error: seed -1 is negative, and seeds -S and S draw the same points"
    assert lines[1] == "Hint: pass a seed of 0 or more: --seed 1 (yanex.sample(..., seed=1))"
    assert len(lines) == 2
    assert not (yanex_home / "yanex.db").exists()
    assert dry(script, *args, "--seed", "0") != dry(script, *args, "--seed", "1")


def test_a_negative_seed_is_refused_in_python(script: Path, yanex_home: Path) -> None:
    with pytest.raises(ConfigError, match="seed -1 is negative") as caught:
        yanex.sample(script, {"lr": yanex.uniform(0, 1)}, n=3, seed=-1)
    assert caught.value.hint is not None and "seed=1" in caught.value.hint
    drawn = [spec.config["lr"] for spec in yanex.sample(script, {"lr": yanex.uniform(0, 1)}, n=3, seed=1)]
    assert len(set(drawn)) == 3


def test_a_stored_negative_seed_still_draws_the_points_it_drew() -> None:
    """A batch stored before negative seeds were refused resumes with the points it ran."""
    axes = ((("lr",), RandomAxis("uniform", (0.0, 1.0), "uniform(0, 1)")),)
    stored = SweepDefinition({"lr": None}, axes, 4, 5).to_json() | {"seed": -5}
    resumed = SweepDefinition.from_json(stored)
    assert [p.config for p in resumed.points()] == [
        p.config for p in SweepDefinition({"lr": None}, axes, 4, 5).points()
    ]


# Text that looks like an expression, words in any script, and keys that clash.


def test_text_that_looks_like_an_expression_is_passed_literally_when_quoted(
    script: Path, tmp_path: Path, yanex_home: Path
) -> None:
    """Unquoted, ``list(a)`` is a one-value axis (the text ``a``); quoted either way, it is the text."""
    assert [p["config"] for p in dry(script, "-p", "desc=list(a)")] == [{"desc": "a"}]
    for quoted in ("desc='list(a)'", 'desc="list(a)"'):
        assert [p["config"] for p in dry(script, "-p", quoted)] == [{"desc": "list(a)"}]
    config = tmp_path / "c.yaml"
    config.write_text("desc: list('list(a)')\n")  # in a file: a one-value list of the quoted text
    assert [p["config"] for p in dry(script, "-c", str(config))] == [{"desc": "list(a)"}]
    ran = runner.invoke(app, ["run", str(script), "-p", "desc='uniform(0, 1)'"])
    assert ran.exit_code == 0, ran.output
    experiment_id = run_id(ran.stderr)
    again = runner.invoke(app, ["rerun", experiment_id, "--param", "desc='choice(a, b)'"])
    assert again.exit_code == 0, again.output
    with sqlite3.connect(yanex_home / "yanex.db") as conn:
        stored = conn.execute("SELECT value FROM params WHERE key = 'desc' ORDER BY rowid").fetchall()
    assert stored == [('"uniform(0, 1)"',), ('"choice(a, b)"',)]


def test_words_in_any_script_are_values(script: Path) -> None:
    points = dry(script, "-p", "w=list(café, naïve, 日本語, straße-2, x.é)")
    assert [p["config"]["w"] for p in points] == ["café", "naïve", "日本語", "straße-2", "x.é"]
    drawn = dry(script, "-p", "w=choice(été, hiver)", "--samples", "8", "--seed", "0")
    assert {p["config"]["w"] for p in drawn} == {"été", "hiver"}


@pytest.mark.parametrize(
    "params",
    [
        ["a.b=list(1,2)", "a={c: 3}"],
        ["a={c: 3}", "a.b=list(1,2)"],
        ["a.b=1", "a={c: 3}"],
        ["a={b: {c: 1}}", "a.b.c=2"],
    ],
)
def test_a_section_set_whole_and_a_key_inside_it_clash_in_either_order(
    script: Path, yanex_home: Path, params: list[str]
) -> None:
    lines = refused(script, *(arg for param in params for arg in ("-p", param)))
    first, second = params
    section = min((p.split("=")[0] for p in params), key=len)
    inside = max((p.split("=")[0] for p in params), key=len)
    assert lines[0] == (
        f"Error: --param {first!r} and --param {second!r} clash: one sets all of {section}, "
        f"the other {inside} inside it"
    )
    assert lines[1].startswith(f"Hint: set {section} one way")
    assert len(lines) == 2
    assert not (yanex_home / "yanex.db").exists()
    # One way or the other, every key is kept.
    assert dry(script, "-p", "a.b=list(1,2)", "-p", "a.c=3")[1]["config"] == {"a": {"b": 2, "c": 3}}


# How large parameters may be: 1 MiB of JSON per experiment's config (YANEX_PARAMS_SIZE_LIMIT).

MB = 1024 * 1024


def nothing_written(home: Path) -> bool:
    return not (home / "yanex.db").exists() and not (home / "experiments").exists()


def test_a_param_over_the_limit_is_refused_before_anything_is_written(script: Path, yanex_home: Path) -> None:
    lines = refused(script, "-p", "lr=0.1", "-p", "desc=" + "x" * (2 * MB))
    assert lines == [
        "Error: parameter 'desc' is 2.0 MiB as JSON, over the 1 MiB limit on an experiment's parameters",
        "Hint: save large data in a file and pass its path as the parameter, or log it with "
        "yanex.log_artifact; YANEX_PARAMS_SIZE_LIMIT=3M would raise the limit",
    ]
    assert nothing_written(yanex_home)
    # Several parameters under the limit each, over it together: the largest are named.
    lines = refused(script, *(arg for i in range(3) for arg in ("-p", f"p{i}=" + "y" * (400_000 + i))))
    assert lines[0] == (
        "Error: the parameters are 1.1 MiB as JSON in all, over the 1 MiB limit on an experiment's "
        "parameters (the largest: p2 390.6 KiB, p1 390.6 KiB, p0 390.6 KiB)"
    )
    assert nothing_written(yanex_home)


def test_a_config_file_over_the_limit_is_refused_before_it_is_parsed(
    script: Path, tmp_path: Path, yanex_home: Path
) -> None:
    big = tmp_path / "big.yaml"
    big.write_text("rows:\n" + "  - [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\n" * 120_000)  # 4.1 MiB of YAML
    started = time.perf_counter()
    lines = refused(script, "-c", str(big))
    assert time.perf_counter() - started < 5  # parsing it would take half a minute
    assert lines[0] == (
        f"Error: config file {big} is 4.1 MiB, over the 1 MiB limit on an experiment's parameters"
    )
    assert lines[1].startswith("Hint: save large data in a file and pass its path as the parameter")
    assert nothing_written(yanex_home)
    # A sweep whose largest point would be over the limit is refused before its first point runs.
    values = tmp_path / "values.yaml"
    values.write_text(f"base: {'b' * 600_000}\n")
    lines = refused(script, "-c", str(values), "-p", f"desc=list(short, {'c' * 600_000})")
    assert lines[0].startswith("Error: the parameters are 1.1 MiB as JSON in all, over the 1 MiB limit")
    assert nothing_written(yanex_home)


def test_a_spec_over_the_limit_is_refused_at_once_in_python(yanex_home: Path) -> None:
    started = time.perf_counter()
    with pytest.raises(ConfigError, match=r"parameter 'x' is 16\.1 MiB as JSON, over the 1 MiB limit"):
        yanex.ExperimentSpec("train.py", {"x": list(range(2_000_000))})
    assert time.perf_counter() - started < 1.5  # checking 2,000,000 values one by one takes 2 s
    with pytest.raises(ConfigError, match=r"parameter 'a\.b' is 2\.0 MiB"):
        yanex.ExperimentSpec("train.py", {"a": {"b": "é" * 350_000}})  # \u00e9: 6 bytes as stored
    assert yanex.ExperimentSpec("train.py", {"x": "x" * (MB - 100)}).config["x"] == "x" * (MB - 100)
    assert nothing_written(yanex_home)


def test_the_limit_is_a_setting(script: Path, yanex_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YANEX_PARAMS_SIZE_LIMIT", "3M")
    assert len(dry(script, "-p", "desc=" + "x" * (2 * MB))[0]["config"]["desc"]) == 2 * MB
    monkeypatch.setenv("YANEX_PARAMS_SIZE_LIMIT", "lots")
    assert refused(script, "-p", "a=1") == [
        "Error: YANEX_PARAMS_SIZE_LIMIT='lots' is not a size",
        "Hint: give a number of bytes, or a number with K, M or G: YANEX_PARAMS_SIZE_LIMIT=256K",
    ]
