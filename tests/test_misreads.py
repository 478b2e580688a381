"""No silent misreads: a field nothing has is said, columns are chosen over the whole selection,
machine formats are exact and the commands agree on their JSON keys (issue 8)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

import yanex
from tests.conftest import yanex_cli
from tests.query_fixtures import populate
from tests.test_cli_query import cli
from yanex.db.engine import Database
from yanex.errors import YanexWarning
from yanex.store.experiments import MetricRecord, ingest_metrics


@pytest.fixture
def ids(db: Database, tmp_path: Path) -> dict[str, str]:
    return populate(db, tmp_path)


def test_a_where_field_no_selected_experiment_has_is_a_note_with_the_nearest_names(
    ids: dict[str, str],
) -> None:
    result = cli("list", "--where", "lr > 0.1")
    assert result.exit_code == 0 and result.stdout == ""
    assert "Note: no experiment in the selection has the parameter 'lr'" in result.stderr
    assert "did you mean learning_rate?" in result.stderr
    # learning_rate is stored, but not by the experiments tagged eval: the selection counts.
    result = cli("list", "--tag", "eval", "--where", "learning_rate > 0.1")
    assert result.exit_code == 0 and "the parameter 'learning_rate'" in result.stderr
    metric = cli("list", "--where", "acuracy > 0.5")
    assert "did you mean metrics.accuracy?" in metric.stderr
    # A field some selected experiment has, matching nothing, is an ordinary empty answer.
    plain = cli("list", "--where", "learning_rate > 5")
    assert plain.exit_code == 0 and "Note:" not in plain.stderr


def test_sorting_by_a_metric_nothing_has_is_a_note(ids: dict[str, str]) -> None:
    result = cli("list", "--sort", "metrics.nope")
    assert result.exit_code == 0 and len(result.stdout.splitlines()) == 8
    assert "Note: no experiment in the selection has the metric 'nope' (to sort by)" in result.stderr
    assert "Note:" not in cli("list", "--sort", "metrics.accuracy").stderr


def test_the_python_api_warns_too(ids: dict[str, str]) -> None:
    with pytest.warns(YanexWarning, match="did you mean learning_rate"):
        assert yanex.find(where="lr > 0.1") == []


def test_list_sorted_by_a_metric_shows_it(ids: dict[str, str]) -> None:
    result = cli("list", "--tag", "grid-search", "--sort", "metrics.accuracy", "--desc", "-f", "csv")
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0][-1] == "metrics.accuracy"
    accuracies = [float(row[-1]) for row in rows[1:] if row[-1]]
    assert accuracies == sorted(accuracies, reverse=True) and len(accuracies) == 6
    assert cli("list", "--sort", "params.batch_size").stderr.split()[-1] == "params.batch_size"


def test_compare_with_a_limit_chooses_columns_over_the_whole_selection(ids: dict[str, str]) -> None:
    # The two best share learning_rate 0.1; it was swept, so it stays a column.
    result = cli(
        "compare",
        "--tag",
        "grid-search",
        "--status",
        "completed",
        "--sort",
        "accuracy",
        "--desc",
        "--limit",
        "2",
        "-f",
        "csv",
    )
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert "learning_rate" in rows[0] and "batch_size" in rows[0]
    assert {row[rows[0].index("learning_rate")] for row in rows[1:]} == {"0.1"}
    frame = yanex.compare_frame(
        tags="grid-search", status="completed", sort="metrics.accuracy", desc=True, limit=2
    )
    assert "params.learning_rate" in frame.columns


def test_csv_duration_is_a_number_and_an_int_metric_stays_an_int(ids: dict[str, str]) -> None:
    rows = list(csv.reader(io.StringIO(cli("list", "-t", "baseline", "-f", "csv").stdout)))
    float(rows[1][rows[0].index("duration")])  # a number, not "0.01s"
    ingest_metrics(
        Database(), ids["baseline"], [MetricRecord(1, datetime.now(UTC), {"epochs": 9, "big": 2**70})]
    )
    assert cli("get", "metrics.epochs", "baseline").stdout == "9\n"
    assert cli("get", "metrics.big", "baseline").stdout == f"{2**70}\n"
    shown = json.loads(cli("show", "baseline", "-f", "json").stdout)
    assert shown["metrics"]["epochs"] == 9 and isinstance(shown["metrics"]["epochs"], int)
    assert [e.name for e in yanex.find(where="metrics.epochs = 9")] == ["baseline"]
    assert [e.name for e in yanex.find(where="metrics.epochs in (8, 9)")] == ["baseline"]
    assert yanex.find(where="metrics.epochs > 9") == []
    assert [e.name for e in yanex.find(where="metrics.converged = true")] == ["baseline"]


def test_list_show_and_get_use_the_same_json_keys(ids: dict[str, str]) -> None:
    (listed,) = json.loads(cli("list", "-t", "baseline", "-f", "json").stdout)
    shown = json.loads(cli("show", "baseline", "-f", "json").stdout)
    for key, value in listed.items():
        assert shown[key] == value, key
        got = cli("get", key, "baseline").stdout.rstrip("\n")
        assert got == (value if isinstance(value, str) else "" if value is None else json.dumps(value)), key
    assert cli("get", "tags", "baseline").stdout == '["baseline", "eval"]\n'


@pytest.mark.parametrize(
    "argv",
    [
        ["list", "--tag", "grid-search", "--sort", "metrics.accuracy", "--desc"],
        ["list", "--where", "lr > 0.1"],
        ["list", "-f", "json", "--all"],
        ["compare", "--tag", "grid-search", "--limit", "3", "-f", "csv"],
        ["get", "params.learning_rate", "--tag", "grid-search"],
        ["show", "baseline"],
        ["show", "nothing-by-this-name"],
        ["list", "--limit", "0"],
        ["get", "no_such_field", "baseline"],
    ],
    ids=" ".join,
)
def test_the_fast_path_answers_as_typer_does(argv: list[str], ids: dict[str, str]) -> None:
    typer_result, fast = cli(*argv), yanex_cli(*argv)
    assert (fast.returncode, fast.stdout, fast.stderr) == (
        typer_result.exit_code,
        typer_result.stdout,
        typer_result.stderr,
    )
