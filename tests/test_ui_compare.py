"""The compare page of ``yanex ui``: its JSON through HTTP against ``yanex compare -f json`` and hand
computations, and the page in headless Chromium (the server, store and browser of ``test_ui``)."""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.ui_support import Server, open_page, start, stop


def cli_json(home: Path, *args: str) -> Any:
    done = subprocess.run(
        [sys.executable, "-m", "yanex", *args, "-f", "json"],
        env={**os.environ, "YANEX_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def losses(home: Path) -> dict[str, dict[int, float]]:
    """Each sweep run's loss by step, as `yanex metrics` gives it."""
    found: dict[str, dict[int, float]] = {}
    for point in cli_json(home, "metrics", "--tag", "sweep", "--key", "loss"):
        found.setdefault(point["experiment_id"], {})[point["step"]] = point["value"]
    return found


# ---- JSON through HTTP


def test_the_compare_api_gives_what_yanex_compare_json_gives(server: Server, store: Path) -> None:
    for query, args in [
        ("tag=sweep", ["--tag", "sweep"]),
        (
            "tag=sweep&metric=loss.min&metric=accuracy.max",
            ["--tag", "sweep", "-m", "loss.min", "-m", "accuracy.max"],
        ),
        ("tag=sweep&where=" + quote("lr > 0.005"), ["--tag", "sweep", "--where", "lr > 0.005"]),
    ]:
        data = server.json(f"/api/compare?{query}")
        expected = cli_json(store, "compare", *args)
        got = [{k: row[k] for k in ("id", "name", "status", "params", "metrics")} for row in data["rows"]]
        assert got == expected, query
        assert data["command"] == "yanex " + " ".join(
            a if " " not in a else f"'{a}'" for a in ["compare", *args]
        )
    data = server.json("/api/compare?tag=sweep&metric=loss.min")
    assert data["params"] == ["lr", "seed"] and data["metrics"] == ["loss.min"]
    assert data["keys"] == ["accuracy", "loss"]
    # The best loss.min is the smallest, and the legend names runs by the params that differ.
    values = [row["metrics"]["loss.min"] for row in data["rows"]]
    assert [values[i] for i in data["best"]["loss.min"]] == [min(values)]
    assert {row["label"] for row in data["rows"]} == {
        f"lr={lr}, seed={seed}" for lr in ("0.001", "0.01", "0.1") for seed in (0, 1)
    }


def test_ticked_runs_are_compared_by_id(server: Server) -> None:
    rows = server.json("/api/runs?tag=sweep")["rows"][:2]
    data = server.json("/api/compare?" + "&".join(f"id={row['short']}" for row in rows))
    assert [row["id"] for row in data["rows"]] == [row["id"] for row in rows]
    assert data["selection"] == " ".join(row["short"] for row in rows)
    assert data["command"] == f"yanex compare {data['selection']}"


def test_curves_are_one_series_per_run_and_zoom_narrows_them(server: Server, store: Path) -> None:
    by_run = losses(store)
    data = server.json("/api/compare/curves?tag=sweep&key=loss&width=400")
    assert len(data["runs"]) == 6
    for run in data["runs"]:
        assert run["reduced"] is False
        assert dict(zip(run["steps"], run["values"], strict=True)) == by_run[run["id"]]
    zoomed = server.json(f"/api/compare/curves?tag=sweep&key=loss&until={data['until']}&from=10&to=19")
    assert {tuple(run["steps"]) for run in zoomed["runs"]} == {tuple(range(10, 20))}


def test_bands_are_the_mean_and_std_of_each_group_at_each_step(server: Server, store: Path) -> None:
    by_run = losses(store)
    data = server.json("/api/compare/bands?tag=sweep&key=loss&group=lr&width=400")
    assert data["keys"] == ["lr"] and data["steps"] == list(range(40)) and data["width"] == 1
    assert [group["label"] for group in data["groups"]] == ["lr=0.001 (n=2)", "lr=0.01 (n=2)", "lr=0.1 (n=2)"]
    # What they count, as `compare --group-by` notes it; a status asked for is counted as asked.
    assert data["scope"] == {"completed_only": True, "latest_only": True, "selected": 6, "left_out": 0}
    asked = server.json("/api/compare/bands?tag=sweep&status=completed&key=loss&group=lr&width=400")
    assert asked["scope"]["completed_only"] is False
    for group in data["groups"]:
        members = [by_run[i] for i in group["ids"]]
        for step, got_mean, got_std in zip(data["steps"], group["means"], group["stds"], strict=True):
            values = [m[step] for m in members]
            assert got_mean == pytest.approx(statistics.fmean(values), rel=1e-12)
            assert got_std == pytest.approx(statistics.stdev(values), rel=1e-9)


def test_bands_over_buckets_average_each_run_in_the_bucket_first(
    store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Four buckets over steps 0..39: each run's mean over ten steps, then mean and std of those."""
    from yanex.db.engine import Database
    from yanex.store.bands import bands
    from yanex.store.filters import ExperimentFilter
    from yanex.store.groups import group_experiments
    from yanex.store.reading import reading
    from yanex.store.series import cursor

    by_run = losses(store)
    monkeypatch.setenv("YANEX_HOME", str(store))
    db = Database()
    try:
        with reading(db, settle=False) as conn:
            grouping = group_experiments(conn, ExperimentFilter(tags=["sweep"]), ["lr"])
            found = bands(conn, grouping, "loss", buckets=4, until=cursor(conn))
    finally:
        db.dispose()
    assert found.steps == [0, 10, 20, 30] and found.width == 10
    for band in found.bands:
        for bucket, (got_mean, got_std) in enumerate(zip(band.means, band.stds, strict=True)):
            steps = range(10 * bucket, 10 * bucket + 10)
            run_means = [statistics.fmean(by_run[i][s] for s in steps) for i in band.ids]
            assert got_mean == pytest.approx(statistics.fmean(run_means), rel=1e-12)
            assert got_std == pytest.approx(statistics.stdev(run_means), rel=1e-9)


def test_curves_and_bands_in_parts_are_the_whole_answer_cut_in_order(server: Server) -> None:
    """What the page asks for at once: the parts' runs (or groups), in order, are the whole's,
    and each part's bands lie on the whole selection's buckets."""
    chart = "tag=sweep&key=loss&width=400"
    whole = server.json(f"/api/compare/curves?{chart}")
    chart += f"&until={whole['until']}"
    parts = [server.json(f"/api/compare/curves?{chart}&part={k}&parts=4") for k in range(4)]
    assert [len(part["runs"]) for part in parts] == [1, 2, 1, 2]
    assert [run for part in parts for run in part["runs"]] == whole["runs"]
    whole_bands = server.json(f"/api/compare/bands?{chart}&group=lr")
    band_parts = [server.json(f"/api/compare/bands?{chart}&group=lr&part={k}&parts=2") for k in range(2)]
    assert [len(part["groups"]) for part in band_parts] == [1, 2]
    assert [g for part in band_parts for g in part["groups"]] == whole_bands["groups"]
    assert all(part["steps"] == whole_bands["steps"] for part in band_parts)
    for bad in ("part=4&parts=4", "part=-1&parts=2", "part=0&parts=0", "part=0&parts=65"):
        status, _, body = server.get(f"/api/compare/curves?{chart}&{bad}")
        assert status == 400 and json.loads(body)["error"].endswith("names no part"), (bad, body)


def test_new_points_for_every_run_come_in_one_request_after_the_cursor(server: Server, store: Path) -> None:
    by_run = losses(store)
    data = server.json("/api/compare/points?tag=sweep&key=loss&after=0")
    assert set(data["points"]) == set(by_run)
    for run_id, points in data["points"].items():
        assert dict(zip(points["steps"], points["values"], strict=True)) == by_run[run_id]
    assert set(data["statuses"].values()) == {"completed"}
    cursor = server.json("/api/compare?tag=sweep")["cursor"]
    assert data["cursor"] <= cursor
    again = server.json(f"/api/compare/points?tag=sweep&key=loss&after={data['cursor']}")
    assert again["points"] == {} and again["cursor"] == data["cursor"]


def test_a_bad_selection_is_one_error_with_a_hint(server: Server) -> None:
    for path, said in [
        ("/api/compare?where=" + quote("lr >> 1"), "invalid --where expression"),
        ("/api/compare?colour=red", "no such option: ?colour"),
        ("/api/compare?tag=nothing-has-this", "no experiments match these filters"),
        ("/api/compare/bands?tag=sweep&key=loss&group=colour", "--group-by 'colour': no selected experiment"),
        ("/api/compare/curves?tag=sweep", "?key names the metric"),
    ]:
        status, _, body = server.get(path)
        error = json.loads(body)
        assert status in (400, 404), path
        assert error["error"].startswith(said), error
        assert error["line"].startswith("Error: ") and error["hint"] and "Traceback" not in error["line"]


def test_more_than_100_runs_are_refused_saying_how_to_narrow(yanex_home: Path) -> None:
    from yanex.db.engine import Database
    from yanex.specs import EnvironmentInfo, ExperimentSpec, GitInfo, Status
    from yanex.store.experiments import Owner, create_experiments

    db = Database()
    specs = [ExperimentSpec(script_path=Path("t.py"), name=f"e{i:03d}", config={"i": i}) for i in range(101)]
    create_experiments(
        db, specs, status=Status.CREATED, owner=Owner("host", 1), git=GitInfo(), environment=EnvironmentInfo()
    )
    db.dispose()
    ui = start(yanex_home)
    try:
        error = ui.json("/api/compare", status=400)
        assert error["error"] == "101 experiments match; the compare page compares at most 100"
        assert "narrow the filters" in error["hint"]
        assert len(ui.json("/api/compare?where=" + quote("i < 100"))["rows"]) == 100
    finally:
        stop(ui)


# ---- In a real browser


def test_ticking_rows_on_the_runs_page_opens_the_compare_page_with_their_curves(
    browser: Any, server: Server
) -> None:
    page = open_page(browser, server, "/?tag=sweep")
    assert page.locator("#compare-all").inner_text() == "Compare all 6"
    boxes = page.locator("table.runs tbody input.pick")
    for n in range(3):
        boxes.nth(n).check()
    assert page.locator("#compare-picked").inner_text() == "Compare 3"
    page.locator("#compare-picked").click()
    page.wait_for_selector("body[data-loaded=compare]")
    page.wait_for_selector("#chart[data-series]")
    assert page.url.count("id=") == 3
    assert page.locator("#chart").get_attribute("data-series") == "3"
    assert page.locator("#chart canvas").count() == 1
    assert page.locator("table.compare tbody tr").count() == 3
    assert page.locator("#curves-cli code").first.inner_text().startswith("yanex plot loss ")
    page.close()
    everything = open_page(browser, server, "/?tag=sweep")
    everything.locator("table.runs thead input").check()  # select all on this page
    assert everything.locator("#compare-picked").inner_text() == "Compare 6"
    everything.close()


def test_the_compare_page_draws_bands_parallel_coordinates_and_a_scatter(
    browser: Any, server: Server
) -> None:
    page = open_page(browser, server, "/compare?tag=sweep")
    page.wait_for_selector("#chart[data-series='6']")
    assert page.locator("#parallel").get_attribute("data-lines") == "6"
    assert page.locator("#scatter").get_attribute("data-points") == "6"
    assert page.locator("#parallel svg .pc-axis").count() == 3  # lr, seed and the metric
    assert page.locator("table.compare td.best").count() == 2  # the best accuracy and loss
    page.select_option("#group", "lr")
    page.wait_for_selector("#chart[data-bands='3']")
    assert page.locator("#chart").get_attribute("data-series") == "3"
    assert "group=lr" in page.url
    grouped = page.locator("#curves-cli code").nth(1).inner_text()
    assert grouped == "yanex compare --tag sweep --group-by lr -m loss"
    page.select_option("#agg", "min")
    page.wait_for_selector("#table-cli code:has-text('-m loss.min')")
    page.close()


def test_a_metric_spanning_decades_gets_a_log_axis_as_yanex_plot_does(browser: Any, server: Server) -> None:
    """The sweep's loss falls from 2 to about 0.01 (over two decades): log, said under the chart,
    as ``yanex plot`` does; accuracy stays within one decade: linear; ``y`` chosen is kept in the
    URL."""
    page = open_page(browser, server, "/compare?tag=sweep&key=loss")
    page.wait_for_selector("#chart[data-loading='0'][data-series='6']")
    assert page.locator("#chart").get_attribute("data-log") == "true"
    assert re.search(r"log y: loss spans 2\.\d decades", page.locator("#chart-foot").inner_text())
    page.select_option("#yscale", "linear")
    page.wait_for_selector("#chart[data-log='false']")
    assert "y=linear" in page.url and "log y" not in page.locator("#chart-foot").inner_text()
    page.select_option("#yscale", "auto")
    page.select_option("#key", "accuracy")
    page.wait_for_selector("#curves-title:has-text('accuracy of 6 runs')")  # all its parts are in
    assert page.locator("#chart").get_attribute("data-log") == "false"
    page.close()


def test_a_bad_filter_on_the_compare_page_is_the_one_line_error(browser: Any, server: Server) -> None:
    page = open_page(browser, server, "/compare?where=" + quote("lr >> 1"))
    assert page.evaluate("document.body.dataset.loaded") == "error"
    assert page.locator(".error").inner_text().startswith("Error: invalid --where expression")
    page.close()


@pytest.mark.slow
def test_the_compare_page_picks_up_new_points_of_a_running_run_without_a_reload(
    browser: Any, tmp_path: Path, yanex_home: Path
) -> None:
    from tests.conftest import wait_until
    from tests.ui_support import run

    go = tmp_path / "go"
    (tmp_path / "done.py").write_text(
        "import yanex\nfor step in range(10):\n    yanex.log_metrics({'loss': 1.0 / (step + 1)}, step=step)\n"
    )
    (tmp_path / "slow.py").write_text(
        "import os, time\nimport yanex\n"
        "yanex.log_metrics({'loss': 2.0}, step=0)\n"
        f"while not os.path.exists({str(go)!r}):\n    time.sleep(0.05)\n"
        "for step in range(1, 20):\n"
        "    yanex.log_metrics({'loss': 2.0 / (step + 1)}, step=step)\n    time.sleep(0.1)\n"
        f"while os.path.exists({str(go)!r}):\n    time.sleep(0.05)\n"
    )
    run(yanex_home, tmp_path, "done.py", "--name", "done")
    env = {**os.environ, "YANEX_HOME": str(yanex_home)}
    running = subprocess.Popen(
        [sys.executable, "-m", "yanex", "run", "slow.py", "--name", "slow"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server: Server | None = None
    try:

        def first_point() -> bool:
            found = subprocess.run(
                [sys.executable, "-m", "yanex", "get", "metrics.loss", "--name", "slow"],
                env=env,
                capture_output=True,
                text=True,
            )
            return found.stdout.strip() == "2.0"

        wait_until(first_point, "the first point", timeout=120)
        server = start(yanex_home)
        ids = [row["id"] for row in server.json("/api/runs?sort=name")["rows"]]
        page = open_page(browser, server, "/compare?" + "&".join(f"id={i}" for i in ids))
        page.wait_for_selector("#chart[data-series='2'][data-points='11']")
        page.evaluate("window.notReloaded = true")
        assert page.locator("#live .live").inner_text().startswith("live · 1 running")
        go.touch()
        page.wait_for_selector("#chart[data-points='30']", timeout=60_000)  # 10 + 20, drawn as they came
        assert page.evaluate("window.notReloaded") is True
        assert page.locator("#chart").get_attribute("data-series") == "2"
        go.unlink()
        page.wait_for_selector("#live .live", state="detached", timeout=60_000)  # the run ended
        assert page.locator("table.compare tbody tr").count() == 2
        page.close()
    finally:
        if go.exists():
            go.unlink()
        running.wait(timeout=120)
        if server is not None:
            stop(server)
