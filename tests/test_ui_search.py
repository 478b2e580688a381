"""``yanex ui``'s batch page on a searched sweep run for real (``--search tpe --prune median`` over a
Branin script that logs its loss over steps): the same trials, objective and best point as ``yanex
sweep show --format json`` on the same store, pruned runs with their reason, and the objective's
chart in headless Chromium (the fixtures of tests/conftest.py)."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.ui_support import Server, open_page, run, start, stop

# Branin at (x, y), approached from above over 8 steps: a bad point is plain by step 3.
BRANIN = """
    import math
    import time
    import yanex
    x, y = yanex.get_param("x"), yanex.get_param("y")
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    final = (y - b * x**2 + c * x - 6) ** 2 + 10 * (1 - t) * math.cos(x) + 10
    for step in range(8):
        yanex.log_metrics({"loss": final * (1 + 2.0 / (step + 1))}, step=step)
        time.sleep(0.1)
"""
SEARCH = ["-p", "x=uniform(-5, 10)", "-p", "y=uniform(0, 15)", "--samples", "8", "--search", "tpe"]
PRUNE = ["--prune", "median", "--prune-metric", "loss", "--prune-warmup", "2", "--prune-min-runs", "2"]


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
def searched(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ui-search")
    (root / "branin.py").write_text(textwrap.dedent(BRANIN))
    home = root / "home"
    run(home, root, "branin.py", *SEARCH, "--objective", "loss.min", "--seed", "1", "-j", "2", *PRUNE)
    return home


@pytest.fixture(scope="module")
def server(searched: Path) -> Iterator[Server]:
    started = start(searched)
    yield started
    stop(started)


def batch_id(home: Path) -> str:
    with contextlib.closing(sqlite3.connect(home / "yanex.db")) as conn:
        [(batch,)] = conn.execute("SELECT id FROM batches").fetchall()
    return str(batch)


def test_the_batch_api_of_a_search_is_the_answer_of_sweep_show(server: Server, searched: Path) -> None:
    batch = batch_id(searched)
    data = server.json(f"/api/batch/{batch}")
    shown = json.loads(yanex(searched, "sweep", "show", batch, "--format", "json"))
    search = data["search"]
    assert (search["sampler"], search["objective"], search["direction"]) == ("tpe", "loss.min", "min")
    assert search["command"] == f"yanex sweep show {data['short']}"
    keys = ["trial", "id", "name", "status", "objective", "best_so_far", "params"]
    assert [{k: t[k] for k in keys} for t in search["trials"]] == shown
    assert [t["trial"] for t in search["trials"]] == list(range(1, 9))
    best = min(t["objective"] for t in shown if t["objective"] is not None)
    assert search["best"]["objective"] == best == shown[-1]["best_so_far"]
    assert search["best"]["id"] == next(t["id"] for t in shown if t["objective"] == best)
    # The points are the search's experiments (its plan cannot be expanded again), none missing.
    assert data["metric"] == "loss.min" and data["axes"] == ["x", "y"]
    assert [p["id"] for p in data["points"]] == [t["id"] for t in shown]
    assert "missing" not in data["progress"] and sum(data["progress"].values()) == 8


def test_pruned_runs_are_counted_apart_with_their_reason(server: Server, searched: Path) -> None:
    data = server.json(f"/api/batch/{batch_id(searched)}")
    pruned = [p for p in data["points"] if p["status"] == "pruned"]
    assert pruned, "the sweep pruned nothing: its bad points should be plain by step 3"
    assert data["progress"]["pruned"] == len(pruned)
    for point in pruned:
        assert point["reason"].startswith("pruned at step ") and "by median" in point["reason"]
    assert all(p["reason"] is None for p in data["points"] if p["status"] == "completed")


def test_the_chart_draws_the_trials_and_the_best_so_far_and_the_best_links_to_its_run(
    browser: Any, server: Server, searched: Path
) -> None:
    batch = batch_id(searched)
    data = server.json(f"/api/batch/{batch}")
    page = open_page(browser, server, f"/batch/{batch[:8]}")
    chart = page.locator("svg.objective-chart")
    assert chart.get_attribute("data-series") == "2"
    assert page.locator("svg.objective-chart .series").count() == 2
    assert page.locator("svg.objective-chart a.trial-dot").count() == 8
    assert page.locator("svg.objective-chart circle.dot").count() == sum(
        1 for t in data["search"]["trials"] if t["objective"] is not None
    )
    assert page.locator("#heatmap-section").is_hidden()
    assert page.locator("#search-about").inner_text().startswith("tpe search (seed 1) · objective loss.min")
    pruned = data["progress"]["pruned"]
    assert f"{pruned} pruned" in page.locator("#progress-text").inner_text()
    reason = page.locator("table.points tr[data-status=pruned] td.reason").first.inner_text()
    assert reason.startswith("pruned at step ")
    assert page.locator("#search .cli code").inner_text() == f"yanex sweep show {batch[:8]}"
    page.locator("#search-best a").click()
    page.wait_for_selector("body[data-loaded=experiment]")
    assert page.url == f"{server.base}/experiment/{data['search']['best']['id']}"
    page.close()
