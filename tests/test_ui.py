"""``yanex ui``: the real server in a subprocess on 127.0.0.1 (``--port 0``), over a store made by
running real scripts; its JSON through HTTP, and its pages in headless Chromium (Playwright driving
Debian's ``chromium``; under CI a missing browser fails the tests instead of skipping them)."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.conftest import wait_until
from tests.ui_support import Server, open_page, start, stop

# ---- JSON through HTTP


def test_the_runs_api_shows_the_runs_a_filter_selects(server: Server) -> None:
    everything = server.json("/api/runs")
    assert everything["total"] == 7
    swept = server.json("/api/runs?tag=sweep&where=" + quote("lr > 0.005"))
    assert swept["total"] == 4
    assert {row["status"] for row in swept["rows"]} == {"completed"}
    assert all(row["values"] == {} for row in swept["rows"])
    assert swept["command"] == "yanex list --tag sweep --where 'lr > 0.005'"
    assert len(swept["rows"][0]["id"]) == 32 and len(swept["rows"][0]["short"]) == 8


def test_the_runs_api_sorts_by_a_metric_aggregate_and_shows_chosen_columns(server: Server) -> None:
    data = server.json("/api/runs?tag=sweep&sort=metrics.loss.min&desc&param=lr&metric=accuracy.max")
    losses = [row["values"]["metrics.loss.min"] for row in data["rows"]]
    assert losses == sorted(losses, reverse=True) and len(losses) == 6
    assert data["columns"] == ["metrics.loss.min", "params.lr", "metrics.accuracy.max"]
    # The smallest learning rate learns least: its loss stays highest.
    assert data["rows"][0]["values"]["params.lr"] == pytest.approx(0.001)
    assert data["command"] == "yanex list --tag sweep --sort metrics.loss.min --desc"


def test_a_bad_filter_is_the_cli_error_as_json_with_400(server: Server) -> None:
    for query, said in [
        ("where=" + quote("lr >> 1"), "invalid --where expression"),
        ("status=sleeping", "unknown status 'sleeping'"),
        ("sort=colour", "cannot sort by 'colour'"),
        ("limit=3", "no such option: ?limit"),
    ]:
        error = server.json(f"/api/runs?{query}", status=400)
        assert error["error"].startswith(said), error
        assert error["line"].startswith(f"Error: {said}") and "Traceback" not in error["line"]
        assert error["hint"]


def test_requests_without_the_token_are_refused(server: Server) -> None:
    for path in ["/", "/api/runs", "/static/runs.js", "/experiment/solo"]:
        status, _, body = server.get(path, token=False)
        assert status == 403, path
        assert b"token" in body
    status, _, _ = server.get("/api/runs", token=False, cookie="yanex_token=wrong")
    assert status == 403


def test_the_printed_url_trades_its_token_for_a_cookie(server: Server) -> None:
    status, headers, _ = server.get("/?token=" + server.token + "&tag=sweep", token=False)
    assert status == 303
    assert headers["Location"] == "/?tag=sweep"
    cookie = headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    status, _, _ = server.get("/api/runs", token=False, cookie=cookie.split(";")[0])
    assert status == 200


def test_a_foreign_host_header_is_refused(server: Server) -> None:
    status, _, _ = server.get("/api/runs", host=f"attacker.example:{server.port}")
    assert status == 403
    status, _, _ = server.get("/api/runs", host="127.0.0.1:1")
    assert status == 403
    status, _, _ = server.get("/api/runs", host=f"localhost:{server.port}")
    assert status == 200


def test_paging_gives_100_rows_a_page_and_the_total(yanex_home: Path) -> None:
    from yanex.db.engine import Database
    from yanex.specs import EnvironmentInfo, ExperimentSpec, GitInfo, Status
    from yanex.store.experiments import Owner, create_experiments

    db = Database()
    specs = [ExperimentSpec(script_path=Path("t.py"), name=f"e{i:03d}", config={"i": i}) for i in range(250)]
    create_experiments(
        db, specs, status=Status.CREATED, owner=Owner("host", 1), git=GitInfo(), environment=EnvironmentInfo()
    )
    db.dispose()
    server = start(yanex_home)
    try:
        first = server.json("/api/runs?sort=name")
        third = server.json("/api/runs?sort=name&page=3")
        assert (first["total"], first["pages"], len(first["rows"])) == (250, 3, 100)
        assert [row["name"] for row in first["rows"][:2]] == ["e000", "e001"]
        assert [row["name"] for row in third["rows"]] == [f"e{i:03d}" for i in range(200, 250)]
        assert server.json("/api/runs?page=0", status=400)["error"].startswith("?page must be at least 1")
    finally:
        stop(server)


def test_without_a_database_the_api_says_so(yanex_home: Path) -> None:
    server = start(yanex_home)
    try:
        error = server.json("/api/runs", status=404)
        assert error["line"].startswith("Error: ") and "database" in error["error"]
    finally:
        stop(server)


def test_the_experiment_api_shows_what_yanex_show_shows(server: Server) -> None:
    data = server.json("/api/experiment/solo")
    assert data["name"] == "solo" and data["status"] == "completed"
    assert [m["key"] for m in data["metrics"]] == ["signal"]
    assert data["metrics"][0]["count"] == 5000
    assert data["output"]["stdout"].splitlines()[-1] == "line 99"
    assert [a["name"] for a in data["artifacts"]] == ["model.json"]
    assert data["commands"] == {
        "show": f"yanex show {data['short']}",
        "metrics": f"yanex metrics {data['short']}",
    }
    assert data["cursor"] > 0
    error = server.json("/api/experiment/nosuchthing", status=404)
    assert error["line"].startswith("Error: ")


def test_a_long_series_is_reduced_keeping_its_spike_and_zoom_is_full_resolution(server: Server) -> None:
    cursor = server.json("/api/experiment/solo")["cursor"]
    reduced = server.json(f"/api/experiment/solo/series?key=signal&width=100&until={cursor}")
    assert reduced["reduced"] is True and reduced["count"] == 5000
    assert len(reduced["steps"]) <= 200
    assert max(reduced["values"]) == 1000.0  # the spike survives the reduction
    assert reduced["steps"] == sorted(reduced["steps"])
    zoomed = server.json(f"/api/experiment/solo/series?key=signal&width=100&from=3300&to=3399&until={cursor}")
    assert zoomed["reduced"] is False
    assert zoomed["steps"] == list(range(3300, 3400))
    assert zoomed["values"][33] == 1000.0


def test_a_live_fetch_while_nothing_was_written_answers_without_a_read(yanex_home: Path) -> None:
    from tests.test_series import log, new_run
    from yanex.db.engine import Database

    db = Database()
    experiment_id = new_run(db)
    log(db, experiment_id, [(step, float(step % 7)) for step in range(300)])
    server = start(yanex_home)
    try:
        first = server.json(f"/api/experiment/{experiment_id}/points?width=100&after=0")
        assert first["status"] == "running"
        assert first["points"]["m"]["reduced"] is True and first["points"]["m"]["count"] == 300
        points = f"/api/experiment/{experiment_id}/points?width=100"
        again = f"{points}&after={first['cursor']}&version={first['version']}"
        # No commit since: nothing new, and no status (nothing was read to find it).
        assert server.json(again) == {"cursor": first["cursor"], "version": first["version"], "points": {}}
        log(db, experiment_id, [(300, 9.0)])  # another connection commits
        fresh = server.json(again)
        assert fresh["version"] != first["version"] and fresh["status"] == "running"
        assert fresh["points"]["m"]["steps"] == [300] and fresh["points"]["m"]["reduced"] is False
    finally:
        stop(server)
        db.dispose()


def test_an_artifact_downloads_its_bytes_and_a_missing_content_is_one_error(
    server: Server, store: Path
) -> None:
    status, headers, body = server.get("/api/experiment/solo/artifact/model.json")
    assert status == 200
    assert json.loads(body) == {"weights": [1, 2, 3]}
    assert headers["Content-Disposition"].startswith("attachment")
    error = server.json("/api/experiment/solo/artifact/nothing.bin", status=404)
    assert "has no artifact 'nothing.bin'" in error["error"]
    status, _, body = server.get("/api/experiment/solo/output/stdout")
    assert status == 200 and body.decode().count("\n") == 100


def test_ctrl_c_stops_the_server_cleanly_and_0000_warns(store: Path) -> None:
    server = start(store, "--host", "127.0.0.1")
    assert server.json("/api/runs")["total"] == 7
    code, err = stop(server)
    assert code == 0 and "Traceback" not in err
    env = {**os.environ, "YANEX_HOME": str(store)}
    everywhere = subprocess.Popen(
        [sys.executable, "-m", "yanex", "ui", "--host", "0.0.0.0", "--port", "0", "--no-browser"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert everywhere.stdout is not None and everywhere.stderr is not None
    assert everywhere.stdout.readline().startswith("http://127.0.0.1:")
    everywhere.send_signal(signal.SIGINT)
    _, err = everywhere.communicate(timeout=30)
    assert err.splitlines()[0].startswith("yanex: warning: --host 0.0.0.0")
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("flags", "reason"),
    [(["--port", "99999"], "port must be 0-65535"), (["--host", "no.such.host.invalid"], "not known")],
    ids=["port-out-of-range", "unknown-host"],
)
def test_an_address_it_cannot_listen_on_is_one_line(store: Path, flags: list[str], reason: str) -> None:
    env = {**os.environ, "YANEX_HOME": str(store)}
    done = subprocess.run(
        [sys.executable, "-m", "yanex", "ui", *flags, "--no-browser"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 2 and done.stdout == ""
    [error, hint] = done.stderr.splitlines()
    assert error.startswith("Error: cannot listen on ") and reason in error
    assert hint == "Hint: pass --port 0 for a free port, or another --host"


# ---- In a real browser


def test_the_runs_page_renders_the_table_for_a_filter(browser: Any, server: Server) -> None:
    page = open_page(browser, server, "/?tag=sweep&metric=loss.min")
    assert page.locator("table.runs tbody tr").count() == 6
    assert page.locator("table.runs th", has_text="metrics.loss.min").count() == 1
    assert page.locator(".cli code").inner_text() == "yanex list --tag sweep"
    assert "1–6 of 6 experiments" in page.locator("#count").inner_text()
    page.fill("input[name=where]", "lr >> 1")
    page.click("button[type=submit]")
    page.wait_for_selector(".error")
    assert page.locator(".error").inner_text().startswith("Error: invalid --where expression")
    page.go_back()
    page.wait_for_selector("table.runs")
    assert page.locator("table.runs tbody tr").count() == 6
    page.locator("table.runs tbody a").first.click()
    page.wait_for_selector("body[data-loaded=experiment]")
    assert page.url.startswith(server.base + "/experiment/")
    page.close()


def test_the_experiment_page_draws_one_chart_per_metric(browser: Any, server: Server) -> None:
    # lr=0.1, seed=1: the loss falls from 1.4 to 0.0077, 2.3 decades
    [sweep] = [row["id"] for row in server.json("/api/runs?where=lr+%3E+0.05+and+seed+%3D+1")["rows"]]
    page = open_page(browser, server, f"/experiment/{sweep}")
    charts = page.locator(".metric-chart")
    assert sorted(charts.evaluate_all("nodes => nodes.map(n => n.dataset.key)")) == ["accuracy", "loss"]
    assert page.locator(".metric-chart canvas").count() == 2
    assert charts.evaluate_all("nodes => nodes.map(n => n.dataset.series)") == ["1", "1"]
    # Each chart's y axis as `yanex plot` chooses it: log when its values span over two decades.
    for key, log in (("loss", True), ("accuracy", False)):
        curve = server.json(f"/api/experiment/{sweep}/series?key={key}")
        values = [v for v in curve["values"] if v is not None]
        spans = min(values) > 0 and math.log10(max(values) / min(values)) > 2
        assert spans is log, (key, min(values), max(values))
        assert page.locator(f".metric-chart[data-key={key}]").get_attribute("data-log") == str(spans).lower()
        assert ("log y: " in page.locator(f".metric-chart[data-key={key}] .foot").inner_text()) is spans
    page.fill("#smooth", "0.6")  # smoothing adds the smoothed curve beside the raw one
    page.wait_for_function("document.querySelector('.metric-chart').dataset.series === '2'")
    assert page.locator(".cli code").first.inner_text().startswith("yanex show ")
    page.close()
    solo = open_page(browser, server, "/experiment/solo")
    solo.wait_for_selector(".metric-chart[data-points]")
    assert solo.locator(".metric-chart .reduced").inner_text().startswith("reduced: ")
    solo.close()


@pytest.mark.slow
def test_a_live_page_picks_up_new_points_from_a_running_script(
    browser: Any, tmp_path: Path, yanex_home: Path
) -> None:
    go = tmp_path / "go"
    script = tmp_path / "live.py"
    script.write_text(
        textwrap.dedent(f"""
        import os, time
        import yanex
        yanex.log_metrics({{"loss": 1.0}}, step=0)
        while not os.path.exists({str(go)!r}):
            time.sleep(0.05)
        for step in range(1, 30):
            yanex.log_metrics({{"loss": 1.0 / (step + 1)}}, step=step)
        yanex.log_metrics({{"late": 1.0}}, step=0)
        while os.path.exists({str(go)!r}):
            time.sleep(0.05)
        """)
    )
    env = {**os.environ, "YANEX_HOME": str(yanex_home)}
    running = subprocess.Popen(
        [sys.executable, "-m", "yanex", "run", str(script), "--name", "live"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    server: Server | None = None
    try:

        def first_point() -> bool:
            found = subprocess.run(
                [sys.executable, "-m", "yanex", "get", "metrics.loss", "--name", "live"],
                env=env,
                capture_output=True,
                text=True,
            )
            return found.stdout.strip() == "1.0"

        wait_until(first_point, "the first point", timeout=120)
        server = start(yanex_home)
        page = open_page(browser, server, "/experiment/live")
        page.wait_for_selector(".metric-chart[data-key=loss][data-points='1']")
        go.touch()
        page.wait_for_selector(".metric-chart[data-key=loss][data-last-step='29']", timeout=60_000)
        page.wait_for_selector(".metric-chart[data-key=late]", timeout=60_000)
        assert page.locator(".metric-chart[data-key=loss]").get_attribute("data-points") == "30"
        assert page.locator(".live").count() == 1
        go.unlink()
        page.wait_for_selector(".status.completed", timeout=60_000)
        page.close()
    finally:
        if go.exists():
            go.unlink()
        running.wait(timeout=120)
        if server is not None:
            stop(server)
