"""Proposal overhead of an adaptive search (issue 24) at 1,000 finished experiments.

Each proposal of ``--search tpe`` first tells the in-memory study what finished since the last one
(a read of the sweep's finished experiments from the store), then asks Optuna. Measured: one
proposal while one new experiment finished since the last, against a bare Optuna ask/tell on a
study holding the same 1,000 trials. Target (issue 24): our overhead, the difference, <= 20 ms per
experiment; the ratio is printed. Also the one-off rebuild of the study from the store, as
``yanex sweep resume`` does.

Run: `make bench` or `python benchmarks/bench_search.py`.
"""

from __future__ import annotations

import dataclasses
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import report_value

FINISHED = 1_000
ROUNDS = 30
TARGET_MS = 20.0


def _branin(x: float, y: float) -> float:
    import math

    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (y - b * x**2 + c * x - 6) ** 2 + 10 * (1 - t) * math.cos(x) + 10


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="yanex-bench-") as tmp:
        os.environ["YANEX_HOME"] = str(Path(tmp) / "home")
        import optuna

        from yanex.db.engine import Database
        from yanex.runner.environment import capture_environment, this_process
        from yanex.specs import GitInfo, Status
        from yanex.store.experiments import create_batch, create_experiments, insert_points
        from yanex.sweep.api import sample, uniform
        from yanex.sweep.expand import Point
        from yanex.sweep.plan import Search
        from yanex.sweep.search import Proposer

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        script = Path(tmp) / "branin.py"
        script.write_text("import yanex\n")
        sweep = sample(script, {"x": uniform(-5, 10), "y": uniform(0, 15)}, n=FINISHED + ROUNDS, seed=0)
        plan = dataclasses.replace(sweep.plan, search=Search("tpe", "loss.min", "min", "bench"))
        db = Database()
        owner, environment = this_process(), capture_environment()
        batch = create_batch(db, plan.size(), 1, owner, spec=plan.to_json())

        def finish(points: list[Point]) -> None:
            """Rows for ``points``, completed, each with its loss: as a batch leaves them."""
            specs = [plan.spec(f"p{index}", point) for index, point in enumerate(points)]
            ids = create_experiments(
                db, specs, status=Status.QUEUED, owner=owner, git=GitInfo(), environment=environment,
                batch_id=batch,
            )  # fmt: skip
            now = "2026-01-01 00:00:00.000000"
            with db.write() as conn:
                conn.executemany(
                    "UPDATE experiments SET status = 'completed' WHERE id = ?", [(i,) for i in ids]
                )
                points_rows = [
                    (i, "loss", 0, _branin(p.config["x"], p.config["y"]), None, now)
                    for i, p in zip(ids, points, strict=True)
                ]
                insert_points(conn, points_rows)

        finish([point for _, point in zip(range(FINISHED), plan.definition.points(), strict=False)])

        started = time.perf_counter()
        proposer = Proposer(plan, db)
        told = proposer.finished()
        rebuild = time.perf_counter() - started
        assert told == FINISHED, told
        ours: list[float] = []
        for _ in range(ROUNDS):
            started = time.perf_counter()
            _, point = proposer.propose()
            ours.append(time.perf_counter() - started)
            finish([point])

        space = proposer.space
        study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0, constant_liar=True))
        for stored in proposer.study.get_trials(deepcopy=False)[:FINISHED]:
            study.add_trial(stored)
        bare: list[float] = []
        for _ in range(ROUNDS):
            started = time.perf_counter()
            trial = study.ask(space)
            study.tell(trial, _branin(trial.params["x"], trial.params["y"]))
            bare.append(time.perf_counter() - started)
        db.dispose()

    ours_ms, bare_ms = statistics.median(ours) * 1000, statistics.median(bare) * 1000
    overhead = ours_ms - bare_ms
    report_value(f"proposal at {FINISHED:,} finished (tpe, ours)", ours_ms, "ms")
    report_value("bare Optuna ask/tell, same trials", bare_ms, "ms")
    report_value("overhead per experiment", overhead, "ms", f"<= {TARGET_MS:g} ms")
    print(f"{'ratio ours / bare':<48} {ours_ms / bare_ms:12.2f} x", flush=True)
    report_value(f"study rebuilt from {FINISHED:,} stored (resume)", rebuild * 1000, "ms")
    if overhead > TARGET_MS:
        print("OVER TARGET", flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
