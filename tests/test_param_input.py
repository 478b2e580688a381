"""What ``yanex run --param``, config files and the Python API accept as parameters (issue 19):
seeds that draw apart, text that looks like an expression, keys that clash, and how large
parameters may be. Through Typer's runner, real config files and the Python API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import yanex
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
