"""ExperimentSpec and ExperimentResult: the fields and defaults of the spec, validated on construction."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

import yanex


def test_spec_fields_and_defaults_match_the_user_spec():
    spec = yanex.ExperimentSpec(script_path=Path("train.py"))
    assert spec.script_path == Path("train.py")
    assert (spec.config, spec.script_args, spec.tags) == ({}, [], [])
    assert spec.name is None and spec.description is None
    full = yanex.ExperimentSpec(
        script_path=Path("train.py"),
        config={"learning_rate": 0.01, "model": {"layers": [64, 32]}},
        script_args=["--verbose"],
        name="experiment-1",
        tags=["ml", "training"],
        description="Training run 1",
    )
    assert full.config["model"] == {"layers": [64, 32]}
    assert yanex.ExperimentSpec(script_path="train.py").script_path == Path("train.py")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"config": {"lr": object()}}, "config key 'lr' has a value of type object"),
        ({"config": {"opt": {"betas": [0.9, float("nan")]}}}, "config key 'opt.betas[1]' is nan"),
        ({"config": {1: "x"}}, "config key 1 at top level is not a string"),
        ({"config": [1, 2]}, "config must be a dict"),
        ({"tags": ["ok", " "]}, "tags must be non-empty strings"),
        ({"tags": [3]}, "valid string"),
        ({"script_args": "--verbose"}, "script_args must be a list of strings, not one string"),
        ({"script_args": [1]}, "valid string"),
        ({"name": ""}, "name must be a non-empty string"),
        ({"script_path": ""}, "script_path is empty"),
        ({"script_path": 5}, "not a valid path"),
    ],
)
def test_spec_rejects_bad_input_naming_the_field(kwargs, message):
    with pytest.raises(ValidationError, match=message.replace("[", r"\[").replace("(", r"\(")):
        yanex.ExperimentSpec(**{"script_path": "train.py", **kwargs})


def test_spec_rejects_an_unknown_field_as_python_does():
    with pytest.raises(TypeError, match="unexpected keyword argument 'colour'"):
        yanex.ExperimentSpec(script_path="train.py", colour="red")  # type: ignore[call-arg]


def test_spec_takes_its_fields_by_position_in_documented_order():
    spec = yanex.ExperimentSpec(Path("train.py"), {"lr": 0.1}, ["--verbose"], "run-1", ["ml"], "first")
    assert spec == yanex.ExperimentSpec(
        script_path=Path("train.py"),
        config={"lr": 0.1},
        script_args=["--verbose"],
        name="run-1",
        tags=["ml"],
        description="first",
    )


def test_spec_is_frozen():
    spec = yanex.ExperimentSpec(script_path="train.py")
    with pytest.raises(ValidationError):
        spec.name = "other"  # type: ignore[misc]


def test_result_fields_and_defaults_match_the_user_spec():
    result = yanex.ExperimentResult(experiment_id="0123abcd" * 4, status="completed")
    assert (result.error_message, result.duration, result.name) == (None, None, None)
    failed = yanex.ExperimentResult(
        experiment_id="0123abcd" * 4, status="failed", error_message="exit code 3", duration=1.5, name="n"
    )
    assert failed.status == "failed" and failed.duration == 1.5


@pytest.mark.parametrize(
    "kwargs",
    [
        {"experiment_id": "0123abcd" * 4, "status": "running"},
        {"experiment_id": "0123abcd", "status": "completed"},  # a prefix is not an id
        {"experiment_id": "xyz", "status": "completed"},
        {"experiment_id": "0123abcd" * 4, "status": "completed", "duration": -1.0},
    ],
)
def test_result_rejects_impossible_values(kwargs):
    with pytest.raises(ValidationError):
        yanex.ExperimentResult(**kwargs)
