"""The --where grammar: what it accepts, where it points when it refuses, and that values stay data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import yanex.store.where
from tests.conftest import yanex_cli
from tests.query_fixtures import GRID, grid_name, populate
from yanex.cli.app import app
from yanex.db.engine import Database
from yanex.errors import UsageError
from yanex.store.filters import ExperimentFilter
from yanex.store.reading import reading
from yanex.store.records import find_records
from yanex.store.tables import ExperimentRecord
from yanex.store.where import (
    MAX_CONDITIONS,
    MAX_DEPTH,
    MAX_VALUES,
    BoolOp,
    Compare,
    Field,
    InList,
    Not,
    WhereSyntaxError,
    compile_where,
    parse_where,
)

# Grammar tests name fields no experiment has on purpose (injection attempts, deep nesting of `lr`):
# the "no experiment has ..." notes that raises are tested in test_misreads.py.
pytestmark = pytest.mark.filterwarnings("ignore::yanex.errors.YanexWarning")

cli_runner = CliRunner()


def names(db: Database, where: str) -> set[str]:
    return {e.name or "" for e in found(db, ExperimentFilter(where=where, archived="include"))}


def found(db: Database, flt: ExperimentFilter) -> list[ExperimentRecord]:
    with reading(db) as conn:
        return find_records(conn, flt)


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
    assert hostile not in clause.text
    assert "0.5" not in clause.text
    assert hostile in clause.params.values()
    assert 0.5 in clause.params.values()


def test_injection_attempts_stay_data(grid: Database) -> None:
    for attack in (
        r"optimizer = 'adam\' OR 1=1 --'",
        "optimizer = \"' OR '1'='1\"",
        "`learning_rate = 1 OR 1` = 1",
    ):
        assert names(grid, attack) == set()
    with pytest.raises(WhereSyntaxError):  # SQL's doubled quote is two strings here, so refused
        names(grid, "optimizer = 'adam'' OR 1=1 --'")
    assert len(found(grid, ExperimentFilter(archived="include"))) == 8  # nothing dropped


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


# ---- limits: long lists work, deep nesting is one error with a caret --------------------------------


def test_an_in_list_of_thousands_of_values_works(grid: Database) -> None:
    """One IN per value type, not a chain of ORs, which SQLite refused past ~300 values."""
    many = ", ".join(str(n) for n in range(100, 5100))
    assert names(grid, f"batch_size in ({many}, 16)") == {
        "grid-lr0_001-bs16",
        "grid-lr0_01-bs16",
        "grid-lr0_1-bs16",
    }
    assert names(grid, f"batch_size not in ({many}, 16)") == names(grid, "batch_size = 32")
    texts = ", ".join(f"'opt{n}'" for n in range(3000))
    assert names(grid, f"optimizer in ({texts}, 'sgd', 16, true)") == names(grid, "optimizer = 'sgd'")
    assert names(grid, f"metrics.phase in ({texts}, 'done', 0.5)") == {"baseline"}
    assert names(grid, f"metrics.converged in ({many}, true)") == {"baseline"}
    values = ", ".join(["1"] * MAX_VALUES)
    with pytest.raises(WhereSyntaxError, match=f"more than {MAX_VALUES} values"):
        names(grid, f"seed in ({values}, 2)")


def test_an_in_list_of_500_values_through_the_real_command(grid: Database) -> None:
    values = ", ".join(str(n / 1000) for n in range(500))
    for where in (f"learning_rate in ({values})", f"not learning_rate in ({values})"):
        result = yanex_cli("list", "--all", "--where", where, "--format", "json")
        assert result.returncode == 0, result.stderr
        expected = names(grid, where)
        assert {row["name"] for row in json.loads(result.stdout)} == expected
    assert names(grid, f"learning_rate in ({values})") == {grid_name(lr, bs) for lr, bs in GRID}


def _nested(shape: list[str], depth: int) -> str:
    """An expression ``depth`` levels deep; each unit of ``shape`` opens one level."""
    units = [shape[i % len(shape)] for i in range(depth)]
    return "".join(units) + "lr = 1" + ")" * sum(unit.count("(") - unit.count(")") for unit in units)


SHAPES = [
    ["("],
    ["not "],
    ["not ", "("],
    ["a = 1 and (", "b = 2 or ("],
    ["x in (1, 'a', true) and (", "not ", "("],
    ["not ", "(metrics.m not in (2, 'b') or "],
]


@pytest.mark.parametrize("shape", SHAPES)
def test_nesting_up_to_the_limit_runs_and_one_more_is_refused_at_its_token(
    grid: Database, shape: list[str]
) -> None:
    names(grid, _nested(shape, MAX_DEPTH))  # SQLite's parser takes it too
    deeper = _nested(shape, MAX_DEPTH + 1)
    with pytest.raises(
        WhereSyntaxError, match=f"more than {MAX_DEPTH} nested parentheses and 'not's"
    ) as caught:
        names(grid, deeper)
    assert deeper[caught.value.pos :].startswith(("(", "not"))


@pytest.mark.parametrize("text", ["(" * 5000 + "lr = 1" + ")" * 5000, "not " * 5000 + "lr = 1"])
def test_thousands_of_nested_levels_are_one_error_with_a_caret(text: str) -> None:
    runner_result = cli_runner.invoke(app, ["list", "--where", text])
    assert runner_result.exit_code == 2, runner_result.output
    real = yanex_cli("list", "--where", text)
    assert real.returncode == 2, real.stderr
    for result in (runner_result, real):
        assert "Traceback" not in result.stderr
        error, shown, caret, hint = result.stderr.splitlines()
        assert error.startswith(
            f"Error: invalid --where expression at position {MAX_DEPTH * (1 if text[0] == '(' else 4) + 1}: "
        )
        assert f"more than {MAX_DEPTH} nested" in error
        assert len(shown) < 80 and shown[len(caret) - 1] in "(n"  # an excerpt, the caret under the token
        assert caret.strip() == "^" and hint.startswith("Hint: ")


def test_conditions_beyond_the_limit_are_one_error(grid: Database) -> None:
    names(grid, " and ".join(["lr = 1"] * MAX_CONDITIONS))
    names(grid, " or ".join(["lr = 1"] * MAX_CONDITIONS))
    text = " and ".join(["lr = 1"] * (MAX_CONDITIONS + 1))
    result = yanex_cli("list", "--where", text)
    assert result.returncode == 2, result.stderr
    assert f"more than {MAX_CONDITIONS} conditions; use 'in (...)' for many values" in result.stderr
    assert "Traceback" not in result.stderr


def test_control_characters_in_a_bad_expression_are_shown_escaped() -> None:
    result = yanex_cli("list", "--where", "name = 1 \x1b]0;pwned\x07 \x1b[2J")
    assert result.returncode == 2
    assert "\x1b" not in result.stderr and "\x07" not in result.stderr
    error, shown, caret, _hint = result.stderr.splitlines()
    assert "unexpected character '\\x1b'" in error
    assert shown == "  name = 1 \\x1b]0;pwned\\x07 \\x1b[2J"
    assert caret == "  " + " " * len("name = 1 ") + "^"


def test_a_limit_beyond_any_table_is_no_limit(grid: Database) -> None:
    everything = found(grid, ExperimentFilter(archived="include"))
    assert found(grid, ExperimentFilter(archived="include", limit=10**20)) == everything
    result = yanex_cli("list", "--all", "--limit", "99999999999999999999", "--format", "json")
    assert result.returncode == 0, result.stderr
    assert [row["id"] for row in json.loads(result.stdout)] == [e.id for e in everything]
    assert cli_runner.invoke(app, ["get", "id", "--limit", str(2**63)]).exit_code == 0


@pytest.mark.parametrize(
    "command",
    [
        ["list"],
        ["compare"],
        ["get", "id"],
        ["metrics"],
        ["archive"],
    ],
    ids=lambda command: command[0],
)
def test_a_command_parses_its_where_once(
    grid: Database, command: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The filter parses the condition when it is made; every later use (counting, selecting,
    naming what differs) reuses that tree."""
    parsed: list[str] = []

    def counting(text: str) -> object:
        parsed.append(text)
        return parse_where(text)

    monkeypatch.setattr(yanex.store.where, "parse_where", counting)
    result = cli_runner.invoke(app, [*command, "--where", "learning_rate > 0.001"])
    assert result.exit_code == 0, result.output
    assert parsed == ["learning_rate > 0.001"]


def test_only_the_filter_parses_a_where_condition() -> None:
    """One parse site (``ExperimentFilter``): the commands above would not count a second one that
    imported the parser by name."""
    package = Path(yanex.store.where.__file__).parents[1]
    callers = sorted(
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if "parse_where(" in path.read_text() and path.name != "where.py"
    )
    assert callers == ["store/filters.py"]
