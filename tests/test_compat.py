"""The file-based yanex's script-side names, through a real script under `yanex run` and standalone
(where each answers as the file-based yanex 0.6 does standalone)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import yanex_cli
from yanex.db.engine import Database
from yanex.specs import Status
from yanex.store.filters import ExperimentFilter
from yanex.store.history import points
from yanex.store.reading import reading
from yanex.store.records import find_records

SCRIPT = """
import json, sys
from pathlib import Path
import yanex
from yanex.errors import UsageError

out = {"has_context": yanex.has_context()}
folder = yanex.get_experiment_dir()
out["dir"] = None if folder is None else str(folder)
artifacts = yanex.get_artifacts_dir()
out["artifacts_dir"] = None if artifacts is None else str(artifacts)
if artifacts is not None:
    (artifacts / "direct").mkdir()
    (artifacts / "direct" / "notes.txt").write_text("written directly")
out["cli_args"] = yanex.get_cli_args()
train = yanex.get_dependency("train")
out["dependency"] = None if train is None else [
    train.id, train.load_artifact("model.json"), train.get_param("lr"), train.load_artifact("nope.json")
]
out["dependencies"] = sorted(yanex.get_dependencies())
Path("src.txt").write_text("copied")
yanex.copy_artifact("src.txt", "copied.txt")
out["exists"] = [yanex.artifact_exists("copied.txt"), yanex.artifact_exists("nope.txt")]
out["metadata_id"] = yanex.get_metadata().get("id")
out["status"] = yanex.get_status()
yanex.log_results({"acc": 0.5})
print(json.dumps(out), flush=True)
how = sys.argv[1]
try:
    if how == "fail":
        yanex.fail("gave up at step 3")
    elif how == "cancel":
        yanex.cancel("not needed")
    elif how == "completed":
        yanex.completed()
except UsageError as error:
    print("refused:", error)
    sys.exit(0)
print("after", how)
"""


def _records() -> dict[str | None, object]:
    with reading(Database()) as conn:
        return {record.name: record for record in find_records(conn, ExperimentFilter())}


@pytest.fixture
def script(tmp_path: Path) -> Path:
    path = tmp_path / "legacy.py"
    path.write_text(SCRIPT)
    (tmp_path / "train.py").write_text("import yanex\nyanex.save_artifact({'w': 3}, 'model.json')\n")
    return path


def _out(stdout: str) -> dict[str, object]:
    [line] = [line for line in stdout.splitlines() if line.startswith("{")]
    loaded: dict[str, object] = json.loads(line)
    return loaded


@pytest.mark.parametrize(
    ("how", "status", "message", "code"),
    [
        ("fail", Status.FAILED, "gave up at step 3", 1),
        ("cancel", Status.CANCELLED, "not needed", 1),
        ("completed", Status.COMPLETED, None, 0),
    ],
)
def test_the_names_under_yanex_run(
    script: Path, tmp_path: Path, how: str, status: Status, message: str | None, code: int
) -> None:
    trained = yanex_cli("run", "train.py", "--name", "train", "-p", "lr=0.1", cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    result = yanex_cli(
        "run",
        str(script),
        "--name",
        "legacy",
        "--tag",
        "old",
        "--depends-on",
        "train",
        "--",
        how,
        cwd=tmp_path,
    )
    assert result.returncode == code, result.stderr
    assert f"after {how}" not in result.stdout
    out = _out(result.stdout)
    record = _records()["legacy"]
    train_id = _records()["train"].id  # type: ignore[attr-defined]
    assert out["has_context"] is True and out["status"] == "running"
    assert out["dir"] == str(Path(os.environ["YANEX_HOME"]) / "experiments" / record.id)  # type: ignore[attr-defined]
    assert out["artifacts_dir"] == str(Path(str(out["dir"])) / "artifacts")
    assert out["cli_args"] == {
        "script": str(script.resolve()),
        "script_args": [how],
        "name": "legacy",
        "tag": ["old"],
        "description": None,
    }
    assert out["dependency"] == [train_id, {"w": 3}, 0.1, None]
    assert out["dependencies"] == ["train"]
    assert out["exists"] == [True, False] and out["metadata_id"] == record.id  # type: ignore[attr-defined]
    assert (record.status, record.error_message) == (status, message)  # type: ignore[attr-defined]
    listed = yanex_cli("artifacts", record.id, "--format", "json")  # type: ignore[attr-defined]
    names = sorted(item["name"] for item in json.loads(listed.stdout))
    assert names == ["copied.txt", "direct/notes.txt"]
    with reading(Database()) as conn:
        assert [p.value for p in points(conn, [record.id], ["acc"])] == [0.5]  # type: ignore[attr-defined]


def test_the_names_standalone(script: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(script), "fail"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=dict(os.environ),
    )
    assert result.returncode == 0, result.stderr
    assert _out(result.stdout) == {
        "has_context": False,
        "dir": None,
        "artifacts_dir": None,
        "cli_args": {},
        "dependency": None,
        "dependencies": [],
        "exists": [True, False],
        "metadata_id": None,
        "status": None,
    }
    assert (tmp_path / "artifacts" / "copied.txt").read_text() == "copied"
    assert "refused: yanex.fail() needs a tracked experiment" in result.stdout
    assert not Database().exists()


def test_create_experiment_and_fail_inside_its_with_block(tmp_path: Path) -> None:
    code = """
import yanex
with yanex.create_experiment("run.py", name="ctx", config={"a": 1}, tags=["x"]) as exp:
    yanex.log_results({"v": 1.0})
    yanex.fail("stopped early")
    print("not reached")
print("left", exp.experiment_id == yanex.find(name="ctx")[0].id)
"""
    (tmp_path / "run.py").write_text("")
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "not reached" not in result.stdout and "left True" in result.stdout
    record = _records()["ctx"]
    assert (record.status, record.error_message, record.config) == (  # type: ignore[attr-defined]
        Status.FAILED,
        "stopped early",
        {"a": 1},
    )
    assert record.script_path == str(tmp_path / "run.py")  # type: ignore[attr-defined]


def test_dir_shows_the_public_api_only() -> None:
    code = "import yanex; print(' '.join(dir(yanex)))"
    names = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.split()
    for internal in ("TYPE_CHECKING", "annotations", "importlib", "config", "errors", "run_api"):
        assert internal not in names
    for public in ("start", "log_metrics", "has_context", "get_artifacts_dir", "find", "executors"):
        assert public in names
    import yanex

    assert all(hasattr(yanex, name) for name in yanex.__all__)
