"""Curves for charts (``yanex.store.series``): each bucket's ends are its lowest and highest points,
as a brute-force reduction finds them, whichever way the buckets are read; a zoom is every point;
times only when asked for; and a live page's tail, reduced poll after poll once the new points
outnumber the chart's pixels, keeps every spike and counts every point."""

from __future__ import annotations

import os
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from yanex.db.engine import Database
from yanex.specs import EnvironmentInfo, ExperimentSpec, GitInfo, Status
from yanex.store.experiments import Owner, create_experiments, insert_points, mark_running
from yanex.store.reading import reading
from yanex.store.series import SCANNED_BUCKET, KeptBuckets, cursor, series, tails
from yanex.store.summary import PointRow

START = datetime(2026, 1, 1)
Point = tuple[int, float | None]  # step, value (None: not a finite number)


def new_run(db: Database) -> str:
    (experiment_id,) = create_experiments(
        db,
        [ExperimentSpec(script_path=Path("t.py"))],
        status=Status.QUEUED,
        owner=Owner("host", os.getpid()),
        git=GitInfo(),
        environment=EnvironmentInfo(),
    )
    mark_running(db, experiment_id, os.getpid(), Owner("host", os.getpid()))
    return experiment_id


def log(db: Database, experiment_id: str, points: list[Point], key: str = "m") -> None:
    """Store ``points`` as ingest does, the n-th logged at START + n ms (its step)."""
    rows: list[PointRow] = [
        (
            experiment_id,
            key,
            step,
            value,
            None if value is not None else '"NaN"',
            (START + timedelta(milliseconds=step)).isoformat(sep=" ", timespec="microseconds"),
        )
        for step, value in points
    ]
    with db.write() as conn:
        insert_points(conn, rows)


def spiky(rng: random.Random, steps: list[int]) -> list[Point]:
    """Noise, a NaN now and then, and rare spikes up and down."""
    points: list[Point] = []
    for step in steps:
        roll = rng.random()
        value = (
            None
            if roll < 0.01
            else rng.uniform(-1e3, 1e3) * (1 + 1e3 * (roll > 0.995))
            if roll > 0.99
            else rng.random()
        )
        points.append((step, value))
    return points


def brute(points: list[Point], buckets: int) -> list[tuple[int, float]]:
    """Each bucket's lowest and highest finite point, in step (then logging) order: by hand."""
    low = min(step for step, _ in points)
    span = max(step for step, _ in points) - low + 1
    by_bucket: dict[int, list[tuple[int, int, float]]] = {}
    for order, (step, value) in enumerate(points):
        if value is not None:
            by_bucket.setdefault((step - low) * buckets // span, []).append((step, order, value))
    ends: list[tuple[int, float]] = []
    for bucket in sorted(by_bucket):
        inside = by_bucket[bucket]
        lowest = min(inside, key=lambda p: p[2])
        highest = max(inside, key=lambda p: p[2])
        ends += [(p[0], p[2]) for p in sorted({lowest, highest}, key=lambda p: (p[0], p[1]))]
    return ends


@pytest.mark.parametrize("buckets", [20, 100], ids=["bucket by bucket", "one sort per curve"])
def test_each_bucket_keeps_its_lowest_and_highest_point(db: Database, buckets: int) -> None:
    rng = random.Random(buckets)
    steps = sorted(rng.sample(range(20_000), 5_000))  # uneven gaps between steps
    points = spiky(rng, steps)
    experiment_id = new_run(db)
    log(db, experiment_id, points)
    # 5,000 points: 20 buckets read one by one, 100 by the sorting statements.
    assert (len(points) >= SCANNED_BUCKET * buckets) == (buckets == 20)
    with reading(db, settle=False) as conn:
        curve = series(conn, experiment_id, "m", buckets=buckets, until=cursor(conn))
    assert curve.reduced and curve.count == 5_000
    assert list(zip(curve.steps, curve.values, strict=True)) == brute(points, buckets)
    assert (curve.lowest, curve.highest) == (steps[0], steps[-1])
    assert curve.times is None  # read only for a time axis


def test_a_zoom_is_every_point_with_its_time_when_asked(db: Database) -> None:
    rng = random.Random(7)
    points = spiky(rng, list(range(10_000)))
    experiment_id = new_run(db)
    log(db, experiment_id, points)
    with reading(db, settle=False) as conn:
        zoomed = series(
            conn, experiment_id, "m", buckets=100, until=cursor(conn), first=4000, last=4199, times=True
        )
    inside = [(step, value) for step, value in points if 4000 <= step <= 4199 and value is not None]
    assert not zoomed.reduced
    assert list(zip(zoomed.steps, zoomed.values, strict=True)) == inside
    epoch = START.replace(tzinfo=UTC).timestamp()
    assert zoomed.times == pytest.approx([epoch + step / 1000 for step, _ in inside])


def test_a_live_tail_is_reduced_once_it_outnumbers_the_pixels_and_keeps_every_spike(db: Database) -> None:
    rng = random.Random(3)
    experiment_id = new_run(db)
    width = 50
    logged: list[Point] = []
    spikes: list[int] = []
    step = 0
    kept = KeptBuckets()  # the server's, shared by every page
    other = 0  # a second page's cursor: it asks every other poll
    for poll, size in enumerate([30, 20, 3_000, 40, 12_000, 5_000]):
        chunk: list[Point] = []
        for _ in range(size):
            value = rng.random()
            if rng.random() < 0.002 and (not spikes or step - spikes[-1] > 600):
                value = 1e3  # far enough apart to own their bucket
                spikes.append(step)
            chunk.append((step, value))
            step += 1
        logged += chunk
        if poll == 0:  # the page opens: the curve so far, then the points after its cursor
            log(db, experiment_id, chunk)
            with reading(db, settle=False) as conn:
                start = series(conn, experiment_id, "m", buckets=width, until=cursor(conn))
            steps, values, count = list(start.steps), list(start.values), start.count
            after = cursor_of(db)
            continue
        log(db, experiment_id, chunk)
        with reading(db, settle=False) as conn:
            fresh = tails(conn, [experiment_id], after, buckets=width)
            assert tails(conn, [experiment_id], after, buckets=width, kept=kept) == fresh
            if poll % 2 == 0:  # the other page, with the buckets the first one kept
                assert tails(conn, [experiment_id], other, buckets=width, kept=kept) == tails(
                    conn, [experiment_id], other, buckets=width
                )
                other = fresh[0]
        after, (tail,) = fresh
        assert tail.count == size
        assert tail.reduced == (size > 2 * width)
        if not tail.reduced:
            assert list(zip(tail.steps, tail.values, strict=True)) == chunk
        else:  # buckets at least 1/width of the metric's whole range wide, on a grid
            assert len(tail.steps) <= 2 * (-(-width * size // step) + 2)
        steps += tail.steps
        values += tail.values
        count += tail.count
    assert count == len(logged)
    assert steps == sorted(steps)
    stored = dict(logged)
    assert all(stored[s] == v for s, v in zip(steps, values, strict=True))  # real points
    shown = {s for s, v in zip(steps, values, strict=True) if v == 1e3}
    assert spikes and shown == set(spikes)
    assert len(steps) < 12 * width  # about two points per pixel, not the 20,090 logged


def test_a_tail_of_several_metrics_brings_each(db: Database) -> None:
    experiment_id = new_run(db)
    log(db, experiment_id, [(0, 1.0)], key="loss")
    after = cursor_of(db)
    log(db, experiment_id, [(s, 1.0 / (s + 1)) for s in range(1, 500)], key="loss")
    log(db, experiment_id, [(s, float(s)) for s in range(0, 500, 100)], key="val")  # few, logged last
    with reading(db, settle=False) as conn:
        _, found = tails(conn, [experiment_id], after, buckets=20)
    by_key = {tail.key: tail for tail in found}
    assert by_key["loss"].reduced and by_key["loss"].count == 499
    assert not by_key["val"].reduced and by_key["val"].steps == [0, 100, 200, 300, 400]


def test_a_sparse_metric_s_new_points_are_found_after_its_history_not_among_the_first_new(
    db: Database,
) -> None:
    """``val`` has a history, then logs again after 2,000 points of ``loss``: its first new step is
    found by the index (a binary search over steps), and its tail counts its new points only."""
    experiment_id = new_run(db)
    log(db, experiment_id, [(s, float(s)) for s in range(0, 5_000, 100)], key="val")
    log(db, experiment_id, [(0, 1.0)], key="loss")
    after = cursor_of(db)
    log(db, experiment_id, [(s, 1.0 / (s + 1)) for s in range(1, 2_000)], key="loss")
    log(db, experiment_id, [(s, float(s)) for s in range(5_000, 5_500, 100)], key="val")
    with reading(db, settle=False) as conn:
        _, found = tails(conn, [experiment_id], after, buckets=20)
    by_key = {tail.key: tail for tail in found}
    assert by_key["loss"].count == 1_999
    val = by_key["val"]  # all five counted, from the first; two buckets of the grid keep four
    assert val.count == 5 and val.steps[0] == 5_000 and set(val.steps) <= {5_000, 5_100, 5_200, 5_300, 5_400}


def test_pages_polling_together_read_the_new_buckets_once(db: Database, tmp_path: Path) -> None:
    """Two pages asking at the same moment (tabs reopened at once): one reads the whole new
    buckets, the other waits and finds them kept; as many statements as the two asking one after
    the other."""
    import sqlite3
    import threading

    experiment_id = new_run(db)
    log(db, experiment_id, [(s, float(s % 7)) for s in range(100)])
    after = cursor_of(db)
    log(db, experiment_id, [(s, float(s % 7)) for s in range(100, 200_000)])

    def statements(kept: KeptBuckets, pages: int) -> int:
        """Statements ``pages`` pages run for one poll, started together."""
        counted: list[int] = []
        start = threading.Barrier(pages)

        def page() -> None:
            conn = sqlite3.connect(f"file:{db.path}?mode=ro", uri=True)
            seen: list[str] = []
            conn.set_trace_callback(seen.append)
            start.wait()
            tails(conn, [experiment_id], after, buckets=400, kept=kept)
            counted.append(len(seen))
            conn.close()

        threads = [threading.Thread(target=page) for _ in range(pages)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return sum(counted)

    one_after_the_other = KeptBuckets()
    alone = statements(one_after_the_other, 1) + statements(one_after_the_other, 1)
    assert statements(KeptBuckets(), 2) == alone


def cursor_of(db: Database) -> int:
    with reading(db, settle=False) as conn:
        return cursor(conn)
