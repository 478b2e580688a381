"""``yanex ui``'s SQL console: the guard and time limit of ``yanex sql`` (one implementation,
``yanex.store.sql``), through HTTP and in headless Chromium (the fixtures of tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.ui_support import Server, open_page, start, stop

ENDLESS = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n"


@pytest.fixture(scope="module")
def server(store: Path) -> Iterator[Server]:
    started = start(store)
    yield started
    stop(started)


def sql(server: Server, statement: str, status: int = 200, extra: str = "") -> Any:
    return server.json(f"/api/sql?q={quote(statement)}{extra}", status=status)


def test_a_select_gives_its_columns_and_rows_and_the_cli_command(server: Server) -> None:
    statement = "SELECT name, json_extract(params, '$.lr') AS lr FROM experiment_summary ORDER BY name"
    data = sql(server, statement)
    assert data["columns"] == ["name", "lr"] and len(data["rows"]) == 7 and data["more"] is False
    assert data["command"] == f'yanex sql "{statement}"'


def test_rows_past_the_cap_are_left_out_with_a_note(server: Server) -> None:
    data = sql(
        server,
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2500) SELECT i FROM n",
    )
    assert len(data["rows"]) == data["max_rows"] == 1000 and data["more"] is True


def test_a_write_is_refused_with_the_guards_message_and_nothing_changes(server: Server) -> None:
    for statement in ["DELETE FROM experiments", "UPDATE experiments SET name = 'x'", "DROP TABLE metrics"]:
        error = sql(server, statement, status=400)
        assert error["line"].startswith(
            "Error: yanex sql is read-only: this statement would change the database"
        )
        assert "Traceback" not in error["line"]
    assert sql(server, "SELECT count(*) FROM experiments")["rows"] == [[7]]


def test_a_long_query_is_stopped_by_the_time_limit(server: Server) -> None:
    error = sql(server, ENDLESS, status=400, extra="&timeout=1s")
    assert error["error"] == "the query ran past its time limit of 1s and was stopped"
    error = sql(server, "SELECT 1", status=400, extra="&timeout=soon")
    assert error["hint"] == "write it like --timeout 90, 5m or 1h30m"


def test_the_console_and_the_cli_share_the_default_time_limit() -> None:
    from yanex.cli.sql import COMMAND
    from yanex.store.sql import DEFAULT_TIMEOUT

    assert next(p.default for p in COMMAND.params if p.name == "timeout") == DEFAULT_TIMEOUT


def test_the_sql_page_shows_rows_refuses_writes_and_lists_the_tables(browser: Any, server: Server) -> None:
    page = open_page(browser, server, "/sql?q=" + quote("SELECT name FROM experiments ORDER BY name"))
    assert page.locator(".result tbody tr").count() == 7
    assert page.locator(".schema summary", has_text="experiment_summary").count() == 1
    assert page.locator(".schema summary", has_text="metrics").count() >= 1
    page.fill("#statement", "DELETE FROM experiments")
    page.click("button[type=submit]")
    page.wait_for_selector(".error")
    assert page.locator(".error").inner_text().startswith("Error: yanex sql is read-only")
    assert page.locator(".result tbody tr").count() == 0
    page.fill("#statement", "SELECT count(*) AS n FROM experiments")
    page.keyboard.press("Control+Enter")
    page.wait_for_selector(".result td:has-text('7')")
    page.close()
