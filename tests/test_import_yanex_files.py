"""Import of the file-based yanex 0.x's store (yanex.importers.yanex_files), read from a fixture the
real yanex 0.6.1 made (tests/data/yanex0/make_store.py), and what this yanex says and never
touches in a home that holds that store's folders."""

from __future__ import annotations

import hashlib
import json
import math
import re
import shutil
import sqlite3
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import yaml
from typer.testing import CliRunner

from tests.conftest import REPO_ROOT, yanex_cli
from yanex.cli.app import app
from yanex.db.engine import Database
from yanex.importers import yanex_files
from yanex.store.history import points
from yanex.store.reading import reading

runner = CliRunner()
FIXTURE = REPO_ROOT / "tests" / "data" / "yanex0" / "store"
OLD_IDS = ["203a6b1c", "a41f75fc", "a5b26910", "d0fc5377"]  # d0fc5377 archived


def _folders() -> dict[str, Path]:
    experiments = FIXTURE / "experiments"
    return {
        folder.name: folder
        for folder in [*experiments.iterdir(), *(experiments / "archived").iterdir()]
        if (folder / "metadata.json").is_file()
    }


def _their_home(yanex_home: Path) -> Path:
    """The fixture copied into this test's YANEX_HOME, where their yanex kept it (~/.yanex)."""
    shutil.copytree(FIXTURE / "experiments", yanex_home / "experiments")
    return yanex_home


def _snapshot(folder: Path) -> dict[str, str]:
    return {
        path.relative_to(folder).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def _names(snapshot: dict[str, str]) -> set[str]:
    return {name.split("/")[0] for name in snapshot}


def _utc(raw: str) -> str:
    return datetime.fromisoformat(raw).replace(tzinfo=UTC).isoformat(sep=" ", timespec="microseconds")[:26]


def _as_stored(value: object) -> str:
    """A value as yanex stores it: NaN (which Python's json reads in their files) as "NaN"."""
    return json.dumps("NaN" if isinstance(value, float) and math.isnan(value) else value)


def _full_id(old: str) -> str:
    got = runner.invoke(app, ["get", "id", old])
    assert got.exit_code == 0, got.output
    return got.stdout.strip()


def test_the_fixture_was_made_by_the_file_based_yanex() -> None:
    assert sorted(_folders()) == OLD_IDS
    assert "0.6.1" in (FIXTURE.parent / "make_store.py").read_text()


def test_every_field_and_point_round_trips_and_a_reimport_adds_nothing(
    tmp_path: Path, yanex_home: Path
) -> None:
    first = runner.invoke(app, ["import", str(FIXTURE)])
    assert first.exit_code == 0, first.output
    assert "file-based yanex store" in first.output and "added 4 experiments" in first.output

    for old, folder in _folders().items():
        metadata = json.loads((folder / "metadata.json").read_text())
        full = _full_id(old)
        assert full.startswith(old) and len(full) == 32  # the same 8 digits lead the new id
        shown = runner.invoke(app, ["show", old, "--format", "json"])
        data = json.loads(shown.stdout)
        assert data["name"] == metadata["name"] and data["description"] == metadata["description"]
        assert data["status"] == metadata["status"] and data["tags"] == sorted(metadata["tags"])
        assert data["params"] == yaml.safe_load((folder / "params.yaml").read_text())
        assert data["script_path"] == metadata["script_path"]
        assert data["archived"] is (folder.parent.name == "archived")
        assert data["imported_from"] == f"yanex-files:{old}"
        assert data["git"]["commit"] is None  # nothing invented
        assert (data["created_at"], data["started_at"], data["ended_at"]) == tuple(
            datetime.fromisoformat(metadata[key]).replace(tzinfo=UTC).isoformat()
            for key in ("created_at", "started_at", "completed_at")
        )
        # Every value of every step, with its step and time, as its metrics.json has it.
        expected = sorted(
            (
                key,
                entry["step"],
                _as_stored(value),
                datetime.fromisoformat(entry["timestamp"]).replace(tzinfo=UTC),
            )
            for entry in json.loads((folder / "metrics.json").read_text())
            for key, value in entry.items()
            if key not in ("step", "timestamp", "last_updated")
        )
        with reading(Database(), settle=False) as conn:
            got = sorted((p.key, p.step, json.dumps(p.value), p.logged_at) for p in points(conn, [full]))
        assert got == expected
        ours = yanex_home / "experiments" / full
        for artifact in (folder / "artifacts").iterdir():
            if artifact.name in ("stdout.txt", "stderr.txt"):
                assert (ours / artifact.name.replace(".txt", ".log")).read_bytes() == artifact.read_bytes()
                continue
            out = tmp_path / f"{old}-{artifact.name}"
            fetched = runner.invoke(app, ["artifacts", "get", old, artifact.name, "-o", str(out)])
            assert fetched.exit_code == 0, fetched.output
            assert out.read_bytes() == artifact.read_bytes()
        assert (ours / "yanex-files" / "metadata.json").read_bytes() == (
            folder / "metadata.json"
        ).read_bytes()

    failed = json.loads(runner.invoke(app, ["show", "d0fc5377", "--format", "json"]).stdout)
    assert failed["error_message"] == "ValueError: loss diverged"
    evaluate = runner.invoke(app, ["show", "203a6b1c"])
    assert re.search(r"depends on\s+a41f75fc\s+train-small", evaluate.output), evaluate.output

    with closing(sqlite3.connect(yanex_home / "yanex.db")) as conn:
        before = conn.execute("SELECT COUNT(*), (SELECT COUNT(*) FROM metrics) FROM experiments").fetchone()
    again = runner.invoke(app, ["import", str(FIXTURE / "experiments")])
    assert again.exit_code == 0, again.output
    assert "added 0 experiments, 0 points" in again.output and "skipped 4 experiments" in again.output
    with closing(sqlite3.connect(yanex_home / "yanex.db")) as conn:
        assert (
            conn.execute("SELECT COUNT(*), (SELECT COUNT(*) FROM metrics) FROM experiments").fetchone()
            == before
        )
    assert before == (4, 17)


def test_imported_experiments_work_with_the_query_commands(tmp_path: Path) -> None:
    assert runner.invoke(app, ["import", str(FIXTURE)]).exit_code == 0
    listed = runner.invoke(app, ["list"])
    assert listed.exit_code == 0 and "train-small" in listed.output and "diverges" not in listed.output
    compared = runner.invoke(app, ["compare", "a41f75fc", "a5b26910"])
    assert compared.exit_code == 0, compared.output
    plotted = runner.invoke(app, ["plot", "loss", "a41f75fc", "-o", str(tmp_path / "loss.png")])
    assert plotted.exit_code == 0, plotted.output
    assert (tmp_path / "loss.png").stat().st_size > 0
    history = runner.invoke(app, ["get", "metrics.loss", "a41f75fc", "--history", "--format", "json"])
    assert [p["step"] for p in json.loads(history.stdout)] == [0, 1, 2, 3, 4]


def test_what_is_their_store_is_told_from_its_folders(tmp_path: Path, yanex_home: Path) -> None:
    home = _their_home(tmp_path / "their-home")
    assert yanex_files.detect(home) and yanex_files.detect(home / "experiments")
    assert not yanex_files.detect(home / "experiments" / "a41f75fc")
    # Our own store is never taken for theirs, nor theirs for ours once our database is beside it.
    (home / "yanex.db").write_bytes(b"")
    assert not yanex_files.detect(home) and yanex_files.detect(home / "experiments")
    empty = tmp_path / "empty"
    (empty / "experiments" / "0123abcd").mkdir(parents=True)  # no metadata.json
    assert not yanex_files.detect(empty)
    refused = runner.invoke(app, ["import", str(empty), "--from", "yanex-files"])
    assert refused.exit_code != 0
    assert "holds no experiments of the file-based yanex" in refused.output and "Hint:" in refused.output


def test_a_damaged_experiment_is_named_and_nothing_is_imported(tmp_path: Path, yanex_home: Path) -> None:
    home = _their_home(tmp_path / "their-home")
    (home / "experiments" / "a5b26910" / "metrics.json").write_text("[{")
    result = runner.invoke(app, ["import", str(home)])
    assert result.exit_code != 0
    assert "a5b26910/metrics.json" in result.output and "nothing was imported" in result.output
    assert "Hint:" in result.output and "Traceback" not in result.output
    assert not (yanex_home / "yanex.db").exists()


def test_a_home_with_their_folders_and_no_database_says_how_to_import_them(yanex_home: Path) -> None:
    _their_home(yanex_home)
    listed = runner.invoke(app, ["list"])
    assert listed.exit_code != 0
    experiments = yanex_home / "experiments"
    assert f"{experiments} holds 4 experiments of the file-based yanex 0.x" in listed.output
    assert f"yanex import {experiments}" in listed.output and "Traceback" not in listed.output


def test_the_first_run_in_their_home_says_it_once_and_never_touches_their_folders(
    tmp_path: Path, yanex_home: Path
) -> None:
    _their_home(yanex_home)
    before = _snapshot(yanex_home / "experiments")
    script = tmp_path / "train.py"
    script.write_text("import yanex\nyanex.log_metrics({'loss': 1.0})\nprint('ran')\n")
    first = yanex_cli("run", str(script), "--name", "ours")
    assert first.returncode == 0, first.stderr
    notices = [line for line in first.stderr.splitlines() if "file-based yanex" in line]
    assert notices == [
        f"yanex: {yanex_home / 'experiments'} holds 4 experiments of the file-based yanex 0.x; "
        f"import them with `yanex import {yanex_home / 'experiments'}`"
    ]
    second = yanex_cli("run", str(script))
    assert second.returncode == 0 and "file-based yanex" not in second.stderr

    imported = yanex_cli("import", str(yanex_home / "experiments"))
    assert imported.returncode == 0, imported.stderr
    assert "added 4 experiments" in imported.stdout and "file-based yanex 0.x" not in imported.stderr

    after = _snapshot(yanex_home / "experiments")
    theirs = _names(before)
    assert {name: sha for name, sha in after.items() if name.split("/")[0] in theirs} == before
    ours = _names(after) - theirs
    assert len(ours) == 6 and all(re.fullmatch(r"[0-9a-f]{32}", name) for name in ours)
    listed = yanex_cli("list", "--all")
    assert listed.returncode == 0 and all(old in listed.stdout for old in OLD_IDS)
