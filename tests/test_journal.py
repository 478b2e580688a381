"""The metrics journal reader and pump: what a script wrote reaches the database, whatever it wrote."""

from __future__ import annotations

import json
from pathlib import Path

from tests.stored import get_metrics
from yanex import config
from yanex.db.engine import Database
from yanex.runner.environment import capture_environment, this_process
from yanex.specs import ExperimentSpec, GitInfo, Status
from yanex.store.experiments import create_experiments
from yanex.store.ingest import JournalIngest, stored_offset
from yanex.store.reading import reading
from yanex.supervisor.journal import TICK_READ, JournalPump


def line(step: object, values: object, t: object = 1_700_000_000.0) -> str:
    return json.dumps({"step": step, "t": t, "values": values}) + "\n"


def new_row(db: Database) -> str:
    [experiment_id] = create_experiments(
        db,
        [ExperimentSpec(script_path=Path("train.py"))],
        status=Status.RUNNING,
        owner=this_process(),
        git=GitInfo(),
        environment=capture_environment(),
    )
    config.experiment_dir(experiment_id).mkdir(parents=True)
    return experiment_id


def journal_of(experiment_id: str) -> Path:
    return config.experiment_dir(experiment_id) / config.METRICS_FILE


def test_unstorable_lines_are_skipped_and_counted(db: Database) -> None:
    experiment_id = new_row(db)
    journal = journal_of(experiment_id)
    journal.write_text(
        line(0, {"a": 1})
        + "not json\n"
        + line(2**63, {"a": 2})  # beyond SQLite's INTEGER
        + line("3", {"a": 3})
        + line(4, ["not", "a", "dict"])
        + json.dumps({"step": 5})
        + "\n"
        + line(6, {"a": 6}, t=1e300)  # a time no datetime holds
        + line(7, {"a": 7})
        + line(8, {"file\udcff.txt": 8, "a": 8})  # a lone surrogate: not storable as text
        + line(9, {"a": 9})
        + '{"step": 10, "t": 1'  # torn: the script is still writing it
    )
    ingest = JournalIngest(db, experiment_id)
    ingest.drain()
    assert [(p.step, p.raw) for p in get_metrics(db, experiment_id)] == [(0, 1), (7, 7), (9, 9)]
    assert ingest.skipped == 7
    with journal.open("a") as handle:
        handle.write('700000000.0, "values": {"a": 10}}\n')
    ingest.drain()
    assert [p.step for p in get_metrics(db, experiment_id)] == [0, 7, 9, 10]


def test_a_line_longer_than_one_read_does_not_stop_the_rest(db: Database) -> None:
    experiment_id = new_row(db)
    journal_of(experiment_id).write_text(
        line(0, {"blob": "x" * 5000}) + line(1, {"a": 1}) + line(2, {"a": 2})
    )
    ingest = JournalIngest(db, experiment_id)
    while ingest.step(1024):
        pass
    assert [p.step for p in get_metrics(db, experiment_id)] == [0, 1, 2]


def test_ingest_resumes_from_the_offset_in_the_database_and_never_duplicates(db: Database) -> None:
    experiment_id = new_row(db)
    journal = journal_of(experiment_id)
    journal.write_text("".join(line(i, {"loss": i / 10}) for i in range(10)))
    first = JournalIngest(db, experiment_id)
    first.step(len(line(0, {"loss": 0.0})) * 4)  # about four lines, then "the supervisor dies"
    done = len(get_metrics(db, experiment_id))
    assert 0 < done < 10
    assert stored_offset(db, experiment_id) == len("".join(line(i, {"loss": i / 10}) for i in range(done)))
    JournalIngest(db, experiment_id).drain()  # a reconciler takes over from the stored offset
    first.drain()  # the first ingester comes back late: it follows the offset, adds nothing twice
    JournalIngest(db, experiment_id).drain()
    assert [p.step for p in get_metrics(db, experiment_id)] == list(range(10))
    with reading(db) as conn:
        (count,) = conn.execute(
            "SELECT count FROM latest_metrics WHERE experiment_id = ?", (experiment_id,)
        ).fetchone()
    assert count == 10


def test_nan_and_infinity_inside_values_are_stored_as_valid_json(db: Database) -> None:
    experiment_id = new_row(db)
    nan, inf = float("nan"), float("inf")
    journal_of(experiment_id).write_text(
        json.dumps({"step": 0, "t": 1.0, "values": {"per_class": [0.8, nan], "d": {"x": -inf}, "s": nan}})
        + "\n"
    )
    JournalIngest(db, experiment_id).drain()
    raws = {p.key: p.raw for p in get_metrics(db, experiment_id)}
    assert raws == {"per_class": [0.8, "NaN"], "d": {"x": "-Infinity"}, "s": "NaN"}
    with reading(db) as conn:
        (invalid,) = conn.execute(
            "SELECT count(*) FROM metrics WHERE value_json IS NOT NULL AND NOT json_valid(value_json)"
        ).fetchone()
        (summary,) = conn.execute("SELECT metrics FROM experiment_summary").fetchone()
    assert invalid == 0
    assert json.loads(summary)["per_class"] == [0.8, "NaN"]


def test_a_backlog_is_ingested_a_tick_at_a_time(db: Database) -> None:
    [experiment_id] = create_experiments(
        db,
        [ExperimentSpec(script_path=Path("train.py"))],
        status=Status.RUNNING,
        owner=this_process(),
        git=GitInfo(),
        environment=capture_environment(),
    )
    directory = config.experiment_dir(experiment_id)
    directory.mkdir(parents=True)
    points = 3 * TICK_READ // len(line(0, {"loss": 0.5}))
    (directory / config.METRICS_FILE).write_text("".join(line(i, {"loss": 0.5}) for i in range(points)))
    pump = JournalPump(db, experiment_id)
    ticks = 1
    while pump.drain():
        ticks += 1
    assert ticks >= 3  # more than one tick: the supervisor got control back in between
    pump.finish()
    assert len(get_metrics(db, experiment_id)) == points
