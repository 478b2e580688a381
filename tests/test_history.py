"""Metric history: `yanex get ... --history`, `yanex metrics`, `yanex.metrics` and `show --metrics`
read every point back exactly as it was logged."""

from __future__ import annotations

import csv
import io
import json
import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import yanex
from tests.conftest import yanex_cli
from tests.query_fixtures import populate
from tests.screen import run_in_window
from yanex.db.engine import Database
from yanex.store.experiments import MetricRecord, ingest_metrics

# Floats that lose digits when printed short, ints, text that needs CSV quoting, structures,
# booleans, non-finite floats, and a step logged twice.
SCRIPT = """
import yanex
yanex.log_metrics({"loss": 0.1, "note": 'a,"b"\\nc', "epoch": 0}, step=0)
yanex.log_metrics({"loss": 1e-300, "shape": [1, 2.5], "flag": True, "epoch": 1}, step=1)
yanex.log_metrics({"loss": float("nan"), "cfg": {"a": None}}, step=2)
yanex.log_metrics({"loss": float("inf"), "epoch": 2**62}, step=3)
yanex.log_metrics({"loss": 2 / 3}, step=3)
yanex.log_metrics({"loss": -2.5e-7, "big": 10**30}, step=5)
"""


def stored(home: Path, experiment_id: str | None = None) -> list[tuple[str, str, int, Any, str]]:
    """Every point straight from the database, decoded as logged, in export order."""
    with sqlite3.connect(home / "yanex.db") as conn:
        rows = conn.execute(
            "SELECT e.id, key, step, value, value_json, logged_at FROM metrics "
            "JOIN experiments AS e ON e.local_id = metrics.experiment_local_id "
            + ("WHERE e.id = ? " if experiment_id else "")
            + "ORDER BY e.id, key, step, metrics.id",
            (experiment_id,) if experiment_id else (),
        ).fetchall()
    return [
        (
            e,
            k,
            s,
            json.loads(j) if j is not None else v,
            datetime.fromisoformat(t).replace(tzinfo=UTC).isoformat(),
        )
        for e, k, s, v, j, t in rows
    ]


@pytest.fixture
def logged(write_script, yanex_home: Path) -> str:
    """One experiment run for real by `yanex run`, logging every kind of value; returns its id."""
    run = yanex_cli("run", str(write_script("train.py", SCRIPT)))
    assert run.returncode == 0, run.stderr
    return yanex_cli("get", "id").stdout.strip()


def csv_value(text: str) -> Any:
    """A CSV value field read back: JSON where it parses (numbers, structures, true), else text."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def test_export_round_trips_every_point_as_csv_and_json(logged: str, yanex_home: Path) -> None:
    expected = stored(yanex_home, logged)
    assert len(expected) == 14
    as_json = yanex_cli("metrics", logged, "--format", "json")
    assert as_json.returncode == 0, as_json.stderr
    rows = json.loads(as_json.stdout)
    assert [(r["experiment_id"], r["key"], r["step"], r["value"], r["logged_at"]) for r in rows] == expected
    as_csv = yanex_cli("metrics", logged)
    header, *lines = list(csv.reader(io.StringIO(as_csv.stdout)))
    assert header == ["experiment_id", "key", "step", "value", "logged_at"]
    back = [(e, k, int(s), v, t) for e, k, s, v, t in lines]
    for (e, k, s, v, t), (e2, k2, s2, v2, t2) in zip(back, expected, strict=True):
        assert (e, k, s, t) == (e2, k2, s2, t2)
        parsed = v if isinstance(v2, str) else csv_value(v)
        assert parsed == v2 and type(parsed) is type(v2), (k, v, v2)
    # Every float keeps its digits: 0.1, 1e-300, 2/3 and -2.5e-7 come back bit for bit.
    losses = [float(v) for (_, k, _, v, _) in back if k == "loss" and v not in ("NaN", "Infinity")]
    assert losses == [0.1, 1e-300, 2 / 3, -2.5e-7]


def test_python_api_returns_records_and_a_frame(logged: str, yanex_home: Path) -> None:
    expected = stored(yanex_home, logged)
    points = yanex.metrics(logged)
    assert isinstance(points, list) and all(isinstance(p, yanex.MetricPoint) for p in points)
    assert [(p.experiment_id, p.key, p.step, p.value, p.logged_at.isoformat()) for p in points] == expected
    assert all(p.logged_at.tzinfo is UTC for p in points)
    only = yanex.metrics([logged], keys="loss")
    assert [p.value for p in only] == [0.1, 1e-300, "NaN", "Infinity", 2 / 3, -2.5e-7]
    frame = yanex.metrics(logged, keys=["loss", "epoch"], as_frame=True)
    assert not isinstance(frame, list)
    assert list(frame.columns) == ["experiment_id", "key", "step", "value", "logged_at"]
    assert len(frame) == 6 + 3
    assert str(frame["logged_at"].dt.tz) == "UTC"


def test_history_prints_step_value_in_csv_and_json(logged: str) -> None:
    result = yanex_cli("get", "metrics.loss", logged, "--history")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "step,value",
        "0,0.1",
        "1,1e-300",
        "2,NaN",
        "3,Infinity",
        "3,0.6666666666666666",
        "5,-2.5e-07",
    ]
    as_json = yanex_cli("get", "metrics.epoch", logged, "--history", "--format", "json")
    assert json.loads(as_json.stdout) == [
        {"step": 0, "value": 0},
        {"step": 1, "value": 1},
        {"step": 3, "value": 2**62},
    ]


def test_history_limit_keeps_the_first_points_and_desc_the_last(logged: str) -> None:
    first = yanex_cli("get", "metrics.loss", logged, "--history", "--limit", "2")
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines() == ["step,value", "0,0.1", "1,1e-300"]
    last = yanex_cli("get", "metrics.loss", logged, "--history", "--desc", "-l", "3")
    assert last.returncode == 0, last.stderr
    # By step, largest first; of the two points at step 3, the one logged last comes first.
    assert last.stdout.splitlines() == ["step,value", "5,-2.5e-07", "3,0.6666666666666666", "3,Infinity"]
    as_json = yanex_cli("get", "metrics.epoch", logged, "--history", "--limit", "1", "--format", "json")
    assert json.loads(as_json.stdout) == [{"step": 0, "value": 0}]
    every = yanex_cli("get", "metrics.loss", logged, "--history", "--limit", "100")
    assert len(every.stdout.splitlines()) == 1 + 6


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["get", "metrics.loss", "--history"], 2, "Error: --history prints the points of one metric"),
        (["get", "metrics.loss", "ID", "--history", "--sort", "name"], 2, "Error: --sort orders experiments"),
        (["get", "status", "ID", "--history"], 2, "Error: --history prints the points of one metric"),
        (["get", "metrics.nope", "ID", "--history"], 1, "has no metric 'nope'"),
        (["get", "status", "ID", "--format", "json"], 2, "Error: --format goes with --history"),
        (["metrics", "--tag", "no-such-tag"], 1, "Error: no experiments match these filters"),
    ],
    ids=lambda a: " ".join(a) if isinstance(a, list) else str(a),
)
def test_history_misuse_is_one_error_and_hint(logged: str, args: list[str], code: int, message: str) -> None:
    result = yanex_cli(*[logged if a == "ID" else a for a in args])
    assert result.returncode == code, result.stderr
    assert message in result.stderr and "Hint: " in result.stderr and "Traceback" not in result.stderr


def test_metrics_selects_with_the_shared_filters(db: Database, tmp_path: Path, yanex_home: Path) -> None:
    ids = populate(db, tmp_path)
    db.dispose()
    result = yanex_cli("metrics", "--tag", "grid-search", "--status", "completed", "--key", "loss")
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    chosen = yanex_cli("get", "id", "--tag", "grid-search", "--status", "completed").stdout.split()
    assert len(chosen) == 5 and ids["grid-lr0_01-bs16"] not in chosen  # the failed one is left out
    assert [r["experiment_id"] for r in rows] == [i for i in chosen for _ in range(3)]  # the filter's order
    assert {r["key"] for r in rows} == {"loss"}
    everything = [r for r in stored(yanex_home) if r[0] in chosen and r[1] == "loss"]
    assert sorted((r["experiment_id"], int(r["step"]), float(r["value"])) for r in rows) == sorted(
        (e, s, v) for e, _, s, v, _ in everything
    )
    assert yanex.metrics(tags="grid-search", status="completed", keys="loss", sort="name") == sorted(
        yanex.metrics(chosen, keys="loss"), key=lambda p: (yanex.find([p.experiment_id])[0].name, p.step)
    )


def test_metrics_exports_carry_the_param_columns_asked_for(db: Database, tmp_path: Path) -> None:
    """--params lr,bs: one column per param beside each point (CSV and JSON), so an analysis needs
    no join; --params all: every param of the selection; a param no experiment has is refused."""
    ids = populate(db, tmp_path)
    db.dispose()
    selection = ("--tag", "grid-search", "--status", "completed", "--key", "loss")
    result = yanex_cli("metrics", *selection, "--params", "learning_rate,batch_size")
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert list(rows[0]) == [
        "experiment_id", "key", "step", "value", "logged_at", "params.learning_rate", "params.batch_size"
    ]  # fmt: skip
    best = ids["grid-lr0_1-bs32"]
    assert {
        (r["params.learning_rate"], r["params.batch_size"]) for r in rows if r["experiment_id"] == best
    } == {("0.1", "32")}
    as_json = json.loads(yanex_cli("metrics", *selection, "--params", "learning_rate", "-f", "json").stdout)
    assert {p["params.learning_rate"] for p in as_json if p["experiment_id"] == best} == {0.1}
    assert len(as_json) == len(rows) and {type(p["params.learning_rate"]) for p in as_json} == {float}
    every = list(csv.DictReader(io.StringIO(yanex_cli("metrics", *selection, "--params", "all").stdout)))
    assert [c for c in every[0] if c.startswith("params.")] == [
        "params.batch_size", "params.learning_rate", "params.optimizer"
    ]  # fmt: skip
    typo = yanex_cli("metrics", *selection, "--params", "learning_rat")
    assert typo.returncode == 2 and typo.stderr.startswith(
        "Error: no experiment of the selection has a param 'learning_rat'"
    ), typo.stderr
    assert "Hint: " in typo.stderr and "Traceback" not in typo.stderr


def test_frame_without_pandas_is_one_error_naming_the_extra(logged: str) -> None:
    code = (
        "import sys; sys.modules['pandas'] = None\n"
        "import yanex\n"
        "try:\n"
        f"    yanex.metrics({logged!r}, as_frame=True)\n"
        "except yanex.YanexError as error:\n"
        "    print(error.message); print(error.hint)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ))
    assert done.stdout.splitlines() == [
        "metrics(as_frame=True) needs pandas, which is not installed",
        "install the extra from your yanex checkout, in its folder: pip install -e '.[pandas]'",
    ]


def test_show_metrics_summarises_each_metric(db: Database, write_script, yanex_home: Path) -> None:
    run = yanex_cli("run", str(write_script("t.py", "import yanex\n")))
    assert run.returncode == 0
    experiment_id = yanex_cli("get", "id").stdout.strip()
    start = datetime(2026, 1, 1, tzinfo=UTC)
    values = [3.0, 1.0, float("nan"), 2.0, 0.5]
    records = [MetricRecord(i * 10, start + timedelta(seconds=i), {"loss": v}) for i, v in enumerate(values)]
    records.append(MetricRecord(0, start, {"phase": "warmup"}))
    ingest_metrics(db, experiment_id, records)
    db.dispose()
    shown = yanex_cli("show", experiment_id, "--metrics", "--format", "json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout) == {
        "loss": {"count": 5, "last": 0.5, "min": 0.5, "max": 3.0, "first_step": 0, "last_step": 40},
        "phase": {"count": 1, "last": "warmup", "min": None, "max": None, "first_step": 0, "last_step": 0},
    }
    piped = yanex_cli("show", experiment_id, "--metrics")
    assert piped.stdout.splitlines() == [
        "loss    5      0.5     0.5  3.0  0           40",  # logged as a float, shown as one
        "phase   1      warmup            0           0",
    ]
    assert piped.stderr.rstrip("\n") == "metric  count  last    min  max  first step  last step"


def test_show_metrics_sparkline_points_are_each_metrics_bucket_means(db: Database, write_script) -> None:
    """What `show --metrics` draws on a terminal (a pseudo-terminal is not needed to reach it)."""
    from yanex.store.history import trends

    run = yanex_cli("run", str(write_script("t.py", "import yanex\n")))
    assert run.returncode == 0
    experiment_id = yanex_cli("get", "id").stdout.strip()
    start = datetime(2026, 1, 1, tzinfo=UTC)
    records = [
        MetricRecord(step, start + timedelta(seconds=step), {"loss": float(step), "acc": 1.0})
        for step in range(4)
    ]
    ingest_metrics(db, experiment_id, records)
    conn = db.read_connection()
    try:
        assert trends(conn, experiment_id, 2) == {"acc": [1.0, 1.0], "loss": [0.5, 2.5]}
    finally:
        conn.close()


def test_show_metrics_does_not_print_logged_steps_as_a_range(db: Database, write_script) -> None:
    """Steps 0, 10 and 99 are three steps, not 0..99: the first and the last step logged."""
    run = yanex_cli("run", str(write_script("t.py", "import yanex\n")))
    assert run.returncode == 0
    experiment_id = yanex_cli("get", "id").stdout.strip()
    start = datetime(2026, 1, 1, tzinfo=UTC)
    records = [MetricRecord(s, start + timedelta(seconds=s), {"loss": 1 / (s + 1)}) for s in (0, 10, 99)]
    ingest_metrics(db, experiment_id, records)
    db.dispose()
    shown = yanex_cli("show", experiment_id, "--metrics")
    assert shown.returncode == 0, shown.stderr
    assert ".." not in shown.stdout
    assert shown.stdout.split() == ["loss", "3", "0.01", "0.01", "1.0", "0", "99"]
    assert shown.stderr.split("  ")[-2:] == ["first step", "last step\n"]


def test_show_metrics_on_an_80_column_terminal_never_folds_a_row(db: Database, write_script) -> None:
    """The trend column takes only the room the other columns leave: short names get a sparkline,
    a longer name leaves no room for one, and then no trend is shown rather than rows folded."""
    run = yanex_cli("run", str(write_script("t.py", "import yanex\n")))
    assert run.returncode == 0
    experiment_id = yanex_cli("get", "id").stdout.strip()
    start = datetime(2026, 1, 1, tzinfo=UTC)

    def shown_on_80_columns() -> list[str]:
        written = run_in_window(["show", experiment_id, "--metrics"]).lines()
        return [line for line in written if line.strip()]

    points = [MetricRecord(s, start + timedelta(seconds=s), {"loss": 20 / (s + 1) ** 3}) for s in range(100)]
    ingest_metrics(db, experiment_id, points)
    lines = shown_on_80_columns()
    assert "trend" in lines[0] and len(lines) == 3, lines  # header, rule, one row
    assert all(len(line) <= 80 for line in lines), lines

    long_name: dict[str, Any] = {"validation_accuracy": 0.123456789}
    ingest_metrics(db, experiment_id, [MetricRecord(100, start, long_name)])
    db.dispose()
    lines = shown_on_80_columns()
    assert "trend" not in lines[0] and len(lines) == 4, lines  # no row folded
    assert all(len(line) <= 80 for line in lines), lines


@pytest.mark.parametrize(
    "argv",
    [
        ["metrics", "ID"],
        ["metrics", "--status", "completed", "--format", "json"],
        ["get", "metrics.loss", "ID", "--history"],
        ["show", "ID", "--metrics"],
        ["plot", "epoch", "ID"],
        ["watch", "--status", "completed"],
    ],
    ids=" ".join,
)
def test_piped_history_commands_stay_on_the_light_read_path(argv: list[str], logged: str) -> None:
    from tests.test_startup import READ_HEAVY, imported_modules

    loaded = imported_modules("-m", "yanex", *[logged if a == "ID" else a for a in argv])
    assert loaded.isdisjoint((*READ_HEAVY, "matplotlib", "numpy", "pandas")), sorted(loaded & {*READ_HEAVY})
