"""The --where grammar: what it accepts, where it points when it refuses, and that values stay data."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.dialects import sqlite

from tests.query_fixtures import populate
from yanex.db.engine import Database
from yanex.errors import UsageError
from yanex.store.query import ExperimentFilter, find_experiments
from yanex.store.where import (
    BoolOp,
    Compare,
    Field,
    InList,
    Not,
    WhereSyntaxError,
    compile_where,
    parse_where,
)


def names(db: Database, where: str) -> set[str]:
    return {e.name or "" for e in find_experiments(db, ExperimentFilter(where=where, archived="include"))}


@pytest.fixture
def grid(db: Database, tmp_path: Path) -> Database:
    populate(db, tmp_path)
    return db


def test_parses_precedence_and_literals() -> None:
    tree = parse_where("batch_size in (16, 32) and (optimizer = 'adam' or not dropout > 0.3)")
    assert tree == BoolOp(
        "and",
        (
            InList(Field("param", "batch_size"), (16.0, 32.0), negated=False),
            BoolOp(
                "or",
                (
                    Compare(Field("param", "optimizer"), "=", "adam"),
                    Not(Compare(Field("param", "dropout"), ">", 0.3)),
                ),
            ),
        ),
    )
    assert parse_where("a = 1 or b = 2 and c = 3") == BoolOp(
        "or",
        (
            Compare(Field("param", "a"), "=", 1.0),
            BoolOp("and", (Compare(Field("param", "b"), "=", 2.0), Compare(Field("param", "c"), "=", 3.0))),
        ),
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("metrics.accuracy >= 0.9", Compare(Field("metric", "accuracy"), ">=", 0.9)),
        ("params.metrics = 1", Compare(Field("param", "metrics"), "=", 1.0)),
        ("model.depth <> -2e3", Compare(Field("param", "model.depth"), "!=", -2000.0)),
        ('`odd key` == "it\'s"', Compare(Field("param", "odd key"), "=", "it's")),
        ("flag = TRUE", Compare(Field("param", "flag"), "=", True)),
        ("x NOT IN ('a', 2)", InList(Field("param", "x"), ("a", 2.0), negated=True)),
        ("lr<.5", Compare(Field("param", "lr"), "<", 0.5)),
    ],
)
def test_parses_each_form(text: str, expected: object) -> None:
    assert parse_where(text) == expected


@pytest.mark.parametrize(
    ("text", "pos", "problem"),
    [
        ("lr > and x", 5, "expected a value"),
        ("lr >", 4, "found the end of the expression"),
        ("lr 0.1", 3, "expected a comparison"),
        ("(lr > 1", 7, "expected ')'"),
        ("lr > 1 x = 2", 7, "expected 'and', 'or'"),
        ("optimizer = adam", 12, "quote text values"),
        ("lr > 1 ; DROP TABLE experiments", 7, "unexpected character ';'"),
        ("flag > true", 7, "true and false compare only with = or !="),
        ("metrics.phase < 'z'", 16, "text metric values compare only"),
        ("x in (1, 2", 10, "expected ',' or ')'"),
        ("x not = 1", 6, "expected 'in' after 'not'"),
        ("", 0, "expected a condition"),
        ("metrics. > 1", 0, "expected a name after 'metrics.'"),
    ],
)
def test_errors_point_at_the_bad_token(text: str, pos: int, problem: str) -> None:
    with pytest.raises(WhereSyntaxError) as caught:
        parse_where(text)
    error = caught.value
    assert isinstance(error, UsageError) and error.exit_code == 2
    assert error.pos == pos
    assert problem in error.message
    lines = error.message.splitlines()
    assert lines[1] == f"  {text}"
    assert lines[2] == "  " + " " * pos + "^"


def test_literals_are_bound_parameters_not_sql_text() -> None:
    hostile = "x'; DROP TABLE experiments; --"
    clause = compile_where(parse_where(f'name = "{hostile}" or lr > 0.5'))
    compiled = clause.compile(dialect=sqlite.dialect())
    assert hostile not in str(compiled)
    assert "0.5" not in str(compiled)
    assert hostile in compiled.params.values()
    assert 0.5 in compiled.params.values()


def test_injection_attempts_stay_data(grid: Database) -> None:
    for attack in (
        r"optimizer = 'adam\' OR 1=1 --'",
        "optimizer = \"' OR '1'='1\"",
        "`learning_rate = 1 OR 1` = 1",
    ):
        assert names(grid, attack) == set()
    with pytest.raises(WhereSyntaxError):  # SQL's doubled quote is two strings here, so refused
        names(grid, "optimizer = 'adam'' OR 1=1 --'")
    assert len(find_experiments(grid, ExperimentFilter(archived="include"))) == 8  # nothing dropped


def test_numbers_compare_as_numbers_and_text_as_text(grid: Database) -> None:
    # As text, '0.1' < '0.05' would hold; as numbers it must not.
    assert names(grid, "learning_rate > 0.05") == {"grid-lr0_1-bs16", "grid-lr0_1-bs32", "live"}
    assert names(grid, "batch_size >= 20") == {"grid-lr0_001-bs32", "grid-lr0_01-bs32", "grid-lr0_1-bs32"}
    assert names(grid, "optimizer = 'sgd' and learning_rate <= 0.01") == {
        "grid-lr0_001-bs32",
        "grid-lr0_01-bs32",
    }
    assert names(grid, "model.name = 'resnet' and model.depth = 12") == {"baseline"}
    assert names(grid, "batch_size = '16'") == set()  # a number is not the text "16"


def test_in_not_and_or(grid: Database) -> None:
    assert names(grid, "batch_size in (16, 64) and learning_rate in (0.1, 0.001)") == {
        "grid-lr0_001-bs16",
        "grid-lr0_1-bs16",
    }
    assert names(grid, "batch_size = 16 and (optimizer = 'sgd' or not learning_rate > 0.005)") == {
        "grid-lr0_001-bs16"
    }
    # A condition holds only where the field exists, so `not` includes experiments without it.
    assert names(grid, "not batch_size = 16") == {
        "grid-lr0_001-bs32",
        "grid-lr0_01-bs32",
        "grid-lr0_1-bs32",
        "baseline",
        "live",
    }
    # `not in` is a condition like `!=`: it needs the field, so baseline and live (no optimizer) fail.
    adam = {"grid-lr0_001-bs16", "grid-lr0_01-bs16", "grid-lr0_1-bs16"}
    assert names(grid, "optimizer not in ('sgd')") == adam == names(grid, "optimizer != 'sgd'")
    assert names(grid, "not optimizer in ('sgd')") == adam | {"baseline", "live"}  # plain negation


def test_not_in_means_has_the_field_and_differs_from_every_value(grid: Database) -> None:
    assert names(grid, "seed not in (1, 2)") == {"baseline"} == names(grid, "seed != 1 and seed != 2")
    assert names(grid, "seed not in (1, 7)") == set()
    assert names(grid, "batch_size not in (16, 64)") == names(grid, "batch_size != 16 and batch_size != 64")
    assert names(grid, "metrics.phase not in ('warmup', 'train')") == {"baseline"}
    assert names(grid, "metrics.converged not in (false)") == {"baseline"}
    assert names(grid, "not seed in (1, 2)") == names(grid, "not seed = 1 and not seed = 2")


def test_metric_conditions_use_the_last_value(grid: Database) -> None:
    # Earlier steps of the lr=0.1 runs were below 0.9; only their last values count.
    assert names(grid, "metrics.accuracy > 0.9") == {"grid-lr0_1-bs16", "grid-lr0_1-bs32"}
    assert names(grid, "metrics.phase = 'done'") == {"baseline"}
    assert names(grid, "metrics.converged = true") == {"baseline"}
    assert names(grid, "metrics.converged = 1") == set()  # a boolean is not the number 1
    assert names(grid, "augment = true and seed != 8") == {"baseline"}
    assert names(grid, "augment = false") == set()
