"""`yanex ui` on 100,000 experiments: the JSON endpoints of the runs and experiment pages, one
metric of a million points served reduced, and the compare page's endpoints on a sweep of 30 runs
of 10,000 points each (issue 21).

The server runs as users run it (`yanex ui --port 0 --no-browser`, a subprocess); each request is
timed from this process through HTTP on one kept-alive connection, so the figure is the server's
time plus a loopback round trip. Targets: p95 <= 100 ms for every endpoint on the 100,000
experiments of `bench_query.py` and for the compare endpoints, and <= 0.5 s for a million-point
metric reduced to a 1,000-pixel chart. The baseline is a static file served by the same server in
the same run (the token check, routing and HTTP without any read): each figure is also printed as
a ratio to it.

Run: `make bench` or `python benchmarks/bench_ui.py [--size 100000] [--points 1000000] [--runs 30]`.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import PYTHON, report_value
from bench_history import populate as populate_points
from bench_query import TAG, populate

TARGET_API = 0.100  # seconds, p95
TARGET_REDUCED = 0.5  # seconds, p95
REPEAT = 40
WIDTH = 1000  # pixels of the chart asking for the million-point metric
SWEEP_POINTS = 10_000  # points of `loss` per run of the compared sweep


class Ui:
    """A `yanex ui` subprocess on a store, and a kept-alive connection to it."""

    def __init__(self, home: Path) -> None:
        self.process = subprocess.Popen(
            [PYTHON, "-m", "yanex", "ui", "--port", "0", "--no-browser"],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "YANEX_HOME": str(home)},
        )
        assert self.process.stdout is not None
        url = self.process.stdout.readline().strip()
        self.port = int(url.split(":")[2].split("/")[0])
        self.token = url.split("token=")[1]
        self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)

    def get(self, path: str) -> bytes:
        self.connection.request("GET", path, headers={"X-Yanex-Token": self.token})
        response = self.connection.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"{path}: {response.status} {body[:300]!r}")
        return body

    def json(self, path: str) -> Any:
        return json.loads(self.get(path))

    def p95(self, path: str, repeat: int = REPEAT) -> float:
        self.get(path)  # warm-up: the first read of a cold page cache is not what a page sees
        samples = []
        for _ in range(repeat):
            start = time.perf_counter()
            self.get(path)
            samples.append(time.perf_counter() - start)
        return statistics.quantiles(samples, n=20)[-1]

    def close(self) -> None:
        self.connection.close()
        self.process.terminate()
        self.process.wait(timeout=30)


def verdict(name: str, measured: float, baseline: float, target: float) -> bool:
    ok = measured <= target
    print(
        f"{name:<52} p95 {measured * 1000:8.1f} ms  baseline {baseline * 1000:6.2f} ms  "
        f"ratio {measured / baseline:7.1f}x  (target <= {target * 1000:.0f} ms) "
        + ("ok" if ok else "OVER TARGET"),
        flush=True,
    )
    return ok


def populate_sweep(home: Path, runs: int) -> float:
    """A completed sweep of ``runs`` runs (tag ``sweep``; params lr and seed) logging
    ``SWEEP_POINTS`` points of ``loss`` each, stored as ingest stores them; returns the seconds."""
    started = time.perf_counter()
    os.environ["YANEX_HOME"] = str(home)
    from yanex.db.engine import Database
    from yanex.specs import EnvironmentInfo, ExperimentSpec, GitInfo, Status
    from yanex.store.experiments import (
        Owner,
        PointRow,
        create_experiments,
        finish,
        insert_points,
        mark_running,
    )

    db = Database()
    owner = Owner("bench", os.getpid())
    specs = [
        ExperimentSpec(
            script_path=Path("train.py"),
            tags=["sweep"],
            config={"lr": 10 ** (-4 + i % 10 / 3), "seed": i // 10},
        )
        for i in range(runs)
    ]
    ids = create_experiments(
        db, specs, status=Status.QUEUED, owner=owner, git=GitInfo(), environment=EnvironmentInfo()
    )
    start = datetime(2026, 1, 1)
    for n, experiment_id in enumerate(ids):
        mark_running(db, experiment_id, os.getpid(), owner)
        batch: list[PointRow] = []
        for step in range(SWEEP_POINTS):
            stamp = (start + timedelta(milliseconds=step)).isoformat(sep=" ", timespec="microseconds")
            batch.append((experiment_id, "loss", step, 1.0 / (step + 1 + n), None, stamp))
        with db.write() as conn:
            insert_points(conn, batch)
        finish(db, experiment_id, Status.COMPLETED, exit_code=0)
    db.dispose()
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=30, help="runs of the compared sweep")
    args = parser.parse_args()
    ok = True
    with tempfile.TemporaryDirectory(prefix="yanex-bench-ui-") as tmp:
        home = Path(tmp) / "many"
        report_value(f"populate {args.size:,} experiments", populate(home, args.size), "s")
        ui = Ui(home)
        try:
            baseline = ui.p95("/static/app.css")
            report_value("baseline: a static file, p95", baseline * 1000, "ms")
            some = ui.json("/api/runs")["rows"][0]["id"]
            cursor = ui.json(f"/api/experiment/{some}")["cursor"]
            endpoints = {
                "runs: default page": "/api/runs",
                "runs: page 50": "/api/runs?page=50",
                "runs: a tag": f"/api/runs?tag={TAG}",
                "runs: sorted by metrics.loss.min": "/api/runs?sort=metrics.loss.min",
                "runs: a tag, where, sort, columns": (
                    f"/api/runs?tag={TAG}&where=learning_rate%3E0.001&sort=metrics.accuracy.max&desc"
                    "&param=learning_rate&metric=loss.min"
                ),
                "experiment: detail": f"/api/experiment/{some}",
                "experiment: a series": f"/api/experiment/{some}/series?key=loss&width=800&until={cursor}",
                "experiment: points since the cursor": f"/api/experiment/{some}/points?after={cursor}",
            }
            for name, path in endpoints.items():
                ok &= verdict(f"{name} @{args.size:,}", ui.p95(path), baseline, TARGET_API)
        finally:
            ui.close()
        long_home = Path(tmp) / "long"
        experiment_id = populate_points(long_home, 2 * args.points)  # half of them are `loss`
        ui = Ui(long_home)
        try:
            baseline = ui.p95("/static/app.css")
            path = f"/api/experiment/{experiment_id}/series?key=loss&width={WIDTH}"
            reduced = ui.json(path)
            assert reduced["reduced"] and reduced["count"] == args.points, reduced["count"]
            report_value(f"  points sent for {args.points:,} at {WIDTH} px", len(reduced["steps"]), "")
            measured = ui.p95(path, 7)
            ok &= verdict(f"a metric of {args.points:,} points, reduced", measured, baseline, TARGET_REDUCED)
            zoomed = ui.p95(f"{path}&from=500000&to=500999", 7)
            ok &= verdict("  zoomed to 1,000 steps of it (full resolution)", zoomed, baseline, TARGET_API)
        finally:
            ui.close()
        sweep_home = Path(tmp) / "sweep"
        report_value(
            f"populate {args.runs} runs x {SWEEP_POINTS:,} points", populate_sweep(sweep_home, args.runs), "s"
        )
        ui = Ui(sweep_home)
        try:
            baseline = ui.p95("/static/app.css")
            cursor = ui.json("/api/compare?tag=sweep")["cursor"]
            width = 1200  # the compare chart's width in pixels
            chart = f"tag=sweep&key=loss&width={width}&until={cursor}"
            endpoints = {
                "compare: the table (yanex compare)": "/api/compare?tag=sweep",
                "compare: with aggregates": "/api/compare?tag=sweep&metric=loss.min&metric=loss.max",
                "compare: every run's curve, reduced": f"/api/compare/curves?{chart}",
                "compare: zoomed to 1,000 steps": f"/api/compare/curves?{chart}&from=4000&to=4999",
                "compare: bands by lr": f"/api/compare/bands?{chart}&group=lr",
                "compare: points since the cursor": f"/api/compare/points?tag=sweep&key=loss&after={cursor}",
            }
            for name, path in endpoints.items():
                ok &= verdict(f"{name} @{args.runs}x{SWEEP_POINTS:,}", ui.p95(path), baseline, TARGET_API)
        finally:
            ui.close()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
