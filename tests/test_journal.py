"""The metrics journal reader and pump: what a script wrote reaches the database, whatever it wrote."""

from __future__ import annotations

import json
from pathlib import Path

from yanex import config
from yanex.db.engine import Database
from yanex.runner.environment import capture_environment, this_process
from yanex.runner.journal import TICK_READ, JournalPump, JournalReader
from yanex.specs import ExperimentSpec, GitInfo, Status
from yanex.store.experiments import create_experiments, get_metrics


def line(step: object, values: object, t: object = 1_700_000_000.0) -> str:
    return json.dumps({"step": step, "t": t, "values": values}) + "\n"


def test_unstorable_lines_are_skipped_and_counted(tmp_path: Path) -> None:
    journal = tmp_path / "metrics.jsonl"
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
        + '{"step": 8, "t": 1'  # torn: the script is still writing it
    )
    reader = JournalReader(journal)
    assert [(r.step, r.values) for r in reader.read_new()] == [(0, {"a": 1}), (7, {"a": 7})]
    assert reader.skipped == 6
    with journal.open("a") as handle:
        handle.write('700000000.0, "values": {"a": 8}}\n')
    assert [(r.step, r.values) for r in reader.read_new()] == [(8, {"a": 8})]


def test_a_line_longer_than_one_read_does_not_stop_the_rest(tmp_path: Path) -> None:
    journal = tmp_path / "metrics.jsonl"
    journal.write_text(line(0, {"blob": "x" * 5000}) + line(1, {"a": 1}) + line(2, {"a": 2}))
    reader = JournalReader(journal)
    steps = []
    while records := reader.read_new(1024):
        steps += [r.step for r in records]
    assert steps == [0, 1, 2]


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
    assert pump.last_records() == []
    assert len(get_metrics(db, experiment_id)) == points
