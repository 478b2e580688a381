"""list, show, compare and get through Typer's runner, and as real subprocesses."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import pty
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from tests.conftest import yanex_cli
from tests.query_fixtures import PATCH, populate
from tests.stored import get_metrics
from yanex import config
from yanex.cli.app import app
from yanex.db.engine import Database
from yanex.store.experiments import MetricRecord, ingest_metrics
from yanex.store.manage import set_archived

runner = CliRunner()


def cli(*args: str) -> Result:
    return runner.invoke(app, list(args))


@pytest.fixture
def ids(db: Database, tmp_path: Path) -> dict[str, str]:
    return populate(db, tmp_path)


def first_column(output: str) -> list[str]:
    """The ids a table shows (their first 8 digits), as full ids only start with them."""
    return [line.split()[0] for line in output.splitlines()]


def shown(full: str) -> str:
    return full[:8]


# list


def test_list_plain_table_newest_first(ids: dict[str, str]) -> None:
    result = cli("list", "--tag", "grid-search", "--status", "completed")
    assert result.exit_code == 0, result.output
    assert result.stderr.split() == ["id", "name", "status", "tags", "started", "duration"]
    assert [line.split()[1] for line in result.stdout.splitlines()] == [
        "grid-lr0_1-bs32",
        "grid-lr0_1-bs16",
        "grid-lr0_01-bs32",
        "grid-lr0_001-bs32",
        "grid-lr0_001-bs16",
    ]
    assert "\x1b[" not in result.stdout and "─" not in result.stdout  # plain when not a terminal


def test_list_best_run_with_sort(ids: dict[str, str]) -> None:
    result = cli(
        "list", "-t", "grid-search", "-s", "completed", "--sort", "metrics.accuracy", "--desc", "-l", "1"
    )
    assert result.exit_code == 0
    assert first_column(result.stdout) == [shown(ids["grid-lr0_1-bs32"])]


def test_list_json_has_the_documented_fields(ids: dict[str, str]) -> None:
    result = cli("list", "--name", "baseline", "--format", "json")
    (record,) = json.loads(result.stdout)
    assert {
        "id",
        "name",
        "status",
        "tags",
        "created_at",
        "started_at",
        "ended_at",
        "duration",
        "script_path",
    } <= set(record)
    assert record["id"] == ids["baseline"] and record["tags"] == ["baseline", "eval"]
    assert record["script_path"].endswith("/eval.py") and record["status"] == "completed"
    assert record["created_at"].endswith("+00:00")


def test_list_csv_and_markdown(ids: dict[str, str]) -> None:
    rows = list(csv.reader(io.StringIO(cli("list", "-t", "baseline", "-f", "csv").stdout)))
    assert rows[0] == ["id", "name", "status", "tags", "started", "duration"]
    assert rows[1][:4] == [ids["baseline"], "baseline", "completed", "baseline,eval"]  # CSV: the full id
    markdown = cli("list", "-t", "baseline", "-f", "markdown").stdout.splitlines()
    assert markdown[0] == "| id | name | status | tags | started | duration |"
    assert markdown[1] == "|---|---|---|---|---|---|"
    assert markdown[2].startswith(f"| {shown(ids['baseline'])} | baseline | completed | baseline,eval |")


def test_list_where_and_archived(ids: dict[str, str], db: Database) -> None:
    result = cli("list", "--where", "learning_rate > 0.05 and metrics.accuracy > 0.9")
    assert sorted(first_column(result.stdout)) == sorted(
        [shown(ids["grid-lr0_1-bs16"]), shown(ids["grid-lr0_1-bs32"])]
    )
    set_archived(db, [ids["baseline"]], True)
    assert ids["baseline"] not in cli("list").stdout
    assert first_column(cli("list", "--archived").stdout) == [shown(ids["baseline"])]
    assert shown(ids["baseline"]) in cli("list", "--all").stdout
    both = cli("list", "--archived", "--all")
    assert both.exit_code == 2 and "contradict" in both.stderr


def test_list_empty_match_is_not_an_error(ids: dict[str, str]) -> None:
    result = cli("list", "--tag", "nothing")
    assert result.exit_code == 0 and result.stdout == "" and result.stderr.split()[0] == "id"
    assert json.loads(cli("list", "--tag", "nothing", "-f", "json").stdout) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--status", "done"], "unknown status 'done'"),
        (["--where", "lr >"], "invalid --where expression at position 5"),
        (["--started-after", "last tuesday"], "cannot read 'last tuesday' as a time"),
        (["--sort", "bogus"], "cannot sort by 'bogus'"),
        (["--limit", "0"], "--limit must be at least 1"),
        (["--format", "xml"], "xml"),
    ],
)
def test_list_bad_usage_exits_2_without_traceback(ids: dict[str, str], args: list[str], message: str) -> None:
    result = cli("list", *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.output


# show


def test_show_sections(ids: dict[str, str], tmp_path: Path) -> None:
    folder = config.experiment_dir(ids["grid-lr0_01-bs16"])
    folder.mkdir(parents=True)
    (folder / config.STDOUT_FILE).write_text("".join(f"epoch {i}\n" for i in range(30)))
    (folder / config.STDERR_FILE).write_text("Traceback ...\nValueError: diverged\n")
    result = cli("show", "grid-lr0_01-bs16")
    assert result.exit_code == 0, result.output
    out = " ".join(result.stdout.split())  # alignment is per section; compare words
    for expected in (
        f"Experiment {shown(ids['grid-lr0_01-bs16'])} id {ids['grid-lr0_01-bs16']}",
        "status failed",
        "error ValueError: diverged",
        "learning_rate 0.01",
        "accuracy 0.56 (step 2, 3 values)",
        f"patch {len(PATCH)} bytes",
        "branch main",
        "python 3.11.7",
        "epoch 29",
    ):
        assert expected in out, expected
    assert "epoch 19" not in out  # only the tail
    assert "ValueError: diverged" in out.split("Errors")[1]


def test_show_nested_params_and_json(ids: dict[str, str]) -> None:
    text = cli("show", "baseline").stdout
    assert "  model\n    depth" in text and "args --fast" in " ".join(text.split())
    record = json.loads(cli("show", ids["baseline"][:8], "--format", "json").stdout)
    assert record["params"] == {"model": {"depth": 12, "name": "resnet"}, "augment": True, "seed": 7}
    assert record["metrics"] == {"accuracy": 0.7, "converged": True, "phase": "done"}
    assert record["git"]["commit"] == "b" * 40 and record["git"]["dirty"] is False
    assert record["git"]["patch"] is None
    for key in ("id", "name", "status", "tags", "error_message", "duration", "script_path", "script_args"):
        assert key in record
    assert record["script_args"] == ["--fast"]


def test_show_patch(ids: dict[str, str]) -> None:
    assert cli("show", "grid-lr0_1-bs32", "--patch").stdout == PATCH
    missing = cli("show", "baseline", "--patch")
    assert missing.exit_code == 1 and "no git patch" in missing.stderr


def test_show_missing_and_ambiguous(ids: dict[str, str], db: Database, tmp_path: Path) -> None:
    missing = cli("show", "nope")
    assert missing.exit_code == 1
    assert missing.stderr.startswith("Error: no experiment matches 'nope'") and "Hint:" in missing.stderr
    populate(db, tmp_path)
    ambiguous = cli("show", "baseline")
    assert ambiguous.exit_code == 2 and "matches more than one experiment" in ambiguous.stderr


# compare


def test_compare_table_and_formats(ids: dict[str, str]) -> None:
    result = cli("compare", "--tag", "grid-search", "--status", "completed")
    assert result.exit_code == 0
    assert result.stderr.splitlines()[0].split() == [
        "id",
        "name",
        "status",
        "batch_size",
        "learning_rate",
        "optimizer",
        "accuracy",
        "loss",
    ]
    records = json.loads(cli("compare", "grid-lr0_1-bs32", "grid-lr0_001-bs16", "-f", "json").stdout)
    assert [r["name"] for r in records] == ["grid-lr0_1-bs32", "grid-lr0_001-bs16"]
    assert records[0]["params"] == {"batch_size": 32, "learning_rate": 0.1, "optimizer": "sgd"}
    assert records[0]["metrics"]["accuracy"] == pytest.approx(0.95)
    assert set(records[0]) == {"id", "name", "status", "params", "metrics"}
    rows = list(
        csv.reader(
            io.StringIO(
                cli("compare", "-t", "grid-search", "-p", "learning_rate", "-m", "loss", "-f", "csv").stdout
            )
        )
    )
    assert rows[0] == ["id", "name", "status", "learning_rate", "loss"]
    # CSV is for programs: every digit of the value, as JSON gives it (the table rounds to 6).
    losses = {
        r["id"]: r["metrics"].get("loss")
        for r in json.loads(cli("compare", "-t", "grid-search", "-f", "json").stdout)
    }
    assert {row[0]: row[4] for row in rows[1:]} == {
        i: "" if v is None else repr(v) for i, v in losses.items()
    }
    assert any(v is not None and repr(v) != f"{v:.6g}" for v in losses.values())  # rounding would show


def test_compare_sorts_by_metric_name(ids: dict[str, str]) -> None:
    result = cli(
        "compare", "-t", "grid-search", "-s", "completed", "--sort", "accuracy", "--desc", "--limit", "2"
    )
    assert first_column(result.stdout) == [shown(ids["grid-lr0_1-bs32"]), shown(ids["grid-lr0_1-bs16"])]


def test_compare_empty_match_exits_1(ids: dict[str, str]) -> None:
    result = cli("compare", "--tag", "nothing")
    assert result.exit_code == 1 and "no experiments match" in result.stderr


def test_best_values_by_direction() -> None:
    from yanex.store.compare import best_rows

    assert best_rows([0.5, 0.9, None, 0.9], "accuracy") == {1, 3}
    assert best_rows([0.5, 0.2, 0.3], "val_loss") == {1}
    assert best_rows([0.5, "n/a"], "accuracy") == set()  # nothing to compare against


# NaN and infinities


INFINITE_SCRIPT = """
import yanex
yanex.log_metrics({"loss": float("inf"), "gain": float("-inf"), "odd": float("nan"), "acc": 0.5})
"""


def test_infinite_metrics_round_trip_from_a_script_and_keep_json_valid(db: Database, write_script) -> None:
    run = yanex_cli("run", str(write_script("inf.py", INFINITE_SCRIPT)))
    assert run.returncode == 0, run.stderr
    (experiment_id,) = cli("get", "id").stdout.split()
    points = {p.key: (p.value, p.raw) for p in get_metrics(db, experiment_id)}
    assert points == {
        "loss": (None, "Infinity"),
        "gain": (None, "-Infinity"),
        "odd": (None, "NaN"),
        "acc": (0.5, 0.5),
    }
    expected = {"loss": "Infinity", "gain": "-Infinity", "odd": "NaN", "acc": 0.5}
    summary = json.loads(
        cli("sql", "SELECT json_valid(metrics) AS ok, metrics FROM experiment_summary", "-f", "json").stdout
    )
    assert summary[0]["ok"] == 1 and json.loads(summary[0]["metrics"]) == expected
    assert json.loads(cli("show", experiment_id, "-f", "json").stdout)["metrics"] == expected
    assert "loss  Infinity  (step 0, 1 value)" in cli("show", experiment_id).stdout
    assert cli("get", "metrics.loss", experiment_id).stdout == "Infinity\n"
    assert json.loads(cli("compare", experiment_id, "-f", "json").stdout)[0]["metrics"] == expected
    rows = list(csv.DictReader(io.StringIO(cli("compare", experiment_id, "-f", "csv").stdout)))
    assert (rows[0]["loss"], rows[0]["gain"], rows[0]["acc"]) == ("Infinity", "-Infinity", "0.5")


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan])
def test_non_finite_metric_ingested_by_the_store_leaves_the_view_valid_json(
    db: Database, ids: dict[str, str], value: float
) -> None:
    target = ids["baseline"]
    ingest_metrics(db, target, [MetricRecord(1, datetime(2026, 1, 2), {"loss": value})])
    result = cli(
        "sql",
        "SELECT id, json_valid(metrics) AS ok, json_extract(metrics, '$.loss') AS loss "
        "FROM experiment_summary",
        "-f",
        "json",
    )
    assert result.exit_code == 0, result.output
    rows = {r["id"]: r for r in json.loads(result.stdout)}
    assert {r["ok"] for r in rows.values()} == {1}
    assert rows[target]["loss"] == json.dumps(value)  # "Infinity", "-Infinity" or "NaN"
    assert cli("get", "metrics.loss", target).stdout == f"{json.dumps(value)}\n"


def test_json_output_writes_non_finite_numbers_as_null(ids: dict[str, str]) -> None:
    def strict(constant: str) -> None:
        raise AssertionError(f"{constant} is not JSON")

    result = cli("sql", "SELECT 1e999 AS x, -1e999 AS y, 0.5 AS z", "-f", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout, parse_constant=strict) == [{"x": None, "y": None, "z": 0.5}]


# get


def test_get_single_values(ids: dict[str, str]) -> None:
    ref = ids["grid-lr0_01-bs16"]
    assert cli("get", "status", ref).stdout == "failed\n"
    assert cli("get", "params.learning_rate", ref).stdout == "0.01\n"
    assert cli("get", "metrics.accuracy", ref).stdout == "0.56\n"
    assert cli("get", "error_message", ref).stdout == "ValueError: diverged\n"
    assert cli("get", "params.model", "baseline").stdout == '{"depth": 12, "name": "resnet"}\n'
    assert cli("get", "params.model.depth", "baseline").stdout == "12\n"
    assert cli("get", "ended_at", "live").stdout == "\n"
    assert cli("get", "tags", "baseline").stdout == '["baseline", "eval"]\n'


def test_get_ids_of_matches_one_per_line(ids: dict[str, str]) -> None:
    result = cli("get", "id", "--tag", "grid-search", "--status", "completed")
    assert result.stdout.split() == [
        ids[n]
        for n in (
            "grid-lr0_1-bs32",
            "grid-lr0_1-bs16",
            "grid-lr0_01-bs32",
            "grid-lr0_001-bs32",
            "grid-lr0_001-bs16",
        )
    ]
    best = cli("get", "id", "--tag", "grid-search", "--sort", "metrics.accuracy", "--desc", "--limit", "1")
    assert best.stdout == f"{ids['grid-lr0_1-bs32']}\n"


def test_get_of_several_experiments_puts_each_id_beside_its_value(ids: dict[str, str]) -> None:
    """Which value is whose: the id as tables show it, then the value; one experiment (a
    reference, --limit 1) still prints the bare value, and `get id` the bare ids."""
    args = ("--tag", "grid-search", "--status", "completed", "--sort", "metrics.accuracy.max", "--desc")
    several = cli("get", "metrics.accuracy.max", *args)
    assert several.exit_code == 0, several.output
    rows = [line.split("  ") for line in several.stdout.splitlines()]
    best = [
        ids[f"grid-{point}"]
        for point in ("lr0_1-bs32", "lr0_1-bs16", "lr0_01-bs32", "lr0_001-bs32", "lr0_001-bs16")
    ]
    assert [row[0] for row in rows] == [shown(full) for full in best]
    assert [row[1] for row in rows] == [
        cli("get", "metrics.accuracy.max", full).stdout.strip() for full in best
    ]
    assert cli("get", "metrics.accuracy.max", *args, "--limit", "1").stdout == f"{rows[0][1]}\n"
    names = cli("get", "name", "--tag", "grid-search", "--status", "completed", "--sort", "name")
    assert names.stdout.splitlines()[0] == f"{shown(ids['grid-lr0_001-bs16'])}  grid-lr0_001-bs16"


def test_get_errors(ids: dict[str, str]) -> None:
    missing_param = cli("get", "params.nope", "baseline")
    assert missing_param.exit_code == 1 and "has no parameter 'nope'" in missing_param.stderr
    unknown = cli("get", "colour", "baseline")
    assert unknown.exit_code == 2 and "unknown field 'colour'" in unknown.stderr
    empty = cli("get", "id", "--tag", "nothing")
    assert empty.exit_code == 1 and empty.stdout == ""


# real subprocesses


def test_subprocess_list_json_and_show(ids: dict[str, str]) -> None:
    listed = yanex_cli("list", "--tag", "grid-search", "--format", "json")
    assert listed.returncode == 0, listed.stderr
    assert len(json.loads(listed.stdout)) == 7
    shown = yanex_cli("show", "grid-lr0_1-bs32")
    assert shown.returncode == 0 and "grid-lr0_1-bs32" in shown.stdout
    got = yanex_cli("get", "metrics.accuracy", "grid-lr0_1-bs32")
    assert got.stdout == "0.95\n"


def test_subprocess_errors_and_exit_codes(ids: dict[str, str]) -> None:
    missing = yanex_cli("show", "nope")
    assert missing.returncode == 1 and missing.stdout == ""
    assert missing.stderr.splitlines()[0] == "Error: no experiment matches 'nope' (by id, id prefix or name)"
    bad = yanex_cli("compare", "--where", "x = = 1")
    assert bad.returncode == 2 and "position 5" in bad.stderr and "Traceback" not in bad.stderr


def test_subprocess_head_of_list_is_an_experiment(ids: dict[str, str]) -> None:
    """The spec's `yanex list ... | head -n 1` prints an experiment: piped, the header goes to stderr."""
    listing = subprocess.run(
        f"{sys.executable} -m yanex list --tag grid-search --status completed | head -n 1",
        shell=True,
        capture_output=True,
        text=True,
        env=dict(os.environ),
        check=True,
    )
    newest = yanex_cli("get", "id", "--tag", "grid-search", "--status", "completed", "--limit", "1")
    assert newest.stdout.strip().startswith(listing.stdout.split()[0])  # get id: the full id
    assert listing.stdout.split()[2] == "completed"
    assert listing.stderr.split() == ["id", "name", "status", "tags", "started", "duration"]


def _on_terminal(*args: str, env: dict[str, str]) -> str:
    controller, terminal = pty.openpty()
    with subprocess.Popen(
        [sys.executable, "-m", "yanex", *args], stdout=terminal, stderr=subprocess.PIPE, env=env
    ) as process:
        os.close(terminal)
        chunks = []
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        process.wait(timeout=60)
    os.close(controller)
    return b"".join(chunks).decode()


def test_terminal_output_is_pretty_and_honours_no_color(ids: dict[str, str]) -> None:
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    env.update(TERM="xterm-256color", COLUMNS="200")
    coloured = _on_terminal("list", "--tag", "grid-search", env=env)
    assert "─" in coloured and "\x1b[" in coloured  # rich table with colour
    plain = _on_terminal("list", "--tag", "grid-search", env={**env, "NO_COLOR": "1"})
    assert "─" in plain and "\x1b[3" not in plain  # still a table, no colour codes
