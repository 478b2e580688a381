"""Aggregate references (metrics.KEY.min, ...) in --where, --sort, compare, get and the Python
API, dotted keys, and compare --group-by against numpy."""

from __future__ import annotations

import csv
import io
import json
import random
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy
import pytest
from typer.testing import CliRunner, Result

import yanex
from tests.conftest import yanex_cli
from yanex.cli.app import app
from yanex.db.engine import Database
from yanex.runner.environment import this_process
from yanex.specs import EnvironmentInfo, ExperimentSpec, GitInfo, Status
from yanex.store.experiments import MetricRecord, create_experiments, finish, ingest_metrics
from yanex.store.filters import ExperimentFilter
from yanex.store.reading import reading
from yanex.store.selection import select_ids

runner = CliRunner()
START = datetime(2026, 1, 1)


def cli(*args: str) -> Result:
    return runner.invoke(app, list(args))


def add(
    db: Database, name: str, config: dict[str, Any], curves: dict[str, list[Any]], tags: list[str]
) -> str:
    [experiment_id] = create_experiments(
        db,
        [ExperimentSpec(script_path=Path("train.py"), name=name, config=config, tags=tags)],
        status=Status.RUNNING,
        owner=this_process(),
        git=GitInfo(),
        environment=EnvironmentInfo(),
    )
    steps = max((len(c) for c in curves.values()), default=0)
    records = [
        MetricRecord(s, START + timedelta(seconds=s), {k: c[s] for k, c in curves.items() if s < len(c)})
        for s in range(steps)
    ]
    if records:
        ingest_metrics(db, experiment_id, records)
    finish(db, experiment_id, Status.COMPLETED, exit_code=0)
    return experiment_id


@pytest.fixture
def runs(db: Database) -> dict[str, str]:
    """a: loss dips to 0.05 then ends at 0.5; b: loss ends lowest but never below 0.2; c: no loss."""
    return {
        "a": add(db, "a", {"lr": 0.1}, {"loss": [0.9, 0.05, 0.5], "acc": [0.1, 0.7, 0.6]}, ["t"]),
        "b": add(db, "b", {"lr": 0.01}, {"loss": [0.8, 0.3, 0.2], "acc": [0.2, 0.5, 0.8]}, ["t"]),
        "c": add(db, "c", {"lr": 0.001}, {"acc": [0.3, 0.4]}, ["t"]),
    }


def names(result: Result) -> list[str]:
    """The names `get name` prints, each after its id when there are several."""
    assert result.exit_code == 0, result.output
    return [line.split()[-1] for line in result.output.splitlines()]


def test_where_on_an_aggregate_differs_from_the_last_value(runs: dict[str, str]) -> None:
    assert names(cli("get", "name", "--where", "metrics.loss.min < 0.1")) == ["a"]
    assert names(cli("get", "name", "--where", "metrics.loss < 0.3")) == ["b"]
    assert names(cli("get", "name", "--where", "metrics.loss.last < 0.3")) == ["b"]
    assert sorted(names(cli("get", "name", "--where", "metrics.acc.max >= 0.7"))) == ["a", "b"]
    assert names(cli("get", "name", "--where", "metrics.acc.step_of_best = 2")) == ["b"]
    assert names(cli("get", "name", "--where", "metrics.acc.first = 0.3 and metrics.acc.count = 2")) == ["c"]


def test_where_mean_in_a_list(runs: dict[str, str]) -> None:
    # a's loss mean is (0.9 + 0.05 + 0.5) / 3; b's is (0.8 + 0.3 + 0.2) / 3.
    result = cli("get", "name", "--where", "metrics.loss.mean > 0.45")
    assert names(result) == ["a"]
    assert names(cli("get", "name", "--where", "metrics.loss.best < 0.1 or metrics.acc.best > 0.75")) == [
        "b",
        "a",
    ]


def test_sort_by_an_aggregate_with_and_without_a_limit(runs: dict[str, str]) -> None:
    assert names(cli("get", "name", "--sort", "metrics.acc.max", "--desc")) == ["b", "a", "c"]
    assert names(cli("get", "name", "--sort", "metrics.acc.max", "--desc", "--limit", "2")) == ["b", "a"]
    # c has no loss: last whichever way, as without a limit.
    assert names(cli("get", "name", "--sort", "metrics.loss.min")) == ["a", "b", "c"]
    assert names(cli("get", "name", "--sort", "metrics.loss.min", "--desc", "--limit", "3")) == [
        "b",
        "a",
        "c",
    ]
    assert (
        names(cli("list", "--sort", "metrics.loss.min", "--limit", "1", "--format", "csv"))[-1].split(",")[1]
        == "a"
    )


def test_get_prints_each_aggregate(runs: dict[str, str]) -> None:
    a = runs["a"]
    expected = {
        "last": 0.5,
        "first": 0.9,
        "min": 0.05,
        "max": 0.9,
        "best": 0.05,
        "step_of_best": 1,
        "count": 3,
    }
    for aggregate, value in expected.items():
        result = cli("get", f"metrics.loss.{aggregate}", a)
        assert result.exit_code == 0, result.output
        assert json.loads(result.output) == value, aggregate
    assert json.loads(cli("get", "metrics.loss.mean", a).output) == pytest.approx((0.9 + 0.05 + 0.5) / 3)
    missing = cli("get", "metrics.loss.min", runs["c"])
    assert missing.exit_code == 1 and "has no metric 'loss'" in missing.output


def test_compare_columns_and_find_and_compare_frame_take_aggregates(runs: dict[str, str]) -> None:
    result = cli(
        "compare", "--tag", "t", "-m", "loss.min", "-m", "acc", "--sort", "loss.min", "--format", "json"
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [(r["name"], r["metrics"]) for r in rows] == [
        ("a", {"loss.min": 0.05, "acc": 0.6}),
        ("b", {"loss.min": 0.2, "acc": 0.8}),
        ("c", {"acc": 0.4}),
    ]
    found = yanex.find(where="metrics.loss.min < 0.1 or metrics.acc.step_of_best = 2", sort="metrics.acc.max")
    assert [view.name for view in found] == ["a", "b"]
    frame = yanex.compare_frame(tags=["t"], metrics=["acc.max", "loss.step_of_best"], sort="name")
    assert frame["metrics.acc.max"].tolist() == [0.7, 0.8, 0.4]
    assert frame["metrics.loss.step_of_best"].tolist()[:2] == [1, 2]


def test_dotted_keys_and_keys_ending_in_an_aggregate_name(db: Database) -> None:
    """``val.loss`` is a key; a trailing aggregate name is always an aggregate, so a key that
    itself ends in one (``acc.max``) is reached as ``acc.max.last``."""
    from yanex.store.metric_names import AGGREGATES, MetricRef, metric_ref

    add(db, "dots", {"lr": 1}, {"val.loss": [0.4, 0.1, 0.3], "acc.max": [5.0], "acc": [1.0, 2.0]}, ["d"])
    assert metric_ref("val.loss") == MetricRef("val.loss")
    assert metric_ref("val.loss.min") == MetricRef("val.loss", AGGREGATES["min"])
    assert metric_ref("acc.max") == MetricRef("acc", AGGREGATES["max"])
    assert metric_ref("acc.max.last") == MetricRef("acc.max", AGGREGATES["last"])
    assert MetricRef("acc.max").label == "acc.max.last" and MetricRef("val.loss").label == "val.loss"
    assert json.loads(cli("get", "metrics.val.loss", "dots").output) == 0.3
    assert json.loads(cli("get", "metrics.val.loss.min", "dots").output) == 0.1
    assert json.loads(cli("get", "metrics.acc.max", "dots").output) == 2.0  # max of acc
    assert json.loads(cli("get", "metrics.acc.max.last", "dots").output) == 5.0  # the key acc.max
    assert names(cli("get", "name", "--where", "metrics.acc.max.last = 5")) == ["dots"]
    assert names(cli("get", "name", "--where", "metrics.acc.max = 2")) == ["dots"]


def test_a_misspelt_metric_suggests_the_spelling_that_reaches_it(db: Database) -> None:
    add(db, "only", {"lr": 1}, {"acc.max": [5.0]}, ["d"])
    result = yanex_cli("list", "--where", "metrics.acc.max > 1")
    assert result.returncode == 0
    assert "no experiment in the selection has the metric 'acc'" in result.stderr
    assert "did you mean metrics.acc.max.last?" in result.stderr


def test_text_and_booleans_never_match_a_numeric_aggregate(db: Database) -> None:
    add(db, "mixed", {"lr": 1}, {"state": ["warm", "done"], "ok": [True, False]}, ["m"])
    assert names(cli("get", "name", "--where", "metrics.state = 'done'")) == ["mixed"]
    assert names(cli("get", "name", "--where", "metrics.state.first = 'warm'")) == ["mixed"]
    assert names(cli("get", "name", "--where", "metrics.ok.first = true")) == ["mixed"]
    for where in ("metrics.state.min = 'done'", "metrics.ok.max = true", "metrics.ok.max in (1, true)"):
        nothing = cli("get", "name", "--where", where)
        assert nothing.exit_code == 1 and "no experiments match" in nothing.output, where


def test_top_n_by_a_metric_equals_the_head_of_the_full_order(db: Database) -> None:
    """The limited sort reads the (key, aggregate) index in two parts; it must give exactly the
    first N of the full outer-join order, ties and experiments without the metric included, and
    that order follows the aggregate computed here from the logged values."""
    rng = random.Random(11)
    curves: dict[str, list[float]] = {}
    for n in range(40):
        curve = [rng.choice([0.1, 0.2, 0.3]) for _ in range(rng.randint(0, 3))] if n % 5 else []
        metrics = {"acc": curve} if curve else {"other": [1.0]}
        curves[add(db, f"r{n}", {"seed": n}, metrics, ["top"] if n % 3 else [])] = curve
    aggregates: dict[str, Callable[[list[float]], float]] = {
        "": lambda c: c[-1],
        ".max": max,
        ".mean": lambda c: sum(c) / len(c),
    }
    for suffix, aggregate in aggregates.items():
        sort = f"metrics.acc{suffix}"
        for desc in (False, True):
            for tags in ([], ["top"]):
                with reading(db) as conn:
                    full = select_ids(conn, ExperimentFilter(sort=sort, desc=desc, tags=tags))
                    values = [aggregate(curves[i]) if curves[i] else None for i in full]
                    having = [v for v in values if v is not None]
                    assert having == sorted(having, reverse=desc), sort
                    assert values == having + [None] * (len(values) - len(having)), sort
                    for limit in (1, 5, 30, 45):
                        head = select_ids(
                            conn, ExperimentFilter(sort=sort, desc=desc, tags=tags, limit=limit)
                        )
                        assert head == full[:limit], (sort, desc, tags, limit)


def test_top_n_by_an_aggregate_walks_its_index(db: Database) -> None:
    """``--sort metrics.accuracy.max --desc --limit 10`` reads the (key, max) index, not every
    experiment; ``--where "metrics.loss.min < 0.1"`` probes one summary row per experiment."""
    from yanex.store.filters import compile_filter

    add(db, "one", {"lr": 1}, {"accuracy": [0.5], "loss": [0.05]}, ["x"])
    with reading(db) as conn:
        for flt, index in (
            (ExperimentFilter(sort="metrics.accuracy.max", desc=True, limit=10), "ix_metric_summary_key_max"),
            (ExperimentFilter(where="metrics.loss.min < 0.1", limit=50), "sqlite_autoindex_metric_summary_1"),
        ):
            sql = compile_filter(flt)
            plan = " | ".join(
                row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql.text}", sql.sqlite_params())
            )
            assert f"USING INDEX {index}" in plan, plan
            assert [r[0] for r in conn.execute(sql.text, sql.sqlite_params())] == select_ids(conn, flt)


def grid(db: Database) -> dict[tuple[float, int], list[float]]:
    """lr x batch x 4 seeds; returns each (lr, batch) group's accuracy maxima."""
    rng = random.Random(5)
    maxima: dict[tuple[float, int], list[float]] = {}
    for lr in (0.1, 0.01):
        for batch in (16, 32):
            for seed in range(4):
                curve = [0.9 + rng.random() * 1e-6 for _ in range(3)]  # close values: cancellation
                add(
                    db,
                    f"g{lr}-{batch}-{seed}",
                    {"lr": lr, "batch": batch, "seed": seed},
                    {"acc": curve},
                    ["g"],
                )
                maxima.setdefault((lr, batch), []).append(max(curve))
    return maxima


def test_group_by_params_mean_and_std_match_numpy(db: Database) -> None:
    maxima = grid(db)
    result = cli("compare", "--tag", "g", "--group-by", "!seed", "-m", "acc.max", "--format", "json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [(r["group"]["batch"], r["group"]["lr"]) for r in rows] == [
        (16, 0.01),
        (16, 0.1),
        (32, 0.01),
        (32, 0.1),
    ]
    for row in rows:
        values = maxima[(row["group"]["lr"], row["group"]["batch"])]
        stat = row["metrics"]["acc.max"]
        assert (row["n"], stat["n"]) == (4, 4)
        assert stat["mean"] == pytest.approx(numpy.mean(values), rel=1e-12)
        assert stat["std"] == pytest.approx(numpy.std(values, ddof=1), rel=1e-6)
    by_lr = json.loads(cli("compare", "-t", "g", "--group-by", "lr", "-m", "acc", "--format", "json").stdout)
    assert [(r["group"], r["n"]) for r in by_lr] == [({"lr": 0.01}, 8), ({"lr": 0.1}, 8)]


def test_group_by_output_formats_and_errors(db: Database) -> None:
    grid(db)
    args = ("compare", "-t", "g", "--group-by", "lr", "--group-by", "batch", "-m", "acc.max")
    table = cli(*args, "--format", "markdown")
    assert table.exit_code == 0, table.output
    header, _, first, *_ = table.stdout.splitlines()
    assert [c.strip() for c in header.strip("|").split("|")] == ["lr", "batch", "n", "acc.max"]
    assert [c.strip() for c in first.strip("|").split("|")][:3] == ["0.01", "16", "4"] and " ± " in first
    text = cli("compare", "-t", "g", "--group-by", "lr", "-m", "acc.max", "--format", "csv").stdout
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["lr", "n", "acc.max n", "acc.max mean", "acc.max std"]
    assert [row[:3] for row in rows[1:]] == [["0.01", "8", "8"], ["0.1", "8", "8"]]
    # --sort, --desc and --limit order and cut the groups, not the experiments (tests/test_group_trust.py)
    cut = cli("compare", "-t", "g", "--group-by", "lr", "-m", "acc.max", "--limit", "1", "--format", "csv")
    assert [row[:2] for row in csv.reader(io.StringIO(cut.stdout))] == [["lr", "n"], ["0.01", "8"]]
    typo = cli("compare", "-t", "g", "--group-by", "sed")
    assert typo.exit_code == 2 and "no selected experiment has that parameter" in typo.output
    assert "batch, lr, seed" in typo.output
    # '!NAME' need not exist ('!seed' where nothing has a seed): every differing parameter, with a
    # note naming them, so that a typo shows.
    absent = cli("compare", "-t", "g", "--group-by", "!sed", "-m", "acc.max", "--format", "csv")
    assert absent.exit_code == 0, absent.output
    assert (
        "Note: no selected experiment has 'sed'; grouping by every parameter that differs: batch, lr, seed"
        in (absent.output)
    )


def test_group_experiments_for_other_commands(db: Database) -> None:
    from yanex.store.groups import group_experiments

    grid(db)
    with reading(db) as conn:
        grouping = group_experiments(conn, ExperimentFilter(tags=["g"]), ["!seed"])
    assert grouping.keys == ("batch", "lr")
    assert [(g.values, len(g.ids)) for g in grouping.groups] == [
        ((16, 0.01), 4),
        ((16, 0.1), 4),
        ((32, 0.01), 4),
        ((32, 0.1), 4),
    ]


def test_compare_highlights_by_the_declared_goal(db: Database) -> None:
    """Two runs declare accuracy a metric to minimise: the smaller accuracy is the best one; a
    column whose rows disagree about the goal falls back to the default rule."""
    from yanex.store.compare import best_rows, compare

    for name, value, goals in (("low", 0.2, {"accuracy": "min"}), ("high", 0.9, {"accuracy": "min"})):
        [experiment_id] = create_experiments(
            db,
            [ExperimentSpec(script_path=Path("t.py"), name=name, tags=["goal"], goals=goals)],
            status=Status.RUNNING,
            owner=this_process(),
            git=GitInfo(),
            environment=EnvironmentInfo(),
        )
        ingest_metrics(db, experiment_id, [MetricRecord(0, START, {"accuracy": value, "f1": value})])
    with reading(db) as conn:
        comparison = compare(
            conn, ExperimentFilter(tags=["goal"], sort="name"), metrics=["accuracy.max", "f1"]
        )
    assert comparison.goals == {"accuracy.max": "min", "f1": "max"}
    values = [row.metrics["accuracy.max"] for row in comparison.rows]
    assert values == [0.9, 0.2]
    assert best_rows(values, "accuracy.max", comparison.goals["accuracy.max"]) == {1}
    assert best_rows(values, "accuracy.max") == {0}
    add(db, "other", {"lr": 1}, {"accuracy": [0.5]}, ["goal"])  # the default goal: max
    with reading(db) as conn:
        assert "accuracy" not in compare(conn, ExperimentFilter(tags=["goal"]), metrics=["accuracy"]).goals


def test_aggregates_of_an_int_metric_read_back_as_ints(write_script, yanex_home) -> None:
    """min, max and best are logged values: an int metric's are ints, as its last value is; the
    mean is a float."""
    script = write_script("t.py", "import yanex\nfor i in range(3):\n    yanex.log_metrics({'n': 20 + i})\n")
    assert yanex_cli("run", str(script)).returncode == 0
    [view] = yanex.find()
    printed = {
        a: yanex_cli("get", f"metrics.n.{a}", view.id).stdout.strip() for a in ("min", "max", "best", "mean")
    }
    assert printed == {"min": "20", "max": "22", "best": "22", "mean": "21.0"}
    frame = yanex.compare_frame(metrics=["n.max", "n.mean"])
    assert frame["metrics.n.max"].tolist() == [22] and frame["metrics.n.mean"].tolist() == [21.0]


def test_group_stats_of_equal_and_huge_values_are_exact(db: Database) -> None:
    """Equal values have a std of exactly 0 (not 1.7e-17), and means are exact and finite where
    a plain sum cancels (5, 1e308, -1e308) or overflows (three times the largest float)."""
    biggest = 1.7976931348623157e308
    for seed, loss in enumerate([5.0, 1e308, -1e308]):
        curves = {"acc": [0.1], "loss": [loss], "big": [biggest]}
        add(db, f"eq-{seed}", {"lr": 0.1, "seed": seed}, curves, ["eq"])
    args = ("compare", "-t", "eq", "--group-by", "lr", "-m", "acc", "-m", "loss", "-m", "big")
    result = cli(*args, "--format", "json")
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.stdout)
    stats = row["metrics"]
    assert stats["acc"] == {"n": 3, "mean": 0.1, "std": 0.0}
    assert stats["big"] == {"n": 3, "mean": biggest, "std": 0.0}
    assert (stats["loss"]["mean"], stats["loss"]["std"]) == (5 / 3, pytest.approx(1e308))
    table = cli(*args)
    assert table.exit_code == 0, table.output
    assert "0.1 ± 0.0 " in table.output and "1.79769e+308 ± 0.0" in table.output
