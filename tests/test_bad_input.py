"""Bad input gets one clear error before anything is written, through the CLI and the Python API."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

import yanex
from tests.conftest import yanex_cli
from yanex import config
from yanex.cli.app import app

runner = CliRunner()
BAD = os.fsdecode(b"bad\xff")  # what Python makes of a non-UTF-8 argument or file name
SCRIPT = "import json, yanex\nprint(json.dumps({'params': yanex.get_params()}))\n"


def table_counts(home: Path) -> dict[str, int]:
    """Rows per table; no database file at all counts as empty."""
    path = home / "yanex.db"
    if not path.exists():
        return {"experiments": 0, "batches": 0, "params": 0}
    with sqlite3.connect(path) as conn:
        return {
            t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in ("experiments", "batches", "params")
        }


def assert_one_error(stderr: str, *needles: str) -> None:
    lines = stderr.splitlines()
    assert len(lines) == 2 and lines[0].startswith("Error: ") and lines[1].startswith("Hint: "), stderr
    for needle in needles:
        assert needle in lines[0], stderr
    assert "Traceback" not in stderr


def assert_nothing_written(home: Path) -> None:
    assert table_counts(home) == {"experiments": 0, "batches": 0, "params": 0}
    assert not config.experiments_root().exists()


# ---- a dotted key colliding with a nested one -------------------------------------------------------


def test_run_multiple_refuses_colliding_keys_before_the_batch_row(write_script, yanex_home: Path) -> None:
    script = write_script("train.py", SCRIPT)
    with pytest.raises(ValidationError, match=r"config gives parameter 'a\.b' twice"):
        specs = [
            yanex.ExperimentSpec(script, {"x": 1}),
            yanex.ExperimentSpec(script, {"a.b": 1, "a": {"b": 2}}),
        ]
        yanex.run_multiple(specs)
    assert_nothing_written(yanex_home)


@pytest.mark.parametrize(
    ("config_data", "key"),
    [
        ({"a.b": 1, "a": {"b": 2}}, "a.b"),
        ({"m": {"x.y": {"z": 1}, "x": {"y.z": 2}}}, "m.x.y.z"),
        ({"a": {"b": {}}, "a.b": []}, "a.b"),
    ],
)
def test_colliding_keys_in_a_config_file_are_one_error(
    config_data: dict[str, object], key: str, write_script, tmp_path: Path, yanex_home: Path
) -> None:
    script = write_script("train.py", SCRIPT)
    config_file = tmp_path / "params.json"
    config_file.write_text(json.dumps(config_data))
    result = runner.invoke(app, ["run", str(script), "-c", str(config_file)])
    assert result.exit_code == 2, result.output
    assert_one_error(result.stderr, f"config gives parameter '{key}' twice")
    real = yanex_cli("run", str(script), "-c", str(config_file))
    assert real.returncode == 2, real.stderr
    assert_one_error(real.stderr, f"config gives parameter '{key}' twice")
    assert_nothing_written(yanex_home)


def test_a_dotted_key_alone_is_kept_and_reachable_from_the_script(write_script, tmp_path: Path) -> None:
    script = write_script(
        "train.py",
        "import yanex\nprint(yanex.get_param('opt.lr'), yanex.get_param('m.x.y'), yanex.get_param('m.x'))\n",
    )
    config_file = tmp_path / "params.json"
    config_file.write_text(json.dumps({"opt.lr": 0.1, "m": {"x.y": 2}}))
    result = yanex_cli("run", str(script), "-c", str(config_file))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["0.1", "2", "None"]
    assert yanex_cli("get", "params.opt.lr", "--limit", "1").stdout.strip() == "0.1"


# ---- lone surrogates and non-UTF-8 paths ------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--name", BAD], "name contains '\\udcff' at position 3"),
        (["--tag", "ok", "--tag", BAD], "tags[1] contains '\\udcff'"),
        (["--description", BAD], "description contains '\\udcff'"),
        (["-p", f"{BAD}=1"], "config key 'bad\\udcff' contains"),
        (["-p", f"lr={BAD}"], "--param 'lr=bad\\udcff': the value is not valid YAML data (the text contains"),
        (["--", "--flag", BAD], "script_args[1] contains '\\udcff'"),
    ],
)
def test_lone_surrogates_from_the_command_line_are_refused(
    args: list[str], needle: str, write_script, yanex_home: Path
) -> None:
    script = write_script("train.py", SCRIPT)
    result = runner.invoke(app, ["run", str(script), *args])
    assert result.exit_code == 2, result.output
    assert_one_error(result.stderr, needle)
    real = yanex_cli("run", str(script), *args)  # the real argv carries the byte 0xff
    assert real.returncode == 2, real.stderr
    assert_one_error(real.stderr, needle)
    assert "valid UTF-8" in real.stderr.splitlines()[1]
    assert_nothing_written(yanex_home)


def test_a_script_whose_path_is_not_utf8_is_refused_clearly(tmp_path: Path, yanex_home: Path) -> None:
    folder = os.fsencode(tmp_path)
    path = folder + b"/train\xff.py"
    with open(path, "wb") as handle:
        handle.write(b"print('ran')\n")
    name = os.fsdecode(path)
    result = runner.invoke(app, ["run", name])
    assert result.exit_code == 2, result.output
    assert_one_error(result.stderr, "script_path", "\\udcff", "lone surrogate")
    real = subprocess.run(
        [os.fsencode(sys.executable), b"-m", b"yanex", b"run", path], capture_output=True, timeout=120
    )
    assert real.returncode == 2, real.stderr
    stderr = real.stderr.decode()
    assert_one_error(stderr, "script_path", "\\udcff")
    assert "rename the script" in stderr
    assert b"ran" not in real.stdout
    assert_nothing_written(yanex_home)


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"name": BAD}, "name contains"),
        ({"description": BAD}, "description contains"),
        ({"tags": ["a", BAD]}, r"tags\[1\] contains"),
        ({"script_args": [BAD]}, r"script_args\[0\] contains"),
        ({"config": {"k": [1, {"deep": BAD}]}}, r"config key 'k\[1\]\.deep' has a value that contains"),
        ({"config": {BAD: 1}}, "config key 'bad\\\\udcff' contains"),
        ({"script_path": f"/tmp/{BAD}.py"}, "script_path '/tmp/bad\\\\udcff.py' contains"),
    ],
)
def test_run_multiple_refuses_lone_surrogates_before_any_row(
    kwargs: dict[str, object], needle: str, write_script, yanex_home: Path
) -> None:
    script = write_script("train.py", SCRIPT)
    with pytest.raises(ValidationError, match=needle):
        yanex.run_multiple([yanex.ExperimentSpec(**{"script_path": script, **kwargs})])
    assert_nothing_written(yanex_home)


# ---- nested too deep, or cyclic ---------------------------------------------------------------------


def test_config_nested_too_deep_or_cyclic_is_refused_naming_the_limit(write_script, yanex_home: Path) -> None:
    script = write_script("train.py", SCRIPT)
    deep: dict[str, object] = {}
    node = deep
    for _ in range(1000):
        node["a"] = {}
        node = node["a"]  # type: ignore[assignment]
    with pytest.raises(ValidationError, match="config is nested more than 100 levels deep"):
        yanex.run_multiple([yanex.ExperimentSpec(script, deep)])
    cyclic: dict[str, object] = {"model": {}}
    cyclic["model"]["self"] = cyclic  # type: ignore[index]
    with pytest.raises(ValidationError, match=r"config key 'model\.self' contains itself"):
        yanex.ExperimentSpec(script, cyclic)
    looped: list[object] = [1]
    looped.append(looped)
    with pytest.raises(ValidationError, match=r"config key 'x\[1\]' contains itself"):
        yanex.ExperimentSpec(script, {"x": looped})
    shared = [1, 2]  # the same list twice is a tree, not a cycle
    assert yanex.ExperimentSpec(script, {"a": shared, "b": shared}).config == {"a": [1, 2], "b": [1, 2]}
    assert_nothing_written(yanex_home)


def test_a_config_file_nested_1000_deep_is_one_error(write_script, tmp_path: Path, yanex_home: Path) -> None:
    script = write_script("train.py", SCRIPT)
    (tmp_path / "deep.json").write_text('{"a": ' * 1000 + "1" + "}" * 1000)
    (tmp_path / "deep.yaml").write_text("a: " + "[" * 1000 + "]" * 1000 + "\n")
    (tmp_path / "deeper.json").write_text("[" * 100_000 + "]" * 100_000)
    for name in ("deep.json", "deep.yaml", "deeper.json"):
        result = yanex_cli("run", str(script), "-c", str(tmp_path / name))
        assert result.returncode == 2, result.stderr
        assert_one_error(result.stderr, "more than 100 levels deep")
    assert_nothing_written(yanex_home)


# ---- get_param with a name that is not a string -----------------------------------------------------


@pytest.mark.parametrize("name", [None, 3, ["lr"]])
def test_get_param_with_a_non_string_name_is_a_clear_type_error(name: object) -> None:
    with pytest.raises(TypeError, match="get_param expects the parameter name as a string, got"):
        yanex.get_param(name)  # type: ignore[arg-type]


# ---- YAML: aliases, duplicate keys, YAML 1.1 surprises ----------------------------------------------

BILLION_LAUGHS = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)
)


@pytest.mark.parametrize(
    ("text", "needle", "line"),
    [
        ("a: &a [*a]\n", "YAML anchors are not accepted (&a)", 1),
        (BILLION_LAUGHS, "YAML anchors are not accepted (&a)", 1),
        ("base: [1, 2]\nother: *base\n", "YAML aliases are not accepted (*base)", 2),
        ("lr: 0.1\nmodel:\n  depth: 3\n  depth: 4\n", "duplicate key 'depth' (first at line 3)", 4),
        ("lr: 0.1\nopt: {name: sgd, name: adam}\n", "duplicate key 'name' (first at line 2)", 2),
    ],
)
def test_yaml_aliases_and_duplicate_keys_are_refused_with_the_line(
    text: str, needle: str, line: int, write_script, tmp_path: Path, yanex_home: Path
) -> None:
    script = write_script("train.py", SCRIPT)
    config_file = tmp_path / "sweep.yaml"
    config_file.write_text(text)
    result = runner.invoke(app, ["run", str(script), "-c", str(config_file)])
    assert result.exit_code == 2, result.output
    assert_one_error(result.stderr, needle, f"at line {line}")
    real = yanex_cli("run", str(script), "-c", str(config_file), timeout=60)  # a hang fails here
    assert real.returncode == 2, real.stderr
    assert_one_error(real.stderr, needle, f"at line {line}")
    assert_nothing_written(yanex_home)


def test_duplicate_keys_in_a_json_config_are_refused_with_the_line(
    write_script, tmp_path: Path, yanex_home: Path
) -> None:
    script = write_script("train.py", SCRIPT)
    config_file = tmp_path / "params.json"
    config_file.write_text('{\n  "lr": 0.1,\n  "model": {"depth": 3, "width": 8},\n  "lr": 0.2\n}\n')
    result = yanex_cli("run", str(script), "-c", str(config_file))
    assert result.returncode == 2, result.stderr
    assert_one_error(result.stderr, "is not valid JSON: duplicate key 'lr' at line 4")
    assert "give each key once" in result.stderr
    assert_nothing_written(yanex_home)


@pytest.mark.parametrize("value", ["&a [*a]", "[&x 1, *x]", "{a: 1, a: 2}"])
def test_param_values_refuse_aliases_and_duplicate_keys(value: str, write_script, yanex_home: Path) -> None:
    script = write_script("train.py", SCRIPT)
    result = yanex_cli("run", str(script), "-p", f"x={value}", timeout=60)
    assert result.returncode == 2, result.stderr
    assert_one_error(result.stderr, f"--param 'x={value}': the value is not valid YAML data")
    assert_nothing_written(yanex_home)


def test_param_values_are_json_like_not_yaml_1_1(write_script, yanex_home: Path) -> None:
    """Only JSON's scalars are converted; what YAML 1.1 would turn into numbers or booleans stays text."""
    script = write_script("train.py", SCRIPT)
    given = {
        "time": ("12:30:00", "12:30:00"),
        "yes": ("yes", "yes"),
        "on": ("on", "on"),
        "off": ("Off", "Off"),
        "octal": ("0o17", "0o17"),
        "zero_led": ("017", "017"),
        "hex": ("0x1f", "0x1f"),
        "underscored": ("1_000", "1_000"),
        "day": ("2024-01-31", "2024-01-31"),
        "int": ("-12", -12),
        "float": (".5", 0.5),
        "exp": ("1e3", 1000.0),
        "bool": ("true", True),
        "null": ("~", None),
        "list": ("[1, no, 2.5, 'x']", [1, "no", 2.5, "x"]),
    }
    args = [arg for key, (text, _) in given.items() for arg in ("-p", f"{key}={text}")]
    result = yanex_cli("run", str(script), *args)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["params"] == {key: value for key, (_, value) in given.items()}


@pytest.mark.parametrize("option", ["--name", "--description", "--add-tag", "--remove-tag"])
def test_update_refuses_lone_surrogates_and_changes_nothing(option: str, write_script) -> None:
    script = write_script("train.py", "pass\n")
    assert yanex_cli("run", str(script), "--name", "before", "--tag", "kept").returncode == 0
    result = yanex_cli("update", "before", option, BAD)
    assert result.returncode == 2, result.stderr
    assert_one_error(result.stderr, "contains '\\udcff'")
    shown = json.loads(yanex_cli("show", "before", "--format", "json").stdout)
    assert (shown["name"], shown["tags"], shown["description"]) == ("before", ["kept"], None)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["list", "--tag", BAD], "--tag contains '\\udcff'"),
        (["list", "--name", BAD], "--name contains '\\udcff'"),
        (["get", "id", "--script", BAD], "--script contains '\\udcff'"),
        (["list", "--where", f"name = '{BAD}'"], "--where contains '\\udcff' at position 11"),
        (["compare", "--sort", BAD], "--sort contains '\\udcff'"),
        (["compare", "-p", BAD], "--param contains '\\udcff'"),
        (["show", BAD], "no experiment matches 'bad\\udcff'"),
        (["get", "name", BAD], "no experiment matches 'bad\\udcff'"),
    ],
)
def test_queries_with_lone_surrogates_are_one_error(args: list[str], needle: str, write_script) -> None:
    script = write_script("train.py", "pass\n")
    assert yanex_cli("run", str(script), "--name", "x").returncode == 0
    result = runner.invoke(app, args)
    assert result.exit_code in (1, 2), result.output
    assert_one_error(result.stderr, needle)
    real = yanex_cli(*args)
    assert real.returncode == result.exit_code, real.stderr
    assert_one_error(real.stderr, needle)
