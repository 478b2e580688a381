"""update, archive/unarchive, delete, sql and db; and --help with examples on every query command."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from tests.conftest import cli_commands, yanex_cli
from tests.query_fixtures import populate
from yanex import config
from yanex.api import find
from yanex.cli.app import app
from yanex.db.engine import Database
from yanex.db.schema import head_revision

runner = CliRunner()
HELP_PAGES = [
    [name, *([sub] if sub else [])] for name, subs in cli_commands().items() for sub in [None, *subs]
]


def cli(*args: str, stdin: str | None = None) -> Result:
    return runner.invoke(app, list(args), input=stdin)


@pytest.fixture
def ids(db: Database, tmp_path: Path) -> dict[str, str]:
    return populate(db, tmp_path)


def all_names(db: Database) -> set[str]:
    return {e.name or "" for e in find(archived="include")}


def test_help_pages_cover_every_command() -> None:
    assert {"run", "rerun", "list", "db path"} <= {" ".join(page) for page in HELP_PAGES}


@pytest.mark.parametrize("command", HELP_PAGES, ids=" ".join)
def test_every_command_has_help_with_examples(command: list[str]) -> None:
    result = cli(*command, "--help")
    assert result.exit_code == 0
    groups = {name for name, subs in cli_commands().items() if subs}
    assert "Example" in result.stdout or command[-1] in groups


# update


def test_update_name_description_and_tags(db: Database, ids: dict[str, str]) -> None:
    result = cli("update", "baseline", "--name", "reference", "-d", "new text", "--add-tag", "best")
    assert result.exit_code == 0, result.output
    (view,) = find([ids["baseline"]])
    assert view.name == "reference" and view.description == "new text"
    assert view.tags == ["baseline", "best", "eval"]
    grid = [ids["grid-lr0_1-bs16"], ids["grid-lr0_1-bs32"]]
    assert cli("update", *grid, "--add-tag", "best", "--remove-tag", "grid-search").exit_code == 0
    assert cli("update", grid[0], "--add-tag", "best").exit_code == 0  # adding twice is harmless
    tagged = find(tags=["best"])
    assert {v.id for v in tagged} == {ids["baseline"], *grid}
    assert all("grid-search" not in v.tags for v in tagged)


def test_update_needs_something_to_change(ids: dict[str, str]) -> None:
    result = cli("update", "baseline")
    assert result.exit_code == 2 and "nothing to update" in result.stderr
    assert cli("update", "nope", "--name", "x").exit_code == 1


# archive


def test_archive_and_unarchive_by_id_and_filter(db: Database, ids: dict[str, str]) -> None:
    assert cli("archive", "baseline").exit_code == 0
    assert "baseline" not in {e.name for e in find()}
    archived = cli("archive", "--tag", "grid-search", "--status", "completed")
    assert archived.exit_code == 0 and "Archived 5 experiments" in archived.stderr
    visible = [line.split()[1] for line in cli("list").stdout.splitlines()]
    assert visible == ["live", "grid-lr0_01-bs16"]
    again = cli("archive", "--tag", "grid-search", "--status", "completed")
    assert again.exit_code == 1  # nothing left to archive
    assert cli("unarchive", "--tag", "grid-search").exit_code == 0
    assert len(cli("list").stdout.splitlines()) == 7


def test_archive_refuses_an_unfiltered_call(ids: dict[str, str]) -> None:
    result = cli("archive")
    assert result.exit_code == 2 and "say which experiments" in result.stderr


# delete


def test_delete_asks_and_no_keeps_everything(db: Database, ids: dict[str, str]) -> None:
    result = cli("delete", "baseline", stdin="n\n")
    assert result.exit_code == 1
    assert "About to delete 1 experiment" in result.stderr and "Nothing deleted" in result.stderr
    assert "baseline" in all_names(db)


def test_delete_confirmed_removes_rows_metrics_and_folder(db: Database, ids: dict[str, str]) -> None:
    target = ids["grid-lr0_01-bs16"]
    folder = config.experiment_dir(target)
    folder.mkdir(parents=True)
    (folder / config.STDOUT_FILE).write_text("output\n")
    result = cli("delete", target, stdin="y\n")
    assert result.exit_code == 0, result.output
    assert "grid-lr0_01-bs16" not in all_names(db)
    assert not folder.exists()
    conn = sqlite3.connect(Path(config.yanex_home()) / "yanex.db")
    try:
        for table in ("tags", "params", "latest_metrics"):
            count = conn.execute(
                f"SELECT count(*) FROM {table} WHERE experiment_id = ?", (target,)
            ).fetchone()
            assert count == (0,), table
        orphans = (
            "SELECT count(*) FROM metrics WHERE experiment_local_id NOT IN (SELECT local_id FROM experiments)"
        )
        assert conn.execute(orphans).fetchone() == (0,)
        # The patch is still used by the other grid runs, so it stays.
        assert conn.execute("SELECT count(*) FROM git_patches").fetchone() == (1,)
    finally:
        conn.close()


def test_delete_with_filters_and_yes(db: Database, ids: dict[str, str]) -> None:
    result = cli("delete", "--tag", "grid-search", "--status", "completed", "--status", "failed", "--yes")
    assert result.exit_code == 0 and "Deleted 6 experiments" in result.stderr
    assert all_names(db) == {"baseline", "live"}


def test_delete_refuses_running_experiments_and_changes_nothing(db: Database, ids: dict[str, str]) -> None:
    result = cli("delete", "--tag", "grid-search", "--yes")
    assert result.exit_code == 2
    assert (
        "refusing to delete 1 experiment(s) whose process may still be running" in result.stderr
        and ids["live"] in result.stderr
    )
    assert len(all_names(db)) == 8


def test_delete_needs_ids_or_filters_and_a_match(ids: dict[str, str]) -> None:
    assert cli("delete", "--yes").exit_code == 2
    assert cli("delete", "--tag", "nothing", "--yes").exit_code == 1


def test_delete_as_a_subprocess(db: Database, ids: dict[str, str]) -> None:
    refused = yanex_cli("delete", "baseline", input="")  # no answer: nothing deleted
    assert refused.returncode == 1 and "baseline" in all_names(db)
    done = yanex_cli("delete", "baseline", "--yes")
    assert done.returncode == 0 and "baseline" not in all_names(db)


# sql


def test_sql_select_in_every_format(ids: dict[str, str]) -> None:
    query = (
        "SELECT name, json_extract(params, '$.learning_rate') AS lr FROM experiment_summary "
        "WHERE status = 'completed' ORDER BY json_extract(metrics, '$.accuracy') DESC LIMIT 2"
    )
    table = cli("sql", query)
    assert table.exit_code == 0, table.output
    assert table.stderr.split() == ["name", "lr"]
    assert [line.split() for line in table.stdout.splitlines()] == [
        ["grid-lr0_1-bs32", "0.1"],
        ["grid-lr0_1-bs16", "0.1"],
    ]
    assert json.loads(cli("sql", query, "-f", "json").stdout)[0] == {"name": "grid-lr0_1-bs32", "lr": 0.1}
    assert cli("sql", query, "-f", "csv").stdout.splitlines()[0] == "name,lr"
    assert cli("sql", "PRAGMA table_info(experiments)").exit_code == 0


def _fingerprint() -> str:
    return hashlib.sha256((Path(config.yanex_home()) / "yanex.db").read_bytes()).hexdigest()


@pytest.mark.parametrize(
    "statement",
    [
        "DELETE FROM experiments",
        "UPDATE experiments SET name = 'x'",
        "INSERT INTO tags VALUES ('x', 'y')",
        "DROP VIEW experiment_summary",
        "CREATE TABLE t (x)",
        "PRAGMA user_version = 7",
        "PRAGMA query_only = OFF",
        "ATTACH DATABASE ':memory:' AS other",
        "VACUUM",
        "WITH doomed AS (SELECT id FROM experiments) DELETE FROM experiments WHERE id IN doomed",
        "CREATE INDEX doomed ON experiments (name)",
        "CREATE TEMP TABLE t (x)",
        "REINDEX",
        "ANALYZE",
    ],
)
def test_sql_refuses_writes_and_changes_nothing(db: Database, ids: dict[str, str], statement: str) -> None:
    db.dispose()
    before = _fingerprint()
    result = yanex_cli("sql", statement)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("Error: yanex sql is read-only")
    assert "Traceback" not in result.stderr
    assert _fingerprint() == before
    assert len(all_names(db)) == 8


def test_sql_errors_are_usage_errors(ids: dict[str, str]) -> None:
    syntax = cli("sql", "SELEC 1")
    assert syntax.exit_code == 2 and "SQL error" in syntax.stderr
    two = cli("sql", "SELECT 1; SELECT 2")
    assert two.exit_code == 2 and "Hint: pass one statement" in two.stderr
    # A read that fails is an SQL error, whatever words its message has.
    missing = cli("sql", "SELECT * FROM readonly")
    assert missing.exit_code == 2
    assert missing.stderr.startswith("Error: SQL error: no such table: readonly"), missing.stderr


@pytest.mark.parametrize("statement", ["", "   \n\t"])
def test_sql_needs_a_statement(ids: dict[str, str], statement: str) -> None:
    result = cli("sql", statement)
    assert result.exit_code == 2 and result.stderr.startswith("Error: no SQL statement given")


def test_sql_table_valued_pragma_reads_and_writes_nothing(db: Database, ids: dict[str, str]) -> None:
    db.dispose()
    before = _fingerprint()
    result = yanex_cli("sql", "SELECT name FROM pragma_table_info('experiments') WHERE pk = 1", "-f", "csv")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "name\nlocal_id\n"
    # The schema table the pragma reads through stays unwritable.
    refused = yanex_cli("sql", "UPDATE sqlite_master SET sql = 'x' WHERE name = 'experiments'")
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert _fingerprint() == before


def test_sql_numbers_exact_in_csv_and_json_rounded_in_the_table(ids: dict[str, str]) -> None:
    query = "SELECT 0.123456789 AS x, 12345678.5 AS f"
    assert cli("sql", query, "-f", "csv").stdout == "x,f\n0.123456789,12345678.5\n"
    assert json.loads(cli("sql", query, "-f", "json").stdout) == [{"x": 0.123456789, "f": 12345678.5}]
    assert cli("sql", query).stdout.split() == ["0.123457", "1.23457e+07"]
    assert "| 0.123457 | 1.23457e+07 |" in cli("sql", query, "-f", "markdown").stdout


def test_sql_repeated_column_names_become_distinct(ids: dict[str, str]) -> None:
    assert json.loads(cli("sql", "SELECT 1 AS a, 2 AS a", "-f", "json").stdout) == [{"a": 1, "a_2": 2}]
    clash = json.loads(cli("sql", "SELECT 1 AS a, 2 AS a, 3 AS a_2", "-f", "json").stdout)
    assert clash == [{"a": 1, "a_3": 2, "a_2": 3}]
    assert cli("sql", "SELECT 1 AS a, 2 AS a", "-f", "csv").stdout.splitlines()[0] == "a,a_2"
    assert "a_2" in " ".join(cli("sql", "--help").stdout.split())


# db


def test_db_path_upgrade_check(ids: dict[str, str], tmp_path: Path) -> None:
    path = cli("db", "path")
    assert path.stdout.strip() == str(Path(config.yanex_home()) / "yanex.db")
    upgraded = cli("db", "upgrade")
    assert upgraded.exit_code == 0 and f"revision {head_revision()} is current" in upgraded.stdout
    check = cli("db", "check")
    assert check.exit_code == 0
    assert f"schema revision: {head_revision()}" in check.stdout and check.stdout.endswith("ok\n")


def test_db_check_before_creation_and_upgrade_of_an_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "fresh"
    monkeypatch.setenv("YANEX_HOME", str(home))
    missing = cli("db", "check")
    assert missing.exit_code == 1 and "no database yet" in missing.stdout
    old = Path(__file__).parent / "data" / "yanex-0001.db"
    home.mkdir()
    (home / "yanex.db").write_bytes(old.read_bytes())
    behind = cli("db", "check")
    assert behind.exit_code == 1 and "run `yanex db upgrade`" in behind.stdout
    upgraded = cli("db", "upgrade")
    assert upgraded.exit_code == 0 and f"from 0001 to revision {head_revision()}" in upgraded.stdout
    assert cli("db", "check").exit_code == 0
