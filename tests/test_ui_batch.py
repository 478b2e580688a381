"""``yanex ui``'s batch page on a sweep run for real (one of its points then deleted, so missing):
its JSON through HTTP and its heatmap in headless Chromium (the fixtures of tests/conftest.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.ui_support import TRAIN, Server, open_page, run, start, stop


def yanex(home: Path, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "yanex", *args],
        env={**os.environ, "YANEX_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3 x 2 sweep of lr and seed whose point lr=0.01, seed=1 was deleted afterwards."""
    root = tmp_path_factory.mktemp("ui-batch")
    (root / "train.py").write_text(textwrap.dedent(TRAIN))
    home = root / "home"
    run(home, root, "train.py", "-p", "lr=logspace(-3,-1,3)", "-p", "seed=range(2)", "-j", "2")
    gone = yanex(home, "get", "id", "--where", "lr > 0.005 and lr < 0.05 and seed = 1").strip()
    yanex(home, "delete", gone, "--yes")
    return home


@pytest.fixture(scope="module")
def server(swept: Path) -> Iterator[Server]:
    started = start(swept)
    yield started
    stop(started)


def batch_id(server: Server) -> str:
    row = server.json("/api/runs")["rows"][0]
    return str(server.json(f"/api/experiment/{row['id']}")["lineage"]["batch"]["id"])


def test_the_batch_api_shows_every_point_of_the_sweep_and_the_missing_one(server: Server) -> None:
    full = batch_id(server)
    data = server.json(f"/api/batch/{full[:6]}?metric=loss.min")
    assert data["id"] == full and data["sweep"] is True and data["size"] == 6
    assert data["axes"] == ["lr", "seed"]
    assert data["progress"] == {"completed": 5, "missing": 1}
    [missing] = [p for p in data["points"] if p["status"] == "missing"]
    assert missing["params"] == {"lr": pytest.approx(0.01), "seed": 1} and missing["id"] is None
    values = [p["value"] for p in data["points"] if p["value"] is not None]
    assert data["goal"] == "min" and data["best"]["value"] == min(values)
    assert data["commands"] == {
        "list": f"yanex list --batch {data['short']}",
        "compare": f"yanex compare --batch {data['short']} --group-by lr --group-by seed -m loss.min",
        "resume": f"yanex sweep resume {data['short']} --dry-run",
    }
    accuracy = server.json(f"/api/batch/{full}?metric=accuracy.max")
    assert accuracy["goal"] == "max"
    assert accuracy["best"]["value"] == max(p["value"] for p in accuracy["points"] if p["value"] is not None)


def test_a_bad_batch_or_metric_is_the_cli_error(server: Server) -> None:
    error = server.json("/api/batch/ffffffff", status=404)
    assert error["line"].startswith("Error: no batch with id 'ffffffff'")
    error = server.json(f"/api/batch/{batch_id(server)}?metric=colour.min", status=400)
    assert "colour" in error["error"] and error["hint"] == "metrics: accuracy, loss"


def test_the_heatmap_has_one_cell_per_point_linking_to_its_experiment(browser: Any, server: Server) -> None:
    full = batch_id(server)
    page = open_page(browser, server, f"/batch/{full[:8]}?metric=loss.min&x=lr&y=seed")
    cells = page.locator("svg.heatmap .cell-link")
    assert cells.count() == 6
    assert page.locator("svg.heatmap a.cell-link").count() == 5
    assert page.locator("svg.heatmap .cell-link[data-status=missing]").count() == 1
    assert page.locator("table.points tbody tr").count() == 6
    assert page.locator("#progress-text").inner_text().startswith("5 of 6 points completed")
    assert "1 missing" in page.locator("#progress-text").inner_text()
    assert page.locator(".cli code").first.inner_text() == f"yanex list --batch {full[:8]}"
    page.select_option("#metric-agg", "max")
    page.wait_for_function("location.search.includes('metric=loss.max')")
    page.wait_for_selector("#heatmap-title:has-text('loss.max')")
    page.locator("svg.heatmap a.cell-link").first.click()
    page.wait_for_selector("body[data-loaded=experiment]")
    assert page.url.startswith(server.base + "/experiment/")
    page.close()


def test_the_experiment_page_links_its_batch_to_the_batch_page(browser: Any, server: Server) -> None:
    some = server.json("/api/runs")["rows"][0]["id"]
    page = open_page(browser, server, f"/experiment/{some}")
    page.locator("a[href^='/batch/']").first.click()
    page.wait_for_selector("body[data-loaded=batch]")
    assert page.locator("svg.heatmap .cell-link").count() == 6
    page.close()


HAND_MADE = """
    import yanex
    specs = [
        yanex.ExperimentSpec("train.py", {"lr": 0.1, "seed": 0, "epochs": 5}, name="fast"),
        yanex.ExperimentSpec("train.py", {"lr": 0.01, "seed": 0, "epochs": 5}, name="slow"),
        yanex.ExperimentSpec("train.py", {"lr": 0.01, "seed": 1, "epochs": 5, "note": "x"}, name="noted"),
    ]
    results = yanex.run_multiple(specs, parallel=2)
    assert [r.status for r in results] == ["completed"] * 3, results
"""


def test_a_batch_that_is_no_sweep_has_a_point_per_experiment_and_the_params_that_differ_as_axes(
    browser: Any, tmp_path: Path
) -> None:
    (tmp_path / "train.py").write_text(textwrap.dedent(TRAIN))
    (tmp_path / "driver.py").write_text(textwrap.dedent(HAND_MADE))
    home = tmp_path / "home"
    done = subprocess.run(
        [sys.executable, "driver.py"],
        cwd=tmp_path,
        env={**os.environ, "YANEX_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    server = start(home)
    try:
        full = batch_id(server)
        data = server.json(f"/api/batch/{full}?metric=loss.min")
        assert data["sweep"] is False and data["size"] == 3
        assert data["axes"] == ["lr", "note", "seed"]  # epochs is the same for all; a missing note differs
        assert data["progress"] == {"completed": 3}
        assert sorted(p["name"] for p in data["points"]) == ["fast", "noted", "slow"]
        for point in data["points"]:  # each point's params are its own experiment's
            config = server.json(f"/api/experiment/{point['id']}")["params"]
            assert point["params"] == {axis: config.get(axis) for axis in data["axes"]}, point
        assert data["best"]["value"] == min(p["value"] for p in data["points"])
        assert "resume" not in data["commands"]
        grouped = "--group-by lr --group-by note --group-by seed"
        assert data["commands"]["compare"] == f"yanex compare --batch {data['short']} {grouped} -m loss.min"
        page = open_page(browser, server, f"/batch/{full}?metric=loss.min&x=lr&y=seed")
        assert page.locator("table.points tbody tr").count() == 3
        assert page.locator("svg.heatmap .cell-link").count() == 3
        assert page.locator("#progress-text").inner_text().startswith("3 of 3 points completed")
        page.close()
    finally:
        stop(server)
