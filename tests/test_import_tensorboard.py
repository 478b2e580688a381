"""``yanex import --from tensorboard DIR``: real event files (tests/data/tensorboard, written by
tensorboardX and tensorboard; see make_fixtures.py there), and runs written here by TensorBoard's
own writer (the dev extra has it), read back against TensorBoard's own accumulator."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
from tensorboard.backend.event_processing.plugin_event_accumulator import EventAccumulator
from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2
from tensorboard.plugins.hparams.summary_v2 import hparams_pb
from tensorboard.summary.writer.event_file_writer import EventFileWriter
from tensorboard.util import tensor_util
from typer.testing import CliRunner

from tests.conftest import yanex_cli
from yanex.cli.app import app

runner = CliRunner()
LOGS = Path(__file__).parent / "data" / "tensorboard" / "logs"
RUNS = ("lr0.01/seed0", "lr0.1/seed0", "lr0.1/seed1")


def _yanex(*args: str) -> str:
    done = runner.invoke(app, list(args))
    assert done.exit_code == 0, done.output
    return done.stdout


def _experiments() -> dict[str, dict[str, object]]:
    """Every experiment of the store by name, as ``yanex show --format json`` has it."""
    listed = json.loads(_yanex("list", "--format", "json"))
    return {row["name"]: json.loads(_yanex("show", row["id"], "--format", "json")) for row in listed}


def _points(experiment_id: str) -> list[tuple[str, int, object, str]]:
    rows = json.loads(_yanex("metrics", experiment_id, "--format", "json"))
    return sorted((r["key"], r["step"], r["value"], r["logged_at"]) for r in rows)


def _as_tensorboard_reads(folder: Path) -> list[tuple[str, int, object, str]]:
    """Every scalar of a run folder as TensorBoard's UI reads it (its accumulator, through its
    compatibility layer, keeping every point)."""
    accumulator = EventAccumulator(str(folder), size_guidance={"tensors": 0}, purge_orphaned_data=False)
    accumulator.Reload()
    found = []
    for tag in accumulator.Tags()["tensors"]:
        if accumulator.SummaryMetadata(tag).data_class != summary_pb2.DATA_CLASS_SCALAR:
            continue
        for event in accumulator.Tensors(tag):
            moment = datetime.fromtimestamp(event.wall_time, UTC).isoformat()
            found.append((tag, event.step, tensor_util.make_ndarray(event.tensor_proto).item(), moment))
    return sorted(found)


def _count(yanex_home: Path, table: str) -> int:
    with closing(sqlite3.connect(yanex_home / "yanex.db")) as conn:
        return int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


def test_every_scalar_of_every_run_round_trips_and_hparams_become_params(yanex_home: Path) -> None:
    out = _yanex("import", "--from", "tensorboard", str(LOGS))
    assert "added 3 experiments, 1,200 points" in out

    experiments = _experiments()
    assert sorted(experiments) == list(RUNS)
    for name, shown in experiments.items():
        expected = _as_tensorboard_reads(LOGS / name)
        assert len(expected) == 400  # two tags over 200 steps, in either encoding; no histogram
        assert _points(str(shown["id"])) == expected
        first_file = sorted((LOGS / name).iterdir())[0]
        first_event = next(EventFileLoader(str(first_file)).Load())
        assert shown["imported_from"] == f"tensorboard:{first_file.name}@{first_event.wall_time:.6f}"
        assert shown["status"] == "completed"  # written long ago, or its HParams session ended
        assert shown["git"]["commit"] is None  # type: ignore[index]
        assert shown["started_at"] is not None and shown["ended_at"] is not None
    assert experiments["lr0.1/seed0"]["params"] == {
        "augment": True,
        "batch_size": 32,
        "lr": 0.1,
        "optimizer": "adam",
        "seed": 0,
    }
    assert experiments["lr0.1/seed1"]["params"] == experiments["lr0.01/seed0"]["params"] == {}

    # Imported runs work with the other commands.
    assert "lr0.1/seed0" in _yanex("compare", "--format", "json")
    assert _yanex("get", "params.batch_size", "lr0.1/seed0").strip() == "32"
    assert "train/loss" in _yanex("plot", "train/loss", *RUNS)


def test_importing_the_same_logs_again_adds_nothing(yanex_home: Path) -> None:
    _yanex("import", "--from", "tensorboard", str(LOGS))
    again = _yanex("import", str(LOGS))  # the kind told from the folder
    assert "added 0 experiments, 0 points" in again
    assert "skipped 3 experiments: already here, identical" in again
    assert (_count(yanex_home, "experiments"), _count(yanex_home, "metrics")) == (3, 1200)


def test_runs_imported_one_folder_at_a_time_stay_apart(yanex_home: Path) -> None:
    # tensorboardX named both files alike (by the second and the host): their first events differ.
    assert {p.name for p in (LOGS / "lr0.1" / "seed0").iterdir()} == {
        p.name for p in (LOGS / "lr0.01" / "seed0").iterdir()
    }
    for name in ("lr0.1/seed0", "lr0.01/seed0"):
        assert "added 1 experiment, 400 points" in _yanex("import", "--from", "tensorboard", str(LOGS / name))
    assert sorted(row["name"] for row in json.loads(_yanex("list", "--format", "json"))) == ["seed0", "seed0"]


def test_the_same_runs_are_known_after_a_move_and_from_another_folder(
    tmp_path: Path, yanex_home: Path
) -> None:
    _yanex("import", "--from", "tensorboard", str(LOGS))
    moved = tmp_path / "elsewhere" / "logs"
    shutil.copytree(LOGS, moved)
    again = _yanex("import", "--from", "tensorboard", str(moved))
    assert "added 0 experiments" in again and "skipped 3 experiments: already here, identical" in again
    # From the parent folder their paths, and so their names, differ: kept as this store has them.
    parent = _yanex("import", "--from", "tensorboard", str(moved.parent))
    assert "added 0 experiments" in parent
    assert parent.count(": name differ; kept this store's") == 3
    assert sorted(row["name"] for row in json.loads(_yanex("list", "--format", "json"))) == list(RUNS)
    assert _count(yanex_home, "metrics") == 1200


def _session_end(status: int) -> summary_pb2.Summary:
    """The HParams plugin's session end info, as TensorFlow's ``session_end_pb`` writes it."""
    data = plugin_data_pb2.HParamsPluginData(session_end_info=plugin_data_pb2.SessionEndInfo(status=status))
    value = summary_pb2.Summary.Value(
        tag=metadata.SESSION_END_INFO_TAG, metadata=metadata.create_summary_metadata(data)
    )
    return summary_pb2.Summary(value=[value])


def _log(folder: Path, steps: range, extra: summary_pb2.Summary | None = None) -> None:
    """A writer's session: a new event file in ``folder`` with a loss per step, logged now."""
    writer = EventFileWriter(str(folder))
    for step in steps:
        summary = summary_pb2.Summary(
            value=[summary_pb2.Summary.Value(tag="loss", simple_value=1 / (step + 1))]
        )
        writer.add_event(event_pb2.Event(step=step, summary=summary))
    if extra is not None:
        writer.add_event(event_pb2.Event(step=steps[-1], summary=extra))
    writer.close()


def test_a_run_imported_while_it_ran_takes_only_its_later_points_then_its_end(
    tmp_path: Path, yanex_home: Path
) -> None:
    run = tmp_path / "logs" / "live"
    start = hparams_pb({"lr": 0.5, "layers": 3, "name": "wide"})
    _log(run, range(50), start)
    _yanex("import", "--from", "tensorboard", str(run.parent))
    (first,) = _experiments().values()
    assert first["status"] == "running" and first["ended_at"] is None  # its newest event is recent
    assert first["params"] == {"layers": 3, "lr": 0.5, "name": "wide"}

    _log(run, range(50, 80))  # the writer restarted: a second event file
    out = _yanex("import", "--from", "tensorboard", str(run.parent))
    assert "added 0 experiments, 30 points" in out and "updated" in out
    assert _points(str(first["id"])) == _as_tensorboard_reads(run)
    assert len(_as_tensorboard_reads(run)) == 80

    _log(run, range(80, 81), _session_end(api_pb2.STATUS_FAILURE))
    out = _yanex("import", "--from", "tensorboard", str(run.parent))
    assert "added 0 experiments, 1 point" in out
    (last,) = _experiments().values()
    assert last["id"] == first["id"] and last["status"] == "failed" and last["ended_at"] is not None
    assert last["error_message"] == "its HParams session ended with status FAILURE"
    assert _count(yanex_home, "metrics") == 81


def test_a_folder_with_event_files_is_told_apart_from_other_stores(tmp_path: Path, yanex_home: Path) -> None:
    from yanex.importers.tensorboard import detect

    assert detect(LOGS) and detect(LOGS / "lr0.1")
    empty = tmp_path / "empty"
    (empty / "a").mkdir(parents=True)
    assert not detect(empty)
    # MLflow keeps a TensorFlow run's event files among its artifacts: that is an MLflow store.
    mlruns = tmp_path / "mlruns"
    shutil.copytree(LOGS / "lr0.1" / "seed1", mlruns / "0" / "abc" / "artifacts" / "tb")
    (mlruns / "0" / "meta.yaml").write_text("name: Default\n")
    assert not detect(mlruns)

    unknown = runner.invoke(app, ["import", str(empty)])
    assert unknown.exit_code != 0 and "cannot tell what" in unknown.output
    told = runner.invoke(app, ["import", "--from", "tensorboard", str(empty)])
    assert told.exit_code == 2
    assert "Error: no TensorBoard event files (events.out.tfevents.*) below" in told.output
    assert not (yanex_home / "yanex.db").exists() or _count(yanex_home, "experiments") == 0


def test_without_tensorboard_the_import_is_one_error_naming_the_extra(yanex_home: Path) -> None:
    code = "import sys; sys.modules['tensorboard'] = None; from yanex.cli.app import main; main()"
    done = subprocess.run(
        [sys.executable, "-c", code, "import", str(LOGS)],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "Error: reading TensorBoard logs needs tensorboard, which is not installed",
        "Hint: install the extra from your yanex checkout, in its folder: pip install -e '.[tensorboard]'",
    ]


def test_the_real_command_imports_tensorboard_logs(yanex_home: Path) -> None:
    done = yanex_cli("import", "--from", "tensorboard", str(LOGS))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"Imported from TensorBoard logs {LOGS}:",
        "  added 3 experiments, 1,200 points, 0 artifacts, 0 blobs (0 B)",
    ]
    listed = yanex_cli("list", "--format", "json")
    assert sorted(row["name"] for row in json.loads(listed.stdout)) == list(RUNS)


def test_a_file_that_holds_no_readable_record_stops_the_import(tmp_path: Path, yanex_home: Path) -> None:
    logs = tmp_path / "logs"
    shutil.copytree(LOGS / "lr0.1" / "seed1", logs / "good")
    damaged = logs / "bad" / "events.out.tfevents.1796644081.vm"
    damaged.parent.mkdir()
    damaged.write_bytes(b"not a TFRecord, though named like one" * 10)
    done = runner.invoke(app, ["import", str(logs)])
    assert done.exit_code == 2
    assert done.output.splitlines() == [
        f"Error: {damaged} holds no record TensorBoard can read: it is damaged, or no event file; "
        "nothing was imported",
        "Hint: move it out of the folder, then import again",
    ]
    assert not (yanex_home / "yanex.db").exists() or _count(yanex_home, "experiments") == 0


def test_the_python_api_imports_tensorboard_logs(yanex_home: Path) -> None:
    import yanex

    done = yanex.import_(LOGS, kind="tensorboard")
    assert [d.verdict.value for d in done.decisions] == ["new"] * 3 and done.points == 1200
    assert [d.verdict.value for d in yanex.import_(LOGS).decisions] == ["same"] * 3
